"""Argument types shared by sub-commands."""

from __future__ import annotations

import argparse

__all__ = ["frame_size"]


def frame_size(text: str) -> int | tuple[int, int]:
    """``"64"`` -> 64 (square frames) or ``"64x128"`` -> (64, 128) (height x width)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"frame size must be H or HxW (e.g. 64x128), got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])
