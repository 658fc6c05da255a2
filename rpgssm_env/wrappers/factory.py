"""One-call constructors of latent-state envs.

* :func:`make_latent_env`: N pixel envs in SB3 worker processes (or in-process), wrapped in
  :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` (the filter runs batched in the main
  process; the workers never load the model).
* ``gymnasium.make("rpgssm/Latent-v0", env_id=..., checkpoint=..., **env_kwargs)``: one env in
  :class:`~rpgssm_env.wrappers.latent.LatentObservation` (entry point
  :func:`~rpgssm_env.wrappers.latent.make_latent_gym_env`).

>>> venv = make_latent_env("rpgssm/Pendulum-v0", "model.pt", n_envs=8,
...                        distractor="video", vec="subproc")  # doctest: +SKIP
>>> venv.observation_space  # doctest: +SKIP
Box(-inf, inf, (8,), float32)
"""

from __future__ import annotations

import functools
import os
from typing import Any

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from rpgssm_env.model.online import load_model
from rpgssm_env.model.rpgssm import RPGSSM
from rpgssm_env.wrappers.latent import check_env_spaces, make_latent_gym_env
from rpgssm_env.wrappers.sb3 import VecLatentObservation

__all__ = ["LATENT_ENV_ID", "make_latent_env", "make_latent_gym_env"]

LATENT_ENV_ID = "rpgssm/Latent-v0"


def _build_env(env_id: str, env_kwargs: dict[str, Any], monitor: bool) -> gym.Env:
    """Runs in the worker: a pixel env (no model). Module-level, so it pickles by reference."""
    import rpgssm_env  # noqa: F401  (registers the rpgssm/... ids in a fresh worker)

    env = gym.make(env_id, **env_kwargs)
    return Monitor(env) if monitor else env


def make_latent_env(
    env_id: str,
    checkpoint: RPGSSM | str | os.PathLike,
    n_envs: int = 8,
    distractor: Any = None,
    vec: str = "subproc",
    device: str = "auto",
    seed: int | None = None,
    features: str = "mean",
    env_kwargs: dict[str, Any] | None = None,
    *,
    monitor: bool = True,
    pixels_in_info: bool = False,
    start_method: str | None = None,
    tune_malloc: bool = True,
) -> VecLatentObservation:
    """N latent-state envs as an SB3 ``VecEnv``.

    Args:
        env_id: a pixel env id (e.g. ``"rpgssm/Pendulum-v0"``) whose frames match the model.
        checkpoint: an :class:`RPGSSM` or a checkpoint path (loaded once, in this process).
        n_envs: N.
        distractor: passed to the env as ``distractor=`` when not ``None``.
        vec: ``"subproc"`` (``SubprocVecEnv``, default start method) or ``"dummy"``
            (``DummyVecEnv``, in-process).
        device: where the filter runs: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ...
        seed: sub-env i is seeded with ``seed + i`` at the first ``reset()`` (SB3 convention).
        features: ``"mean"``, ``"mean+std"`` or ``"mean+cov"``.
        env_kwargs: other keyword arguments of the pixel env (``size``, ``grayscale``, ...).
        monitor: wrap each env in SB3's ``Monitor`` (episode returns in ``info["episode"]``).
        pixels_in_info: frames also in ``infos[i]["pixels"]``.
        start_method: ``SubprocVecEnv`` start method (default: SB3's, forkserver or spawn).
        tune_malloc: see :func:`~rpgssm_env.model.online.tune_malloc` (CPU only, process-wide).

    Returns:
        :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation`.

    Raises:
        ValueError: unknown ``vec``, ``n_envs < 1``, or envs that do not fit the model (the
            workers are closed again before the error is raised).
    """
    if vec not in ("subproc", "dummy"):
        raise ValueError(f"vec must be 'subproc' or 'dummy', got {vec!r}")
    if int(n_envs) < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    kwargs = dict(env_kwargs or {})
    if distractor is not None:
        kwargs["distractor"] = distractor
    # fail fast on a bad checkpoint, before any worker starts; load on the CPU (no CUDA context
    # in this process until the workers exist), the wrapper moves the model to ``device``
    model = load_model(checkpoint, "cpu")
    fns = [functools.partial(_build_env, env_id, kwargs, monitor) for _ in range(int(n_envs))]
    venv: VecEnv = (
        SubprocVecEnv(fns, start_method=start_method) if vec == "subproc" else DummyVecEnv(fns)
    )
    try:
        check_env_spaces(venv.observation_space, venv.action_space, model.config, repr(env_id))
        wrapped = VecLatentObservation(
            venv,
            model,
            features=features,
            device=device,
            pixels_in_info=pixels_in_info,
            tune_malloc=tune_malloc,
        )
    except BaseException:
        venv.close()
        raise
    if seed is not None:
        wrapped.seed(seed)
        wrapped.action_space.seed(seed)
    return wrapped
