"""Pixel observations: any ``rgb_array`` env becomes an env of uint8 frames ``(H, W, C)``.

:func:`pixel_wrappers` composes Gymnasium's own wrappers, in this order::

    StateInfo                 info["state"] <- the true low-dimensional state
    AddRenderObservation      obs <- env.render(), full resolution (render_only=True)
    CropObservation           obs <- a box of the render (only when ``crop`` is given)
    ResizeObservation         obs <- (H, W, 3) at the target size (OpenCV, area interpolation)
    BackgroundDistractor      background composited behind the system, at the target size
    GrayscaleObservation      (H, W, 1) when grayscale=True (keep_dim=True)

Compositing happens at the *target* size: the foreground mask is computed on the resized frame,
so a distractor costs O(H*W) at 64x64 instead of at the full 500x500 render (about 60x fewer
pixels); anti-aliased edge pixels that are clearly tinted count as the system and stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AddRenderObservation, GrayscaleObservation, ResizeObservation

if TYPE_CHECKING:
    from rpgssm_env.wrappers.tracking import TrackingSpec

__all__ = ["CropObservation", "StateInfo", "crop_slices", "parse_size", "pixel_wrappers"]


def parse_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` from an int or a pair; each in [8, 1024]."""
    hw = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, int | np.integer) and 8 <= v <= 1024 for v in hw):
        raise ValueError(f"size must be an int or (H, W) of ints in [8, 1024], got {size!r}")
    return int(hw[0]), int(hw[1])


class StateInfo(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Put the true low-dimensional state in ``info["state"]`` (float32 ``(S,)``) at reset and
    every step; observations are unchanged.

    Args:
        env: the env.
        state_fn: ``env -> (S,) array``. Default: the known state of the unwrapped env (see
            :mod:`rpgssm_env.envs.states`), else the env's own flat observation.
    """

    def __init__(self, env: gym.Env, state_fn: Callable[[gym.Env], np.ndarray] | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, state_fn=state_fn)
        gym.Wrapper.__init__(self, env)
        if state_fn is None:
            from rpgssm_env.envs.states import state_fn_for

            state_fn = state_fn_for(env)
        self.state_fn = state_fn
        if state_fn is None:
            space = env.observation_space
            if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
                raise ValueError(
                    f"no known state for {type(env.unwrapped).__name__} and its observations "
                    f"({space}) are not flat vectors: pass state_fn=env -> (S,) array"
                )

    def _state(self, obs: Any) -> np.ndarray:
        raw = obs if self.state_fn is None else self.state_fn(self.env)
        return np.asarray(raw, dtype=np.float32).reshape(-1).copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "state": self._state(obs)}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "state": self._state(obs)}


Crop = tuple[float, float, float, float]


def crop_slices(box: Crop, height: int, width: int) -> tuple[slice, slice]:
    """``(rows, cols)`` slices of a ``(height, width)`` image kept by ``box = (top, bottom, left,
    right)`` fractions (at least one row and column).

    Raises:
        ValueError: a box outside [0, 1] or empty.
    """
    top, bottom, left, right = (float(v) for v in box)
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(
            f"crop must be (top, bottom, left, right) fractions with 0 <= top < bottom <= 1 "
            f"and 0 <= left < right <= 1, got {box!r}"
        )
    rows = slice(round(top * height), max(round(bottom * height), round(top * height) + 1))
    cols = slice(round(left * width), max(round(right * width), round(left * width) + 1))
    return rows, cols


class CropObservation(
    gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs
):
    """Keep a box of image observations ``(H, W, C)``: ``box = (top, bottom, left, right)`` as
    fractions of the height and width (``(0.4, 0.85, 0, 1)``: rows 40%..85%, all columns).

    Raises:
        ValueError: a box outside [0, 1] or empty, or observations that are not images.
    """

    def __init__(self, env: gym.Env, box: Crop):
        gym.utils.RecordConstructorArgs.__init__(self, box=box)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 3):
            raise ValueError(f"CropObservation needs (H, W, C) image observations, got {space}")
        h, w, c = space.shape
        self._rows, self._cols = crop_slices(box, h, w)
        shape = (self._rows.stop - self._rows.start, self._cols.stop - self._cols.start, c)
        self.observation_space = gym.spaces.Box(0, 255, shape, space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(observation[self._rows, self._cols])


def pixel_wrappers(
    env: gym.Env,
    size: int | tuple[int, int] = 64,
    grayscale: bool = False,
    distractor: Any = None,
    distractor_mode: str | None = None,
    mask: Any = "colour_key",
    state_fn: Callable[[gym.Env], np.ndarray] | None = None,
    crop: Crop | None = None,
    tracking: bool | TrackingSpec = False,
) -> gym.Env:
    """Wrap ``env`` (created with ``render_mode="rgb_array"``) into a pixel env.

    Args:
        env: a Gymnasium env rendering ``rgb_array`` frames.
        size: target frame size ``H = W = size`` or ``(H, W)``.
        grayscale: one grey channel ``(H, W, 1)`` instead of RGB ``(H, W, 3)``.
        distractor: ``None`` or a distractor (see
            :func:`rpgssm_env.wrappers.distractors.make_source`).
        distractor_mode: ``"fixed"``, ``"step"`` or ``"video"`` (default: the source's own).
        mask: foreground mask (``"colour_key"``, ``"segmentation"`` or ``frame -> (H, W) bool``).
        state_fn: ``env -> (S,)`` true state for ``info["state"]`` (default: known per env).
        crop: ``(top, bottom, left, right)`` fractions of the render to keep before resizing
            (see :class:`CropObservation`); ``None`` keeps the whole render.
        tracking: put a tracking camera's view beside the fixed one (see
            :class:`~rpgssm_env.wrappers.tracking.TrackingView`; ``size`` is then both views
            together): ``True`` for the env's own (CartPole: the cart and pole,
            :data:`rpgssm_env.envs.cameras.TRACKING_VIEWS`), or ``(centre_fn, (rows, cols))``.

    Returns:
        The wrapped env: observations ``Box(0, 255, (H, W, C), uint8)``, ``info["state"]``,
        ``render()`` returning the composited ``(H, W, 3)`` colour frame.

    Raises:
        ValueError: ``env`` does not render ``rgb_array`` frames, a bad ``size``, or
            ``tracking=True`` for an env without a known tracking view.
    """
    from rpgssm_env.wrappers.distractors.wrapper import BackgroundDistractor

    hw = parse_size(size)
    modes = env.metadata.get("render_modes", [])
    if env.render_mode != "rgb_array":
        raise ValueError(
            f"{env} has render_mode={env.render_mode!r} (supported: {modes}); pixel observations "
            "need render_mode='rgb_array': create it with gym.make(id, render_mode='rgb_array')"
        )
    env = StateInfo(env, state_fn)
    env = AddRenderObservation(env, render_only=True)
    if tracking is True:
        from rpgssm_env.envs.cameras import tracking_view_for

        tracking = tracking_view_for(env)
    if tracking:
        from rpgssm_env.wrappers.tracking import TrackingView

        centre_fn, window = tracking
        env = TrackingView(env, centre_fn, window, size=hw, crop=crop)
    else:
        if crop is not None:
            env = CropObservation(env, crop)
        env = ResizeObservation(env, hw)
    env = BackgroundDistractor(env, distractor, mode=distractor_mode, mask=mask)
    if grayscale:
        env = GrayscaleObservation(env, keep_dim=True)
    return env
