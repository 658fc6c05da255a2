"""The :class:`BackgroundDistractor` wrapper: composite a moving background behind the system."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rpgssm_env.wrappers.distractors.base import Source
from rpgssm_env.wrappers.distractors.masks import (
    ColourKeyMask,
    MaskFn,
    SegmentationMask,
    check_mask,
    composite,
)
from rpgssm_env.wrappers.distractors.presets import make_source

__all__ = ["BackgroundDistractor", "make_mask"]

# Salt mixed with the reset seed so the distractor stream is independent of the env's own.
_SEED_SALT = 0x5EED_D157


def make_mask(mask: Any) -> MaskFn:
    """Mask function for ``"colour_key"`` (white key), ``"segmentation"`` (MuJoCo) or a callable."""
    if mask is None or mask in ("colour_key", "color_key", "white"):
        return ColourKeyMask()
    if mask == "segmentation":
        return SegmentationMask()
    if callable(mask):
        return mask
    raise ValueError(
        f"unknown mask {mask!r}; expected 'colour_key', 'segmentation' or a function "
        "frame (H, W, 3) uint8 -> (H, W) bool"
    )


class BackgroundDistractor(
    gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs
):
    """Composite a distractor *behind* the system in RGB frame observations.

    The wrapped env's observations must be ``(H, W, 3)`` uint8 frames (e.g. from
    ``AddRenderObservation`` + ``ResizeObservation``). Each frame's foreground mask (the system's
    pixels) is computed at that size; foreground pixels are copied unchanged, all others are taken
    from the source's background frame. Compositing at the target size costs a few microseconds
    per 64x64 frame.

    Randomness: a private :class:`numpy.random.Generator`, reseeded by ``reset(seed=s)`` from
    ``(s, salt)`` (so it is repeatable and independent of the env's own stream); before the first
    seeded reset it is seeded from fresh entropy.

    ``render()`` returns the last composited frame ``(H, W, 3)``. After each reset/step,
    :attr:`last_frame` (clean), :attr:`last_background` and :attr:`last_foreground` (mask) hold
    what went into the observation.

    Example:
        >>> import gymnasium as gym
        >>> from gymnasium.wrappers import AddRenderObservation, ResizeObservation
        >>> env = gym.make("Pendulum-v1", render_mode="rgb_array")
        >>> env = ResizeObservation(AddRenderObservation(env), (64, 64))
        >>> env = BackgroundDistractor(env, "shapes")
        >>> env.observation_space
        Box(0, 255, (64, 64, 3), uint8)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype
        ((64, 64, 3), dtype('uint8'))

    Args:
        env: env with ``(H, W, 3)`` uint8 Box observations.
        distractor: ``None`` (identity), a name, preset, path or source
            (see :func:`rpgssm_env.wrappers.distractors.presets.make_source`).
        mode: override the source's mode (``"fixed"``, ``"step"``, ``"video"``).
        mask: ``"colour_key"`` (white background, default), ``"segmentation"`` (MuJoCo), or a
            function ``frame (H, W, 3) uint8 -> (H, W) bool`` (True = system pixel).
    """

    def __init__(
        self,
        env: gym.Env,
        distractor: Any = None,
        mode: str | None = None,
        mask: Any = "colour_key",
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, distractor=distractor, mode=mode, mask=mask)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not (
            isinstance(space, gym.spaces.Box)
            and space.dtype == np.uint8
            and len(space.shape) == 3
            and space.shape[-1] == 3
        ):
            raise ValueError(
                f"BackgroundDistractor needs (H, W, 3) uint8 frame observations, got {space}"
            )
        self.source: Source | None = make_source(distractor, mode)
        self.mask_fn: MaskFn = make_mask(mask)
        if hasattr(self.mask_fn, "bind"):
            self.mask_fn.bind(env)  # type: ignore[attr-defined]
        self.shape: tuple[int, int] = (int(space.shape[0]), int(space.shape[1]))
        self.observation_space = space
        # render() returns the composited frame: rgb_array is the one render mode offered.
        self.metadata = {**env.metadata, "render_modes": ["rgb_array"]}
        self._rng: np.random.Generator | None = None
        self.last_frame: np.ndarray | None = None
        self.last_background: np.ndarray | None = None
        self.last_foreground: np.ndarray | None = None
        self.last_observation: np.ndarray | None = None

    def _composite(self, frame: np.ndarray, background: np.ndarray | None) -> np.ndarray:
        self.last_frame = frame
        self.last_background = background
        if background is None:
            self.last_foreground = None
            self.last_observation = frame
            return frame
        fg = check_mask(self.mask_fn(frame), self.shape)
        if background.shape != frame.shape:
            raise ValueError(
                f"distractor source {self.source!r} returned a frame of shape {background.shape}; "
                f"expected {frame.shape}"
            )
        self.last_foreground = fg
        self.last_observation = composite(frame, background, fg)
        return self.last_observation

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), _SEED_SALT])
        elif self._rng is None:
            self._rng = np.random.default_rng()
        background = None if self.source is None else self.source.reset(self._rng, self.shape)
        return self._composite(obs, background), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        background = None
        if self.source is not None:
            assert self._rng is not None, "call reset() before step()"
            background = self.source.step(self._rng)
        return self._composite(obs, background), reward, terminated, truncated, info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Not used: :meth:`reset` and :meth:`step` composite directly."""
        return observation

    def render(self) -> Any:
        """The last composited frame ``(H, W, 3)`` uint8 (what the agent sees, in colour)."""
        if self.last_observation is None:
            return self.env.render()
        return self.last_observation.copy()

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        super().close()
