"""A second, tracking camera beside the fixed one: frames ``[fixed view | tracking view]``.

A small moving part of a wide scene (CartPole's pole: 10 px wide in a 600x400 render) covers a
pixel or two of a 64x128 frame of the whole track, and where it sits in the frame depends on the
cart position as much as on its angle. :class:`TrackingView` puts a window of the full-resolution
render that follows a point of the system (the cart) beside the fixed view, as a camera on a
dolly would see it: the fixed view keeps the position, the tracking view shows the pole at a
higher resolution and at the same place whatever the position. One frame, one modality: the
recognition network, data sets and wrappers see an ordinary ``(H, W, C)`` image.

The window's centre is read from the simulator (like dm_control's tracking cameras); the agent
still sees pixels only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

__all__ = ["CentreFn", "TrackingSpec", "TrackingView", "tracking_width"]

#: ``env -> (row, col)``: the render pixel the tracking window is centred on.
CentreFn = Callable[[gym.Env], tuple[float, float]]
#: ``(centre_fn, (rows, cols))``: where a tracking view looks and how much of the render it shows.
TrackingSpec = tuple[CentreFn, tuple[int, int]]


def tracking_width(height: int, window: tuple[int, int]) -> int:
    """Columns of the tracking view in a frame of ``height`` rows: the window's aspect kept."""
    return max(1, round(height * window[1] / window[0]))


class TrackingView(
    gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs
):
    """Full renders ``(H0, W0, C)`` -> frames ``(H, W, C)``: the fixed view (the render, or its
    ``crop`` box, resized to ``(H, W - Wt)``) beside the tracking view (a ``window`` of the
    render centred on ``centre_fn(env)``, resized to ``(H, Wt)``, ``Wt`` keeping the window's
    aspect; see :func:`tracking_width`). Parts of the window outside the render are white
    (the colour-key background, so distractors fill them).

    Args:
        env: an env whose observations are full renders (after ``AddRenderObservation``).
        centre_fn: ``env -> (row, col)`` in render pixels.
        window: ``(rows, cols)`` of the render the tracking view shows.
        size: ``(H, W)`` of the output frames (both views together).
        crop: ``(top, bottom, left, right)`` fractions of the render kept for the fixed view
            (see :class:`~rpgssm_env.wrappers.pixels.CropObservation`), or ``None``.

    Raises:
        ValueError: observations that are not images, a bad window, or a ``size`` too narrow
            to leave the fixed view 8 columns.
    """

    def __init__(
        self,
        env: gym.Env,
        centre_fn: CentreFn,
        window: tuple[int, int],
        size: tuple[int, int],
        crop: tuple[float, float, float, float] | None = None,
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self, centre_fn=centre_fn, window=window, size=size, crop=crop
        )
        gym.ObservationWrapper.__init__(self, env)
        from rpgssm_env.wrappers.pixels import crop_slices

        space = env.observation_space
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 3):
            raise ValueError(f"TrackingView needs (H, W, C) image observations, got {space}")
        h0, w0, c = space.shape
        rows, cols = (int(v) for v in window)
        if not (1 <= rows <= h0 and 1 <= cols <= w0):
            raise ValueError(
                f"window must be (rows, cols) of at most the render's {(h0, w0)}, got {window!r}"
            )
        height, width = size
        self.window = (rows, cols)
        self.tracking_cols = tracking_width(height, self.window)
        self.fixed_cols = width - self.tracking_cols
        if self.fixed_cols < 8:
            raise ValueError(
                f"size {size!r} leaves {self.fixed_cols} columns for the fixed view beside a "
                f"{self.tracking_cols}-column tracking view: give a wider size (W >= "
                f"{self.tracking_cols + 8})"
            )
        self.centre_fn = centre_fn
        self._fixed = crop_slices(crop, h0, w0) if crop is not None else None
        self._height = height
        self.observation_space = gym.spaces.Box(0, 255, (height, width, c), space.dtype)

    def tracking_window(self, frame: np.ndarray) -> np.ndarray:
        """The ``window`` of ``frame`` (a full render) around the centre, white outside."""
        rows, cols = self.window
        row, col = self.centre_fn(self.env)
        top, left = round(row - rows / 2), round(col - cols / 2)
        out = np.full((rows, cols, frame.shape[2]), 255, dtype=frame.dtype)
        r0, r1 = max(top, 0), min(top + rows, frame.shape[0])
        c0, c1 = max(left, 0), min(left + cols, frame.shape[1])
        if r0 < r1 and c0 < c1:
            out[r0 - top : r1 - top, c0 - left : c1 - left] = frame[r0:r1, c0:c1]
        return out

    def observation(self, observation: np.ndarray) -> np.ndarray:
        fixed = observation if self._fixed is None else observation[self._fixed]
        views = (
            (fixed, self.fixed_cols),
            (self.tracking_window(observation), self.tracking_cols),
        )
        resized = [
            cv2.resize(v, (cols, self._height), interpolation=cv2.INTER_AREA).reshape(
                self._height, cols, -1
            )
            for v, cols in views
        ]
        return np.ascontiguousarray(np.concatenate(resized, axis=1))
