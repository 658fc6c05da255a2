"""Background perturbations: colour shifts (hue, brightness) and small camera shifts.

They wrap another source and change only the *background* layer: the system's pixels stay exact
(a camera shift here pans the background behind the system, like parallax, without moving it).
"""

from __future__ import annotations

import cv2
import numpy as np

from rpgssm_env.wrappers.distractors.base import Shape, Source

__all__ = ["CameraShift", "ColourShift"]


class _Transform(Source):
    def __init__(self, source: Source, mode: str | None) -> None:
        super().__init__(mode)
        self.source = source

    def close(self) -> None:
        self.source.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, mode={self.mode!r})"


class ColourShift(_Transform):
    """Shift the hue and scale the brightness of another source's frames.

    The shift ``(hue, gain)`` is drawn at reset with ``hue ~ U(-max_hue, max_hue)`` degrees and
    ``gain ~ U(1 - max_brightness, 1 + max_brightness)``. ``"fixed"``: kept for the episode;
    ``"step"``: redrawn every step; ``"video"``: a slow random walk (smooth in time).
    """

    default_mode = "video"

    def __init__(
        self,
        source: Source,
        mode: str | None = None,
        *,
        max_hue: float = 40.0,
        max_brightness: float = 0.35,
    ) -> None:
        super().__init__(source, mode)
        self.max_hue = float(max_hue)
        self.max_brightness = float(max_brightness)
        self._hue = 0.0
        self._gain = 1.0

    def _draw(self, rng: np.random.Generator) -> None:
        self._hue = float(rng.uniform(-self.max_hue, self.max_hue))
        self._gain = float(rng.uniform(1 - self.max_brightness, 1 + self.max_brightness))

    def _apply(self, frame: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
        shift = round(self._hue / 2.0) % 180  # OpenCV 8-bit hue is in [0, 180)
        if shift:
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        if self._gain != 1.0:
            lut = np.clip(np.arange(256) * self._gain, 0, 255).astype(np.uint8)
            hsv[..., 2] = cv2.LUT(hsv[..., 2], lut)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        frame = self.source.reset(rng, shape)
        self._draw(rng)
        return self._apply(frame)

    def step(self, rng: np.random.Generator) -> np.ndarray:
        frame = self.source.step(rng)
        if self.mode == "step":
            self._draw(rng)
        elif self.mode == "video":
            self._hue = float(
                np.clip(self._hue + rng.normal(0, 0.05 * self.max_hue), -self.max_hue, self.max_hue)
            )
            b = self.max_brightness
            self._gain = float(np.clip(self._gain + rng.normal(0, 0.05 * b), 1 - b, 1 + b))
        return self._apply(frame)


class CameraShift(_Transform):
    """Translate another source's frames by a small offset (reflecting the borders).

    Offsets are in pixels at the target size, within ``+-max_shift`` times the frame size.
    ``"fixed"``: one offset per episode; ``"step"``: a new offset every step (jitter);
    ``"video"``: a smooth random walk (a slowly drifting camera).
    """

    default_mode = "video"

    def __init__(self, source: Source, mode: str | None = None, *, max_shift: float = 0.08):
        super().__init__(source, mode)
        self.max_shift = float(max_shift)
        self._shape: Shape = (0, 0)
        self._offset = np.zeros(2)

    def _limit(self) -> np.ndarray:
        return self.max_shift * np.array(self._shape, float)

    def _apply(self, frame: np.ndarray) -> np.ndarray:
        dy, dx = self._offset
        if abs(dy) < 0.5 and abs(dx) < 0.5:
            return frame
        m = np.array([[1.0, 0.0, round(dx)], [0.0, 1.0, round(dy)]])
        h, w = self._shape
        return cv2.warpAffine(
            np.ascontiguousarray(frame),
            m,
            (w, h),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_REFLECT,
        )

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = tuple(shape)  # type: ignore[assignment]
        frame = self.source.reset(rng, shape)
        self._offset = rng.uniform(-1, 1, 2) * self._limit()
        return self._apply(frame)

    def step(self, rng: np.random.Generator) -> np.ndarray:
        frame = self.source.step(rng)
        lim = self._limit()
        if self.mode == "step":
            self._offset = rng.uniform(-1, 1, 2) * lim
        elif self.mode == "video":
            self._offset = np.clip(self._offset + rng.normal(0, 0.1, 2) * lim, -lim, lim)
        return self._apply(frame)
