"""The paper's pendulum setting: 24x24 grey frames, a new natural photograph behind the pendulum
every frame; and the data set of N = 500 sequences of T = 100 frames.

``gym.make("rpgssm/PendulumPaper-v0")`` is ``Pendulum-v1`` at 24x24 grey with
``distractor="images", distractor_mode="step"`` and a 100-step limit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rpgssm_env.envs.factories import make_pixel_env

__all__ = ["generate_paper_dataset", "make_paper_env"]


def make_paper_env(
    size: int = 24,
    grayscale: bool = True,
    distractor: Any = "images",
    distractor_mode: str | None = "step",
    **kwargs: Any,
) -> gym.Env:
    """The paper's pendulum env (defaults overridable; see
    :func:`rpgssm_env.envs.factories.make_pixel_env`)."""
    return make_pixel_env(
        "Pendulum-v1",
        size=size,
        grayscale=grayscale,
        distractor=distractor,
        distractor_mode=distractor_mode,
        **kwargs,
    )


def generate_paper_dataset(
    path: str | os.PathLike,
    n_sequences: int = 500,
    seq_len: int = 100,
    *,
    seed: int = 0,
    policy: str = "zero",
    workers: int = 1,
    progress: bool = False,
    **env_kwargs: Any,
) -> Path:
    """Write the paper's data set as ``.npz``, atomically.

    Sequence ``i`` starts from ``reset(seed=seed + i)`` (theta ~ U(-pi, pi), omega ~ U(-1, 1))
    and runs ``seq_len - 1`` steps.

    Args:
        path: the ``.npz`` file to write.
        n_sequences: ``N`` sequences.
        seq_len: ``T`` frames per sequence.
        seed: base seed.
        policy: ``"zero"`` (free, unactuated swing: the paper's passive pendulum) or
            ``"random"`` (uniform torques, then ``actions`` are stored).
        workers: worker processes.
        **env_kwargs: overrides of :func:`make_paper_env` (``size``, ``distractor``, ...).

    Returns:
        ``path``. The file holds ``obs`` (N, T, 24, 24, 1) uint8, ``states`` (N, T, 2) float32 =
        ``(theta, omega)`` in rad and rad/s, and ``actions`` (N, T-1, 1) float32 when
        ``policy="random"``.
    """
    from rpgssm_env.envs.collect import iter_episodes

    episodes = iter_episodes(
        "rpgssm/PendulumPaper-v0",
        n_sequences,
        policy=policy,
        seed=seed,
        workers=workers,
        env_kwargs={"max_episode_steps": seq_len - 1, **env_kwargs},
        max_steps=seq_len - 1,
    )
    if progress:
        from tqdm.auto import tqdm

        episodes = tqdm(episodes, total=n_sequences, desc="paper pendulum", unit="seq")
    obs, states, actions = [], [], []
    for _, ep in episodes:
        obs.append(ep["obs"])
        states.append(ep["states"])
        actions.append(ep["actions"])
    arrays = {"obs": np.stack(obs), "states": np.stack(states)}
    if policy != "zero":
        arrays["actions"] = np.stack(actions)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
