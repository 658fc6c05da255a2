"""Frame augmentation for pretraining: per-frame intensity jitter.

The recognition networks see one frame at a time, so anything that shifts a whole frame's
intensity (a bright wall, a dark photograph, a new lighting) moves their output unless they
learned to ignore it. :class:`IntensityJitter` draws a brightness offset and a contrast factor
for EVERY frame independently (never one per sequence: a per-sequence value would be a feature
that tells the windows of a batch apart, which the contrastive term of the free energy rewards).

Jittered frames are clipped back to [0, 1] (the range the model checks float frames against);
a strong brightness offset therefore saturates part of a frame, as a bright background does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["IntensityJitter", "make_augment"]


@dataclass(frozen=True)
class IntensityJitter:
    """``x' = clip(m + c (x - m) + b, 0, 1)`` per frame, ``m`` the frame's mean intensity.

    Args:
        brightness: ``b ~ U(-brightness, brightness)`` (intensity units, frames in [0, 1]).
        contrast: ``c ~ U(1 - contrast, 1 + contrast)``; ``contrast < 1``.
    """

    brightness: float = 0.3
    contrast: float = 0.3

    def __post_init__(self) -> None:
        if self.brightness < 0:
            raise ValueError(f"brightness must be >= 0, got {self.brightness}")
        if not 0 <= self.contrast < 1:
            raise ValueError(f"contrast must be in [0, 1), got {self.contrast}")

    def __call__(self, obs: Tensor) -> Tensor:
        """Frames ``(..., H, W, C)`` (uint8 in [0, 255] or float in [0, 1]) -> float frames of
        the same shape (float32 for uint8 input), every frame jittered independently."""
        if obs.ndim < 4:
            raise ValueError(f"IntensityJitter needs frames (..., H, W, C), got {tuple(obs.shape)}")
        x = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs
        lead = x.shape[:-3]
        mean = x.mean(dim=(-3, -2, -1), keepdim=True)
        u = torch.rand((2, *lead, 1, 1, 1), device=x.device, dtype=x.dtype)
        c = 1.0 + self.contrast * (2.0 * u[0] - 1.0)
        b = self.brightness * (2.0 * u[1] - 1.0)
        return (mean + c * (x - mean) + b).clamp_(0.0, 1.0)


def make_augment(spec: Any) -> IntensityJitter | None:
    """``None``/``{}`` -> no augmentation; a dict ``{"brightness": b, "contrast": c}`` (or an
    :class:`IntensityJitter`) -> the jitter."""
    if spec is None or isinstance(spec, IntensityJitter):
        return spec
    if isinstance(spec, dict):
        if not spec:
            return None
        unknown = sorted(set(spec) - {"brightness", "contrast"})
        if unknown:
            raise ValueError(f"augment takes 'brightness' and 'contrast', got {unknown}")
        return IntensityJitter(**{k: float(v) for k, v in spec.items()})
    raise ValueError(f"augment must be None or a dict of brightness/contrast, got {spec!r}")
