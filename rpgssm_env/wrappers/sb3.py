"""Latent-state observations for an SB3 ``VecEnv``: the filter runs in the main process.

:class:`VecLatentObservation` wraps any SB3 ``VecEnv`` of pixel envs (``SubprocVecEnv`` or
``DummyVecEnv``). The workers send frames back as usual; the main process runs ONE batched
:class:`~rpgssm_env.model.online.RPGSSMFilter` over all N envs, so the workers never load the model
(and CUDA, when used, lives only in the main process).

Autoreset: when sub-env i ends an episode, SB3 returns the FIRST frame of its next episode as the
observation and keeps the terminal frame in ``infos[i]["terminal_observation"]``. The wrapper
predicts under the last action and updates with that terminal frame, and puts the resulting belief
(the features of the terminal frame) in ``infos[i]["terminal_observation"]`` (what off-policy
algorithms bootstrap from); the new episode's belief starts from the prior with the reset frame.
Terminal and new frames go through the network in the same forward pass.

Like ``VecNormalize``, the wrapper has a ``training`` flag (default ``False``) and
``save(path)`` / ``VecLatentObservation.load(path, venv)`` that pickle the wrapper without the envs
(the filter's weights and configuration included). While ``training`` is set, every frame, action
and episode start is also handed to a :class:`~rpgssm_env.model.online.RolloutRecorder`
(``recorder``; one is created on first use), the hook an online fine-tuning callback reads;
``filter.load_state_dict(...)`` then swaps the new weights in place.

>>> from stable_baselines3.common.env_util import make_vec_env  # doctest: +SKIP
>>> venv = VecLatentObservation(make_vec_env("rpgssm/Pendulum-v0", 8), "model.pt")  # doctest: +SKIP
>>> venv.observation_space  # doctest: +SKIP
Box(-inf, inf, (8,), float32)
"""

from __future__ import annotations

import inspect
import os
import pickle
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvObs,
    VecEnvStepReturn,
    VecEnvWrapper,
)

from rpgssm_env.model.rpgssm import RPGSSM
from rpgssm_env.wrappers.latent import FilterHolder, check_env_spaces, latent_space

__all__ = ["VecLatentObservation"]


class VecLatentObservation(FilterHolder, VecEnvWrapper):
    """SB3 ``VecEnvWrapper`` from frames to RP-GSSM filtered beliefs.

    :param venv: the vectorized pixel env (observations ``(N, H, W, C)`` frames).
    :param model: an :class:`~rpgssm_env.model.rpgssm.RPGSSM` or a checkpoint path.
    :param features: ``"mean"``, ``"mean+std"`` or ``"mean+cov"``.
    :param device: ``"auto"`` (CUDA when available, else CPU) or a ``torch.device`` string.
    :param training: record frames/actions/episode starts into ``recorder`` (for online
        fine-tuning); the filter itself behaves the same either way.
    :param recorder: where to record (default: a :class:`RolloutRecorder` of ``buffer_size``
        frames per env, created on first use); any object with ``reset(indices, frames)`` and
        ``step(frames, actions, dones, final_frames)`` methods.
    :param buffer_size: capacity per env of the default recorder.
    :param pixels_in_info: also put each frame in ``infos[i]["pixels"]`` (and the terminal frame
        in ``infos[i]["terminal_pixels"]``).
    :param tune_malloc: see :func:`~rpgssm_env.model.online.tune_malloc` (CPU only,
        process-wide; about 2x faster CNN forward passes on frame batches).
    :raises ValueError: the env's frames or action space do not match the model.
    """

    def __init__(
        self,
        venv: VecEnv,
        model: RPGSSM | str | os.PathLike,
        features: str = "mean",
        device: str = "auto",
        training: bool = False,
        recorder: Any | None = None,
        buffer_size: int = 1000,
        pixels_in_info: bool = False,
        tune_malloc: bool = True,
    ) -> None:
        filt = self._set_filter(model, venv.num_envs, features, device, tune_malloc)
        check_env_spaces(venv.observation_space, venv.action_space, filt.config, "the VecEnv")
        super().__init__(venv, observation_space=latent_space(filt))
        self.training = bool(training)
        self.recorder = recorder
        self.buffer_size = int(buffer_size)
        self.pixels_in_info = bool(pixels_in_info)
        self.last_frames: Any = None
        self._actions: np.ndarray | None = None

    # -- VecEnv API ---------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        """Reset every env; beliefs start from the prior and the first frames. Returns (N, F)."""
        frames = self.venv.reset()
        frames = self._frames(frames)
        self.last_frames = frames
        feats = self.filter.reset(None, frames)
        rec = self._recorder()
        if rec is not None:
            rec.reset(np.arange(self.num_envs), frames)
        self._actions = None
        return feats

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions (the filter predicts under them) and send them to the envs."""
        self._actions = np.array(actions, copy=True)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Frames -> beliefs for all N envs in one batched filter step (terminal frames too)."""
        frames, rewards, dones, infos = self.venv.step_wait()
        frames = self._frames(frames)
        self.last_frames = frames
        dones = np.asarray(dones, dtype=bool)
        done_idx = np.flatnonzero(dones)
        terminal = [infos[i].get("terminal_observation") for i in done_idx]
        final_frames = None
        if len(done_idx) and all(t is not None for t in terminal):
            final_frames = self._stack(terminal)
        feats, final_feats = self.filter.step_autoreset(frames, self._actions, dones, final_frames)
        if final_frames is not None:
            for k, i in enumerate(done_idx):
                if self.pixels_in_info:
                    infos[i]["terminal_pixels"] = infos[i]["terminal_observation"]
                infos[i]["terminal_observation"] = final_feats[k]
        if self.pixels_in_info:
            for i in range(self.num_envs):
                infos[i]["pixels"] = self._frame(frames, i)
        rec = self._recorder()
        if rec is not None:
            rec.step(frames, self._actions, dones, final_frames)
        return feats, rewards, dones, infos

    def close(self) -> None:
        """Close the envs (and their worker processes)."""
        self.venv.close()

    # -- frames (one or J modalities) ---------------------------------------------------------
    def _stack(self, per_env: list[Any]) -> Any:
        if self._J == 1:
            return np.stack(per_env)
        return [np.stack([o[j] for o in per_env]) for j in range(self._J)]

    def _frame(self, frames: Any, i: int) -> Any:
        return frames[i] if self._J == 1 else tuple(f[i] for f in frames)

    # -- persistence (VecNormalize style) -----------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Everything but the envs, the recorded frames and the per-step buffers."""
        state = self.__dict__.copy()
        for key in ("venv", "class_attributes", "recorder", "last_frames", "_actions"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.venv = None  # type: ignore[assignment]
        self.recorder = None
        self.last_frames = None
        self._actions = None

    def set_venv(self, venv: VecEnv) -> None:
        """Attach envs to an unpickled wrapper (checks that they fit the model).

        :raises ValueError: a venv is already set, or the envs do not fit the model.
        """
        if self.venv is not None:
            raise ValueError("this VecLatentObservation already has a venv")
        check_env_spaces(
            venv.observation_space, venv.action_space, self.filter.config, "the VecEnv"
        )
        self.venv = venv
        self.num_envs = venv.num_envs
        self.action_space = venv.action_space
        self.render_mode = venv.render_mode
        self.class_attributes = dict(inspect.getmembers(self.__class__))
        self.filter.set_num_envs(venv.num_envs)

    def save(self, save_path: str | os.PathLike) -> None:
        """Pickle the wrapper without its envs (filter weights and configuration included)."""
        with open(save_path, "wb") as fh:
            pickle.dump(self, fh)

    @staticmethod
    def load(load_path: str | os.PathLike, venv: VecEnv) -> VecLatentObservation:
        """Unpickle a saved wrapper and attach ``venv``."""
        with open(load_path, "rb") as fh:
            wrapper = pickle.load(fh)
        wrapper.set_venv(venv)
        return wrapper
