"""Rollout collection: episodes of a (pixel) env under a policy, in worker processes.

Episode ``i`` is reset with seed ``seed + i`` and its random actions come from
``action_space.seed(seed + i)``, so a collection is the same whatever the number of workers,
and :func:`rollout_episode` in the current process reproduces any episode of it.

Policies: ``"random"`` (uniform from the action space), ``"sticky"`` or ``"sticky:<mean hold>"``
(a uniform random action held for a geometric number of steps, mean 10 by default: coloured
exploration noise that pumps energy into oscillators and reaches states i.i.d. actions rarely
visit), ``"zero"`` (zero/first action) or a path to a Stable-Baselines3 ``.zip`` (any
algorithm: the policy network is loaded from the archive and run deterministically on the
worker's CPU with one thread).

Workers are processes of a ``spawn`` process pool (no fork: safe with OpenGL contexts and PyTorch
threads); each builds its env once and runs whole episodes, which are streamed back in order and
written by the parent.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rpgssm_env.data.base import DataSpec

__all__ = [
    "Policy",
    "collect_episodes",
    "dataset_spec",
    "iter_episodes",
    "load_policy",
    "rollout_episode",
    "write_dataset",
]

Policy = Callable[[np.ndarray], Any]

POLICY_NAMES = ("random", "sticky", "sticky:<mean hold>", "zero")


class StickyRandomPolicy:
    """Uniform random actions, each held for a geometric number of steps (mean ``mean_hold``).

    Hold lengths come from the action space's generator, so ``action_space.seed(s)`` (done by
    :func:`rollout_episode`) makes an episode reproducible; :meth:`reset` drops the held action.
    """

    def __init__(self, action_space: gym.Space, mean_hold: float = 10.0) -> None:
        if mean_hold < 1:
            raise ValueError(f"mean hold must be >= 1 step, got {mean_hold}")
        self.action_space = action_space
        self.mean_hold = float(mean_hold)
        self._action: Any = None
        self._left = 0

    def reset(self) -> None:
        self._action, self._left = None, 0

    def __call__(self, obs: np.ndarray) -> Any:
        if self._left <= 0:
            self._action = self.action_space.sample()
            self._left = int(self.action_space.np_random.geometric(1.0 / self.mean_hold))
        self._left -= 1
        return self._action


def _sticky_hold(policy: str) -> float | None:
    """The mean hold of a ``"sticky"``/``"sticky:<mean>"`` name, else ``None``."""
    if policy == "sticky":
        return 10.0
    if policy.startswith("sticky:"):
        try:
            return float(policy.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"bad policy {policy!r}: use 'sticky:<mean hold in steps>'") from None
    return None


def load_policy(policy: str | os.PathLike | Callable, env: gym.Env) -> Policy:
    """A function ``obs -> action`` for ``env``.

    Args:
        policy: ``"random"``, ``"sticky"``/``"sticky:<mean hold>"`` (see
            :class:`StickyRandomPolicy`), ``"zero"``, a path to an SB3 ``.zip``, or a callable.

    Raises:
        FileNotFoundError: the ``.zip`` does not exist. ValueError: unknown policy name, or the
        SB3 model's observation space does not match the env's.
    """
    if callable(policy):
        return policy
    if policy == "random":
        return lambda obs: env.action_space.sample()
    hold = _sticky_hold(str(policy))
    if hold is not None:
        return StickyRandomPolicy(env.action_space, hold)
    if policy == "zero":
        if isinstance(env.action_space, gym.spaces.Discrete):
            return lambda obs: env.action_space.start
        return lambda obs: np.zeros(env.action_space.shape, env.action_space.dtype)
    path = Path(policy)
    if path.suffix != ".zip":
        raise ValueError(
            f"unknown policy {policy!r}: use one of {', '.join(POLICY_NAMES)} or an SB3 .zip path"
        )
    if not path.is_file():
        raise FileNotFoundError(f"SB3 policy archive not found: {path}")
    import torch
    from stable_baselines3.common.save_util import load_from_zip_file

    torch.set_num_threads(1)
    data, params, _ = load_from_zip_file(path, device="cpu")
    want, have = tuple(data["observation_space"].shape), tuple(env.observation_space.shape)
    channel_first = len(have) == 3 and want == (have[2], have[0], have[1])
    if want != have and not channel_first:  # SB3 stores image spaces transposed to (C, H, W)
        raise ValueError(
            f"policy {path} expects observations {data['observation_space']}, the env gives "
            f"{env.observation_space}"
        )
    net = data["policy_class"](
        data["observation_space"],
        data["action_space"],
        lambda _: 0.0,
        **data.get("policy_kwargs", {}),
    )
    net.load_state_dict(params["policy"])
    net.set_training_mode(False)
    if channel_first:
        return lambda obs: net.predict(np.transpose(obs, (2, 0, 1)), deterministic=True)[0]
    return lambda obs: net.predict(obs, deterministic=True)[0]


def rollout_episode(
    env: gym.Env, policy: Policy, seed: int, max_steps: int | None = None
) -> dict[str, np.ndarray]:
    """Run one episode from ``env.reset(seed=seed)`` until it ends (or ``max_steps`` steps).

    Returns:
        ``obs`` (T, H, W, C) uint8; ``actions`` (T-1, A) float32 or (T-1,) int64; ``rewards``
        (T-1,) float32; ``terminations``, ``truncations`` (T-1,) bool; ``states`` (T, S) float32
        (from ``info["state"]``, when present).
    """
    env.action_space.seed(seed)
    if hasattr(policy, "reset"):
        policy.reset()
    obs, info = env.reset(seed=seed)
    frames, states = [obs], [info.get("state")]
    actions, rewards, terms, truncs = [], [], [], []
    while max_steps is None or len(actions) < max_steps:
        action = policy(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        frames.append(obs)
        states.append(info.get("state"))
        actions.append(action)
        rewards.append(reward)
        terms.append(terminated)
        truncs.append(truncated)
        if terminated or truncated:
            break
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    act = np.asarray(actions, dtype=np.int64 if discrete else np.float32)
    if not discrete:
        act = act.reshape(len(actions), -1)
    out = {
        "obs": np.stack(frames),
        "actions": act,
        "rewards": np.asarray(rewards, dtype=np.float32),
        "terminations": np.asarray(terms, dtype=bool),
        "truncations": np.asarray(truncs, dtype=bool),
    }
    if all(s is not None for s in states):
        out["states"] = np.stack(states).astype(np.float32)
    return out


def dataset_spec(env: gym.Env, metadata: dict[str, Any] | None = None) -> DataSpec:
    """The :class:`DataSpec` of rollouts of ``env``."""
    from rpgssm_env.envs.states import state_names_for

    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        action_shape, action_dtype, num = (), np.dtype(np.int64), int(space.n)
    else:
        action_shape, action_dtype, num = (int(np.prod(space.shape)),), np.dtype(np.float32), None
    names = state_names_for(env)
    _, info = env.reset(seed=0)
    state = info.get("state")
    return DataSpec(
        obs_shape=tuple(env.observation_space.shape),
        obs_dtype=np.dtype(env.observation_space.dtype),
        action_shape=action_shape,
        action_dtype=action_dtype,
        num_actions=num,
        state_dim=None if state is None else len(state),
        state_names=names,
        metadata=metadata or {},
    )


# -- worker processes ----------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(env_id: str, env_kwargs: dict[str, Any], policy: Any, max_steps: int | None):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    # SDL would otherwise catch SIGTERM, and Pool.terminate() could never stop the worker
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    import rpgssm_env  # noqa: F401  (registers the ids)

    env = gym.make(env_id, **env_kwargs)
    _WORKER.update(env=env, policy=load_policy(policy, env), max_steps=max_steps)


def _worker_episode(seed: int) -> tuple[int, dict[str, np.ndarray]]:
    return seed, rollout_episode(_WORKER["env"], _WORKER["policy"], seed, _WORKER["max_steps"])


def iter_episodes(
    env_id: str,
    n_episodes: int,
    *,
    policy: Any = "random",
    seed: int = 0,
    workers: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    max_steps: int | None = None,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(seed_i, episode)`` for ``i = 0..n_episodes-1`` in order (see
    :func:`rollout_episode` for the arrays), using ``workers`` processes (``<= 1``: in process).
    """
    env_kwargs = dict(env_kwargs or {})
    seeds = [seed + i for i in range(n_episodes)]
    if workers <= 1:
        _init_worker(env_id, env_kwargs, policy, max_steps)
        try:
            for s in seeds:
                yield _worker_episode(s)
        finally:
            _WORKER.pop("env").close()
        return
    # an executor, not a multiprocessing Pool: a Pool silently respawns workers whose start-up
    # fails (a bad env id, a script without a main guard) and then waits forever
    executor = ProcessPoolExecutor(
        max_workers=min(workers, n_episodes),
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(env_id, env_kwargs, policy, max_steps),
    )
    try:
        yield from executor.map(_worker_episode, seeds)
    except BrokenProcessPool as exc:
        raise RuntimeError(
            f"a rollout worker process for {env_id!r} died (see its traceback above). Common "
            "causes: the env cannot be made with these kwargs, or the calling script lacks an "
            "`if __name__ == '__main__':` guard (workers are spawned and re-import it)."
        ) from exc
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def write_dataset(
    out: str | os.PathLike,
    env_id: str,
    n_episodes: int,
    *,
    policy: Any = "random",
    seed: int = 0,
    workers: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    max_steps: int | None = None,
    format: str = "hdf5",
    progress: bool = False,
) -> Path:
    """Collect ``n_episodes`` of ``env_id`` and store them atomically.

    Args:
        out: for ``format="hdf5"``: a ``.h5``/``.hdf5`` file, or a folder (then
            ``out/episodes.h5``); for ``format="minari"``: the Minari dataset folder.
        env_id: a registered id (e.g. ``"rpgssm/Pendulum-v0"``).
        policy: ``"random"``, ``"sticky"``/``"sticky:<mean hold>"``, ``"zero"`` or an SB3
            ``.zip`` path.
        seed: episode ``i`` uses seed ``seed + i``.
        workers: worker processes.
        env_kwargs: kwargs of ``gym.make`` (e.g. ``{"distractor": "video", "size": 64}``).
        max_steps: cap on steps per episode (``None``: the env's own time limit).
        format: ``"hdf5"`` (chunked, gzip) or ``"minari"`` (Minari 0.5 HDF5 storage, lossless).
        progress: show a tqdm progress bar.

    Returns:
        The path written (the ``.h5`` file or the Minari folder).
    """
    import rpgssm_env

    env_kwargs = dict(env_kwargs or {})
    if not isinstance(policy, str | os.PathLike):
        raise TypeError(f"policy must be one of {', '.join(POLICY_NAMES)} or a path to an SB3 .zip")
    policy = str(policy)
    probe = gym.make(env_id, **env_kwargs)
    # a bad name or a missing archive fails here, not in every worker (archives are loaded
    # there: loading one here would also set this process's torch threads)
    if Path(policy).suffix == ".zip":
        if not Path(policy).is_file():
            raise FileNotFoundError(f"SB3 policy archive not found: {policy}")
    else:
        load_policy(policy, probe)
    provenance = {
        "env_id": env_id,
        "env_kwargs": {
            k: v if isinstance(v, int | float | str | bool | None) else repr(v)
            for k, v in env_kwargs.items()
        },
        "policy": policy,
        "seed": seed,
        "n_episodes": n_episodes,
        "max_steps": max_steps,
        "rpgssm_env": rpgssm_env.__version__,
        "gymnasium": gym.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    spec = dataset_spec(probe, metadata=provenance)
    episodes = iter_episodes(
        env_id,
        n_episodes,
        policy=policy,
        seed=seed,
        workers=workers,
        env_kwargs=env_kwargs,
        max_steps=max_steps,
    )
    if progress:
        from tqdm.auto import tqdm

        episodes = tqdm(episodes, total=n_episodes, desc=f"collect {env_id}", unit="ep")
    try:
        if format == "hdf5":
            from rpgssm_env.data.hdf5 import HDF5EpisodeWriter

            path = Path(out)
            if path.suffix.lower() not in (".h5", ".hdf5"):
                path = path / "episodes.h5"
            with HDF5EpisodeWriter(path, spec, provenance=provenance) as writer:
                for s, ep in episodes:
                    writer.add_episode(ep, seed=s)
            return path
        if format == "minari":
            from rpgssm_env.envs.minari_writer import write_minari

            return write_minari(Path(out), probe, episodes, provenance)
        raise ValueError(f"unknown format {format!r}: use 'hdf5' or 'minari'")
    finally:
        probe.close()


def collect_episodes(
    env_id: str,
    n_episodes: int,
    *,
    policy: Any = "random",
    seed: int = 0,
    workers: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    max_steps: int | None = None,
) -> list[dict[str, np.ndarray]]:
    """All episodes in memory (small collections; see :func:`write_dataset` for big ones)."""
    return [
        ep
        for _, ep in iter_episodes(
            env_id,
            n_episodes,
            policy=policy,
            seed=seed,
            workers=workers,
            env_kwargs=env_kwargs,
            max_steps=max_steps,
        )
    ]


def provenance_json(path: str | os.PathLike) -> dict[str, Any]:
    """Provenance stored in an HDF5 data set written here."""
    import h5py

    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("provenance", "{}"))
