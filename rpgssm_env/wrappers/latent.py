"""Latent-state observations for one Gymnasium env: frames in, RP-GSSM filtered beliefs out.

:class:`LatentObservation` runs an :class:`~rpgssm_env.model.online.RPGSSMFilter` for a single
env: ``reset`` starts the belief from the prior and the first frame, every ``step`` predicts with
the action-conditioned prior and updates with the new frame (spec section 6). The agent sees a
float32 vector (the filtered mean, optionally with standard deviations or the Cholesky factor of
the covariance); ``info["state"]`` (the true low-dimensional state of the pixel envs) passes
through untouched and, on request, the frame itself goes to ``info["pixels"]``. ``render()`` still
shows the env's frames.

>>> import gymnasium as gym
>>> from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig
>>> model = RPGSSM(RPGSSMConfig(latent_dim=4, obs_shape=(24, 24, 3),
...                             action_kind="continuous", action_dim=1))
>>> env = LatentObservation(gym.make("rpgssm/Pendulum-v0", size=24), model, device="cpu")
>>> env.observation_space
Box(-inf, inf, (4,), float32)
>>> obs, info = env.reset(seed=0)
>>> obs.shape, sorted(info)
((4,), ['state'])

Change log:
    0.1.0: first version.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rpgssm_env.model.online import RolloutRecorder, RPGSSMFilter
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig

__all__ = [
    "LatentObservation",
    "check_env_spaces",
    "latent_space",
    "make_latent_gym_env",
]


def _describe_obs(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[0]}x{shape[1]} frames with {shape[2]} channel(s) (shape {shape})"
    return f"vectors of shape {shape}"


def _check_one_obs_space(space: gym.Space, shape: tuple[int, ...], where: str) -> None:
    expected = _describe_obs(shape)
    if not isinstance(space, spaces.Box):
        raise ValueError(
            f"the model expects {expected}; {where} has observation space {space} (not a Box)"
        )
    if tuple(space.shape) != shape:
        raise ValueError(
            f"the model (checkpoint) expects {expected}, but {where} gives observations of shape "
            f"{tuple(space.shape)}: build the env with the frame size and colour mode the model "
            "was trained on"
        )
    if len(shape) == 3:
        if space.dtype != np.uint8 and not np.issubdtype(space.dtype, np.floating):
            raise ValueError(
                f"{where} gives frames of dtype {space.dtype}; the model expects uint8 frames in "
                "[0, 255] or float frames in [0, 1]"
            )
        if np.issubdtype(space.dtype, np.floating) and (
            np.any(space.low < 0) or np.any(space.high > 1)
        ):
            raise ValueError(
                f"{where} gives float frames with bounds [{space.low.min()}, "
                f"{space.high.max()}]; float frames must lie in [0, 1] (or use uint8 frames)"
            )
    elif not np.issubdtype(space.dtype, np.floating):
        raise ValueError(f"{where} gives vectors of dtype {space.dtype}; the model expects float")


def check_env_spaces(
    observation_space: gym.Space,
    action_space: gym.Space,
    config: RPGSSMConfig,
    where: str = "the env",
) -> None:
    """Check that an env's (single, unbatched) spaces fit a model.

    Observations: a ``Box`` of the model's ``(H, W, C)`` (uint8, or float in [0, 1]) or ``(D,)``;
    with J > 1 modalities a ``Tuple`` of J such boxes. Actions: ``Box((action_dim,))`` for a
    continuous-action model, ``Discrete(num_actions)`` (starting at 0) for a discrete one; any
    space for a model without actions.

    Raises:
        ValueError: naming what the model expects and what the env gives.
    """
    shapes = [m.obs_shape for m in config.modality_configs()]
    if len(shapes) == 1:
        _check_one_obs_space(observation_space, shapes[0], where)
    else:
        if not isinstance(observation_space, spaces.Tuple) or len(observation_space) != len(shapes):
            raise ValueError(
                f"the model has {len(shapes)} observation modalities and expects a Tuple of "
                f"{len(shapes)} Box spaces; {where} has observation space {observation_space}"
            )
        for j, (sub, shape) in enumerate(zip(observation_space, shapes)):
            _check_one_obs_space(sub, shape, f"{where} (modality {j})")
    kind = config.action_kind
    if kind == "continuous":
        d = int(config.action_dim)
        ok = isinstance(action_space, spaces.Box) and (
            tuple(action_space.shape) == (d,) or (d == 1 and tuple(action_space.shape) == ())
        )
        if not ok:
            raise ValueError(
                f"the model (checkpoint) was trained with continuous actions of dimension {d} "
                f"(Box of shape ({d},)); {where} has action space {action_space}"
            )
    elif kind == "discrete":
        n = int(config.num_actions)
        ok = (
            isinstance(action_space, spaces.Discrete)
            and int(action_space.n) == n
            and int(action_space.start) == 0
        )
        if not ok:
            raise ValueError(
                f"the model (checkpoint) was trained with {n} discrete actions (Discrete({n})); "
                f"{where} has action space {action_space}"
            )


def latent_space(filt: RPGSSMFilter) -> spaces.Box:
    """The float32 ``Box`` of one feature vector (F,), with the filter's known bounds."""
    low, high = filt.feature_bounds()
    return spaces.Box(low, high, shape=(filt.feature_dim,), dtype=np.float32)


def batch_obs(obs: Any, J: int) -> Any:
    """One env's observation -> a batch of one (per modality)."""
    if J == 1:
        return np.asarray(obs)[None]
    return [np.asarray(o)[None] for o in obs]


def batch_action(action: Any, kind: str | None) -> np.ndarray | None:
    """One env's action -> (1, A) float or (1,) int (``None`` for a model without actions)."""
    if kind is None:
        return None
    a = np.asarray(action)
    if kind == "continuous":
        return a.reshape(1, -1) if a.dtype.kind == "f" else a.reshape(1, -1).astype(np.float32)
    return a.reshape(1)


class FilterHolder:
    """What the latent wrappers share: an :class:`RPGSSMFilter` over their N envs.

    The vectorised wrappers also have the ``training`` switch: while it is set, :meth:`_recorder`
    returns ``recorder`` (a :class:`RolloutRecorder` of ``buffer_size`` frames per env, made on
    first use), which they hand what the filter sees.
    """

    filter: RPGSSMFilter
    training: bool = False
    recorder: Any | None = None
    #: frames kept per env by the recorder made on first use
    buffer_size: int = 1000

    def _set_filter(
        self,
        model: RPGSSM | str | os.PathLike,
        num_envs: int,
        features: str,
        device: str,
        tune_malloc: bool,
    ) -> RPGSSMFilter:
        self.filter = RPGSSMFilter(
            model, num_envs, features=features, device=device, tune_malloc=tune_malloc
        )
        self._J = len(self.filter.obs_shapes)
        return self.filter

    @property
    def model(self) -> RPGSSM:
        """The :class:`RPGSSM` used by the filter."""
        return self.filter.model

    def _frames(self, obs: Any) -> Any:
        """A batch of frames as the filter takes it: the array, or a list of J (N, ...) arrays
        (vector envs give Tuple observations as tuples)."""
        return obs if self._J == 1 else list(obs)

    def _recorder(self) -> Any | None:
        if not self.training:
            return None
        if self.recorder is None:
            self.recorder = RolloutRecorder(self.buffer_size)
        return self.recorder


class LatentObservation(
    FilterHolder, gym.Wrapper[np.ndarray, Any, Any, Any], gym.utils.RecordConstructorArgs
):
    """Replace an env's frames by the RP-GSSM filtered belief over latents.

    Args:
        env: an env whose observations are the model's frames (e.g. ``rpgssm/Pendulum-v0`` at
            the checkpoint's size) and whose actions match the model's action model.
        model: an :class:`~rpgssm_env.model.rpgssm.RPGSSM` or a checkpoint path.
        features: ``"mean"`` (K), ``"mean+std"`` (2K) or ``"mean+cov"`` (K + K(K+1)/2).
        device: ``"auto"`` (CUDA when available, else CPU) or a ``torch.device``.
        pixels_in_info: also put the frame in ``info["pixels"]``.
        tune_malloc: see :func:`~rpgssm_env.model.online.tune_malloc` (CPU only, process-wide).

    Attributes:
        filter: the :class:`~rpgssm_env.model.online.RPGSSMFilter` (N = 1); its
            ``load_state_dict`` swaps weights in place.

    Raises:
        ValueError: the env's frame size, channels or action space do not match the model.
    """

    def __init__(
        self,
        env: gym.Env,
        model: RPGSSM | str | os.PathLike,
        features: str = "mean",
        device: str = "auto",
        pixels_in_info: bool = False,
        tune_malloc: bool = True,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            model=model,
            features=features,
            device=device,
            pixels_in_info=pixels_in_info,
            tune_malloc=tune_malloc,
        )
        gym.Wrapper.__init__(self, env)
        self._set_filter(model, 1, features, device, tune_malloc)
        check_env_spaces(env.observation_space, env.action_space, self.filter.config)
        self.observation_space = latent_space(self.filter)
        self.pixels_in_info = bool(pixels_in_info)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env and start the belief from the prior and the first frame."""
        obs, info = self.env.reset(seed=seed, options=options)
        feats = self.filter.reset(None, batch_obs(obs, self._J))[0]
        if self.pixels_in_info:
            info["pixels"] = obs
        return feats, info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; predict under ``action`` and update with the new frame."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        feats = self.filter.step(
            batch_obs(obs, self._J), batch_action(action, self.filter.action_kind)
        )[0]
        if self.pixels_in_info:
            info["pixels"] = obs
        return feats, reward, terminated, truncated, info

    def predict(self, actions: Sequence[Any] | np.ndarray | None = None, steps: int | None = None):
        """k-step prediction of future latents under planned actions (k, ...); see
        :meth:`~rpgssm_env.model.online.RPGSSMFilter.predict`. Returns means (k, K), covs
        (k, K, K) as tensors."""
        planned = None if actions is None else np.asarray(actions)[None]
        pred = self.filter.predict(planned, steps=steps)
        return pred.means[0], pred.covs[0]


def make_latent_gym_env(
    env_id: str,
    checkpoint: RPGSSM | str | os.PathLike,
    features: str = "mean",
    device: str = "auto",
    pixels_in_info: bool = False,
    render_mode: str | None = None,
    tune_malloc: bool = True,
    **env_kwargs: Any,
) -> LatentObservation:
    """Entry point of the ``rpgssm/Latent-v0`` id: ``gym.make(env_id, **env_kwargs)`` wrapped in
    :class:`LatentObservation`.

    >>> env = gym.make("rpgssm/Latent-v0", env_id="rpgssm/Pendulum-v0",
    ...                checkpoint="model.pt", distractor="video", size=64)  # doctest: +SKIP

    Args:
        env_id: the pixel env's id.
        checkpoint: an :class:`RPGSSM` or a checkpoint path.
        features, device, pixels_in_info, tune_malloc: see :class:`LatentObservation`.
        render_mode: passed to the pixel env when given.
        **env_kwargs: the pixel env's keyword arguments (``size``, ``distractor``, ...).
    """
    if render_mode is not None:
        env_kwargs["render_mode"] = render_mode
    env = gym.make(env_id, **env_kwargs)
    return LatentObservation(
        env,
        checkpoint,
        features=features,
        device=device,
        pixels_in_info=pixels_in_info,
        tune_malloc=tune_malloc,
    )
