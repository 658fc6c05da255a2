"""Vectorised envs for the agents: latent beliefs, stacked pixels, or the true state.

Three observation kinds of one pixel env id (``rpgssm/Pendulum-v0``, ...), same dynamics and
rewards, so that returns compare directly:

* ``"latent"``: the pixel env (with its distractor) in SB3 worker processes, wrapped in
  :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` (RP-GSSM filtered beliefs, computed
  batched in this process). Between the workers and the latent wrapper sits a
  :class:`VecStateTap`, which keeps the true states of the current frames (``info["state"]``,
  also across autoresets) so that an online-EM recorder (:class:`StateRolloutRecorder`) can store
  them beside the frames, for probe R^2.
* ``"pixels"``: the same pixel env, ``frame_stack`` frames stacked on the channel axis
  (``VecFrameStack``) and transposed to channels-first (``VecTransposeImage``) for SB3's
  ``CnnPolicy``: the usual pixel baseline.
* ``"state"``: the upper bound. For the classic-control ids this is the **base Gymnasium env's own
  observation** (``Pendulum-v1``: ``(cos theta, sin theta, omega)``; ``CartPole-v1``: ``(x, x_dot,
  theta, theta_dot)``), built without rendering: the observation the RL Zoo's hyperparameters were
  tuned on, and continuous in the angle (``info["state"]`` holds the wrapped angle itself, which
  jumps at +-pi). Distractors change only pixels, so they do not affect it. For other ids (the
  paper pendulum, dm_control tasks) it is ``info["state"]`` of the pixel env
  (:class:`StateObservation`).

Every env is wrapped in SB3's ``Monitor`` (episode returns in ``info["episode"]``).
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecEnvWrapper,
    VecFrameStack,
    VecTransposeImage,
)
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from rpgssm_env.agents.hyperparams import BASE_IDS
from rpgssm_env.model.online import RolloutRecorder

__all__ = [
    "OBS_KINDS",
    "StateObservation",
    "StateRolloutRecorder",
    "VecStateTap",
    "make_agent_env",
    "make_pixel_vec_env",
    "model_frame_kwargs",
]

OBS_KINDS = ("latent", "pixels", "state")


class StateObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observation <- ``info["state"]`` (float32), for envs without a native state observation.

    Args:
        env: an env that puts the true state in ``info["state"]`` at reset and every step.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        _, info = env.reset(seed=0)
        if "state" not in info:
            raise ValueError(f"{env} puts no 'state' in its info dict: obs='state' needs one")
        dim = int(np.asarray(info["state"]).size)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self._state = np.zeros(dim, np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(**kwargs)
        return self._from(info), info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        _, reward, terminated, truncated, info = self.env.step(action)
        return self._from(info), reward, terminated, truncated, info

    def _from(self, info: dict[str, Any]) -> np.ndarray:
        return np.asarray(info["state"], np.float32).reshape(-1).copy()

    def observation(self, observation: Any) -> np.ndarray:  # pragma: no cover - unused
        return observation


def _build(env_id: str, kind: str, env_kwargs: dict[str, Any]) -> gym.Env:
    """Runs in the worker: one env of the given kind (no model). Module-level, so it pickles."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")  # keep Ctrl-C / SIGTERM working
    import rpgssm_env  # noqa: F401  (registers the rpgssm/... ids in a fresh worker)

    if kind == "state" and env_id in BASE_IDS:
        base_kwargs = {
            k: v
            for k, v in env_kwargs.items()
            if k not in ("size", "grayscale", "distractor", "distractor_mode", "mask", "state_fn")
        }
        spec = gym.spec(env_id)
        env = gym.make(BASE_IDS[env_id], max_episode_steps=spec.max_episode_steps, **base_kwargs)
    elif kind == "state":
        env = StateObservation(gym.make(env_id, **env_kwargs))
    else:
        env = gym.make(env_id, **env_kwargs)
    return Monitor(env)


def _vec(fns: Sequence[Any], vec: str) -> VecEnv:
    if vec == "auto":
        vec = "subproc" if len(fns) > 1 else "dummy"
    if vec == "subproc":
        return SubprocVecEnv(list(fns))
    if vec == "dummy":
        return DummyVecEnv(list(fns))
    raise ValueError(f"vec must be 'auto', 'subproc' or 'dummy', got {vec!r}")


def make_pixel_vec_env(
    env_id: str,
    n_envs: int = 1,
    kind: str = "pixels",
    env_kwargs: dict[str, Any] | None = None,
    vec: str = "auto",
) -> VecEnv:
    """N raw envs (pixel frames, or states for ``kind="state"``) in a ``VecEnv``, Monitor-wrapped.

    Args:
        env_id: a registered id.
        n_envs: N.
        kind: ``"pixels"`` (the env's own frames; also the input of the latent wrapper) or
            ``"state"`` (see the module docstring).
        env_kwargs: ``gym.make`` kwargs (``distractor``, ``size``, ...).
        vec: ``"auto"`` (subprocesses when N > 1), ``"subproc"`` or ``"dummy"``.
    """
    kwargs = dict(env_kwargs or {})
    fns = [functools.partial(_build, env_id, kind, kwargs) for _ in range(int(n_envs))]
    return _vec(fns, vec)


class VecStateTap(VecEnvWrapper):
    """Keeps the true states (``info["state"]``) of the frames the env just returned.

    After :meth:`reset`, ``states[i]`` is env i's first state. After :meth:`step_wait`,
    ``states[i]`` is the state of the returned frame (the reset state of a new episode where
    env i is done, read from ``venv.reset_infos``) and ``terminal_states[i]`` the state of the
    terminal frame of an episode that just ended. Observations pass through unchanged. Entries
    are ``None`` when an env reports no state.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.states: list[np.ndarray | None] = [None] * self.num_envs
        self.terminal_states: dict[int, np.ndarray | None] = {}

    def _reset_states(self) -> list[np.ndarray | None]:
        infos = getattr(self.venv, "reset_infos", None) or [{}] * self.num_envs
        return [_state(info) for info in infos]

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self.states = self._reset_states()
        self.terminal_states = {}
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        reset_states = self._reset_states()
        self.terminal_states = {}
        for i in range(self.num_envs):
            if dones[i]:
                self.terminal_states[i] = _state(infos[i])
                self.states[i] = reset_states[i]
            else:
                self.states[i] = _state(infos[i])
        return obs, rewards, dones, infos


def _state(info: dict[str, Any] | None) -> np.ndarray | None:
    if not info or info.get("state") is None:
        return None
    return np.asarray(info["state"], np.float32).reshape(-1).copy()


class StateRolloutRecorder(RolloutRecorder):
    """A :class:`~rpgssm_env.model.online.RolloutRecorder` that also stores true states.

    The latent wrapper calls :meth:`reset` / :meth:`step` right after its inner env returned, so
    the :class:`VecStateTap` below it holds the states of exactly those frames; they are kept in
    streams parallel to the frames (same capacity, same order).

    Args:
        capacity: frames kept per environment.
        tap: the :class:`VecStateTap` under the latent wrapper (``None``: no states).
    """

    def __init__(self, capacity: int = 1000, tap: VecStateTap | None = None) -> None:
        super().__init__(capacity)
        self.tap = tap
        self._states: dict[int, deque] = {}

    def _push_state(self, i: int, state: np.ndarray | None) -> None:
        self._states.setdefault(int(i), deque(maxlen=self.capacity)).append(state)

    def reset(self, indices: Sequence[int] | np.ndarray, frames: np.ndarray) -> None:
        super().reset(indices, frames)
        for i in np.asarray(indices).reshape(-1):
            self._push_state(i, self.tap.states[int(i)] if self.tap is not None else None)

    def step(
        self,
        frames: np.ndarray,
        actions: np.ndarray | None,
        dones: np.ndarray | None = None,
        final_frames: np.ndarray | None = None,
    ) -> None:
        super().step(frames, actions, dones, final_frames)
        n = len(frames)
        done = np.zeros(n, bool) if dones is None else np.asarray(dones, bool)
        tap = self.tap
        for i in range(n):
            if done[i] and final_frames is not None:
                self._push_state(i, tap.terminal_states.get(i) if tap is not None else None)
            self._push_state(i, tap.states[i] if tap is not None else None)

    def states(self, i: int) -> np.ndarray | None:
        """Env i's states (L, S) aligned with :meth:`stream`, or ``None`` when any is missing."""
        s = self._states.get(int(i))
        if not s or any(x is None for x in s):
            return None
        return np.stack(list(s))

    def clear(self) -> None:
        super().clear()
        self._states.clear()


def model_frame_kwargs(model: Any) -> dict[str, Any]:
    """Pixel-env kwargs that render the frames ``model`` takes: ``size`` (H or (H, W)) and, for
    one-channel models, ``grayscale=True``; ``{}`` for vector observations."""
    shape = tuple(model.config.obs_shape)
    if len(shape) != 3:
        return {}
    H, W, C = shape
    out: dict[str, Any] = {"size": H if H == W else (H, W)}
    if C == 1:
        out["grayscale"] = True
    return out


def make_agent_env(
    env_id: str,
    obs: str = "latent",
    *,
    model: Any = None,
    n_envs: int = 1,
    distractor: Any = None,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec: str = "auto",
    device: str = "auto",
    features: str = "mean",
    frame_stack: int = 3,
    latent_stack: int = 1,
    training: bool = False,
    buffer_size: int = 2000,
    filter_path: str | os.PathLike | None = None,
) -> VecEnv:
    """The ``VecEnv`` an agent of observation kind ``obs`` trains or is evaluated on.

    Args:
        env_id: a pixel env id (``rpgssm/Pendulum-v0``, ...).
        obs: ``"latent"``, ``"pixels"`` or ``"state"`` (see the module docstring).
        model: the RP-GSSM (an :class:`~rpgssm_env.model.rpgssm.RPGSSM`, shared with the
            wrapper, or a checkpoint path) for ``obs="latent"``.
        n_envs: N.
        distractor: the pixel env's ``distractor=`` (``None``: clean frames).
        seed: sub-env i is seeded with ``seed + i`` at the first reset.
        env_kwargs: other kwargs of the pixel env (``size``, ``grayscale``, ...). For latents
            without a ``size``, frames are rendered at the model's frame size (and in grey when
            the model takes one channel).
        vec: ``"auto"``, ``"subproc"`` or ``"dummy"``.
        device: the filter's device.
        features: the filter's features (``"mean"``, ``"mean+std"``, ``"mean+cov"``).
        frame_stack: frames stacked for ``obs="pixels"``.
        latent_stack: for ``obs="latent"``, the last ``latent_stack`` filter outputs side by side
            (``VecFrameStack`` over the latent wrapper): ``(latent_stack * F,)`` observations.
            1 (default): the belief alone.
        training: the latent wrapper's ``training`` flag (record rollouts for online EM).
        buffer_size: frames kept per env by the online-EM recorder.
        filter_path: for ``obs="latent"``, a saved wrapper (``VecLatentObservation.save``) to
            restore instead of building one from ``model``.

    Returns:
        The ``VecEnv`` (a :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` for latents).
    """
    if obs not in OBS_KINDS:
        raise ValueError(f"obs must be one of {OBS_KINDS}, got {obs!r}")
    kwargs = dict(env_kwargs or {})
    if distractor is not None:
        kwargs["distractor"] = distractor
    if obs == "latent" and filter_path is None and model is not None and "size" not in kwargs:
        if isinstance(model, str | os.PathLike):
            from rpgssm_env.model.rpgssm import RPGSSM

            model = RPGSSM.load(model, device=device)
        kwargs.update(model_frame_kwargs(model))
    venv = make_pixel_vec_env(env_id, n_envs, "state" if obs == "state" else "pixels", kwargs, vec)
    try:
        if obs == "pixels":
            venv = VecTransposeImage(VecFrameStack(venv, int(frame_stack), channels_order="last"))
        elif obs == "latent":
            from rpgssm_env.wrappers.sb3 import VecLatentObservation

            tap = VecStateTap(venv)
            if filter_path is not None:
                wrapper = VecLatentObservation.load(filter_path, tap)
            else:
                if model is None:
                    raise ValueError("obs='latent' needs a model (an RPGSSM or a checkpoint path)")
                wrapper = VecLatentObservation(
                    venv=tap, model=model, features=features, device=device
                )
            wrapper.training = bool(training)
            wrapper.recorder = StateRolloutRecorder(buffer_size, tap)
            wrapper.buffer_size = int(buffer_size)
            venv = wrapper
            if int(latent_stack) > 1:
                venv = VecFrameStack(venv, int(latent_stack))
    except BaseException:
        venv.close()
        raise
    if seed is not None:
        venv.seed(int(seed))
        venv.action_space.seed(int(seed))
    return venv
