"""Latent-state observations for a Gymnasium vector env (``gymnasium.vector.VectorEnv``).

:class:`VectorLatentObservation` runs one batched
:class:`~rpgssm_env.model.online.RPGSSMFilter` over the N sub-envs in the main process (the
sub-envs of an ``AsyncVectorEnv`` only render frames) and respects the vector env's
``metadata["autoreset_mode"]``:

* ``NEXT_STEP`` (Gymnasium 1.x default): the step after sub-env i reports ``terminated`` or
  ``truncated`` is its reset step; its observation is the first frame of the new episode, so the
  belief restarts from the prior there (the action of that step is ignored, as by the env).
* ``SAME_STEP``: a done sub-env returns its reset frame at once and the terminal frame in
  ``infos["final_obs"][i]``; the wrapper filters the terminal frame under the last action and
  replaces ``infos["final_obs"][i]`` by that belief's features, and restarts the belief from the
  prior with the reset frame (one forward pass for both).
* ``DISABLED``: the user resets sub-envs with ``reset(options={"reset_mask": mask})``; only the
  masked beliefs restart.

>>> import gymnasium as gym  # doctest: +SKIP
>>> envs = gym.make_vec("rpgssm/Pendulum-v0", 4, vectorization_mode="sync")  # doctest: +SKIP
>>> envs = VectorLatentObservation(envs, "model.pt")  # doctest: +SKIP
>>> envs.single_observation_space  # doctest: +SKIP
Box(-inf, inf, (8,), float32)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from rpgssm_env.model.rpgssm import RPGSSM
from rpgssm_env.wrappers.latent import FilterHolder, check_env_spaces, latent_space

__all__ = ["VectorLatentObservation"]


class VectorLatentObservation(FilterHolder, VectorWrapper):
    """Gymnasium vector-env wrapper from frames to RP-GSSM filtered beliefs.

    Args:
        env: a vector env of pixel envs (single observation = the model's frames).
        model: an :class:`~rpgssm_env.model.rpgssm.RPGSSM` or a checkpoint path.
        features: ``"mean"``, ``"mean+std"`` or ``"mean+cov"``.
        device: ``"auto"`` (CUDA when available, else CPU) or a ``torch.device`` string.
        pixels_in_info: also put the frames in ``infos["pixels"]`` (N, H, W, C).
        training: record frames/actions/episode starts into ``recorder`` (for fine-tuning).
        recorder: a :class:`~rpgssm_env.model.online.RolloutRecorder` (created on first use).
        tune_malloc: see :func:`~rpgssm_env.model.online.tune_malloc` (CPU only, process-wide).

    Raises:
        ValueError: the env's frames or actions do not fit the model, or an unknown autoreset
            mode.
    """

    def __init__(
        self,
        env: VectorEnv,
        model: RPGSSM | str | os.PathLike,
        features: str = "mean",
        device: str = "auto",
        pixels_in_info: bool = False,
        training: bool = False,
        recorder: Any | None = None,
        tune_malloc: bool = True,
    ) -> None:
        super().__init__(env)
        self._set_filter(model, env.num_envs, features, device, tune_malloc)
        check_env_spaces(
            env.single_observation_space, env.single_action_space, self.filter.config,
            "the vector env",
        )  # fmt: skip
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.autoreset_mode = mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)
        self.single_observation_space = latent_space(self.filter)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self.pixels_in_info = bool(pixels_in_info)
        self.training = bool(training)
        self.recorder = recorder
        self._starts = np.zeros(env.num_envs, dtype=bool)

    def _select(self, obs: Any, idx: np.ndarray) -> Any:
        return obs[idx] if self._J == 1 else [o[idx] for o in obs]

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset (all sub-envs, or those in ``options["reset_mask"]``) and restart their beliefs."""
        mask = None
        if options is not None and "reset_mask" in options:
            mask = np.array(options["reset_mask"], dtype=bool, copy=True)
        obs, infos = self.env.reset(seed=seed, options=options)
        frames = self._frames(obs)
        idx = np.arange(self.num_envs) if mask is None else np.flatnonzero(mask)
        self.filter.reset(idx, self._select(frames, idx))
        self._starts[idx] = False
        rec = self._recorder()
        if rec is not None:
            rec.reset(idx, self._select(frames, idx))
        if self.pixels_in_info:
            infos = self._add_pixels(infos, obs)
        return self.filter.get_features(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs and advance every belief in one batched filter step."""
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        frames = self._frames(obs)
        done = np.logical_or(terminations, truncations)
        rec = self._recorder()
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            done_idx = np.flatnonzero(done)
            final_frames = None
            if len(done_idx) and "final_obs" in infos:
                finals = [infos["final_obs"][i] for i in done_idx]
                if all(f is not None for f in finals):
                    final_frames = (
                        np.stack(finals)
                        if self._J == 1
                        else [np.stack([f[j] for f in finals]) for j in range(self._J)]
                    )
            feats, final_feats = self.filter.step_autoreset(frames, actions, done, final_frames)
            if final_frames is not None:
                latent_finals = np.array(infos["final_obs"], dtype=object, copy=True)
                for k, i in enumerate(done_idx):
                    latent_finals[i] = final_feats[k]
                if self.pixels_in_info:
                    infos["final_pixels"] = infos["final_obs"]
                infos["final_obs"] = latent_finals
            if rec is not None:
                rec.step(frames, actions, done, final_frames)
        elif self.autoreset_mode == AutoresetMode.NEXT_STEP:
            starts = self._starts.copy()
            feats = self.filter.step(frames, actions, starts)
            self._starts = done
            if rec is not None:
                rec.step(frames, actions, starts)
        else:  # DISABLED: the user resets done sub-envs through reset(options={"reset_mask": ...})
            feats = self.filter.step(frames, actions)
            if rec is not None:
                rec.step(frames, actions)
        if self.pixels_in_info:
            infos = self._add_pixels(infos, obs)
        return feats, rewards, terminations, truncations, infos

    def _add_pixels(self, infos: dict[str, Any], obs: Any) -> dict[str, Any]:
        infos["pixels"] = obs
        infos["_pixels"] = np.ones(self.num_envs, dtype=bool)
        return infos
