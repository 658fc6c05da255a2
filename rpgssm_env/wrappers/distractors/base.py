"""The background *source* protocol and adapters for user-supplied sources.

A source yields background frames ``(H, W, 3)`` uint8 at the target size. It has a ``mode``:

* ``"fixed"``: one background per episode (drawn at ``reset``, repeated by ``step``);
* ``"step"``: an independent new background every step;
* ``"video"``: a background that evolves continuously in time (a playing clip, a slow pan over
  a photograph, shapes or a pendulum following their own smooth dynamics).

All randomness comes from the ``rng`` (:class:`numpy.random.Generator`) the distractor wrapper
passes in, which is seeded from ``env.reset(seed=...)``; a source keeps no hidden random state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

__all__ = [
    "MODES",
    "ArraySource",
    "CallableSource",
    "FrameSourceProtocol",
    "IteratorSource",
    "Source",
    "as_source",
    "check_frame",
    "normalise_mode",
]

MODES = ("fixed", "step", "video")
_MODE_ALIASES = {
    "fixed": "fixed",
    "episode": "fixed",
    "per_episode": "fixed",
    "static": "fixed",
    "step": "step",
    "frame": "step",
    "every_step": "step",
    "random": "step",
    "video": "video",
    "continuous": "video",
    "play": "video",
}

Shape = tuple[int, int]


def normalise_mode(mode: str) -> str:
    """Canonical mode name (``"fixed"``, ``"step"`` or ``"video"``) for ``mode`` or an alias."""
    try:
        return _MODE_ALIASES[str(mode).lower()]
    except KeyError:
        raise ValueError(
            f"unknown distractor mode {mode!r}; expected one of {MODES} "
            f"(aliases: {sorted(set(_MODE_ALIASES) - set(MODES))})"
        ) from None


def check_frame(frame: Any, shape: Shape, where: str = "source") -> np.ndarray:
    """Validate a frame from a (user) source and convert it to ``(H, W, 3)`` uint8 at ``shape``.

    Accepts ``(h, w)``, ``(h, w, 1)``, ``(h, w, 3)`` or ``(h, w, 4)`` (alpha dropped) arrays, uint8
    in [0, 255] or float in [0, 1]; other sizes ``(h, w)`` are resized to ``shape`` with area
    interpolation (slower: produce frames at the target size when speed matters).

    Raises:
        ValueError: the frame is not an image array of a supported shape or dtype; the message
            names ``where`` and the offending shape/dtype.
    """
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        pass
    elif arr.ndim == 2:
        arr = arr[..., None]
    else:
        raise ValueError(
            f"{where} returned a frame of shape {arr.shape}; expected (H, W, 3), (H, W, 1) or "
            f"(H, W) (target size {shape[0]}x{shape[1]})"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{where} returned an empty frame of shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        elif np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise ValueError(
                f"{where} returned a frame of dtype {arr.dtype}; expected uint8 in [0, 255] or "
                "float in [0, 1]"
            )
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.shape[:2] != tuple(shape):
        arr = cv2.resize(arr, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(arr)


class Source(ABC):
    """Base class of background sources (see the module docstring for the modes).

    Subclasses implement :meth:`reset` and :meth:`step`; both return ``(H, W, 3)`` uint8 frames
    at the ``shape`` given to :meth:`reset`. Cache anything expensive (decoded, resized frames) per
    ``shape`` so that :meth:`step` costs microseconds.
    """

    mode: str = "step"
    default_mode: str = "step"

    def __init__(self, mode: str | None = None) -> None:
        self.mode = normalise_mode(mode if mode is not None else self.default_mode)

    @abstractmethod
    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        """Start an episode at frame size ``shape = (H, W)``; return the first background."""

    @abstractmethod
    def step(self, rng: np.random.Generator) -> np.ndarray:
        """Return the background of the next step."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (open files, helper environments)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r})"


@runtime_checkable
class FrameSourceProtocol(Protocol):
    """What a user object needs to be used as a source as is (duck-typed :class:`Source`)."""

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray: ...

    def step(self, rng: np.random.Generator) -> np.ndarray: ...


class _Checked(Source):
    """Validates the frames of a duck-typed user source (shape, dtype; resized if needed)."""

    def __init__(self, inner: FrameSourceProtocol) -> None:
        super().__init__(getattr(inner, "mode", "step"))
        self.inner = inner
        self._shape: Shape = (0, 0)

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = shape
        return check_frame(self.inner.reset(rng, shape), shape, repr(self.inner))

    def step(self, rng: np.random.Generator) -> np.ndarray:
        return check_frame(self.inner.step(rng), self._shape, repr(self.inner))

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


class CallableSource(Source):
    """A source from a function ``fn(rng) -> frame``.

    ``fn`` is called at every reset, and at every step unless ``mode="fixed"``. The frame may be
    any size (it is resized) but must be an image (see :func:`check_frame`).
    """

    default_mode = "step"

    def __init__(
        self, fn: Callable[[np.random.Generator], np.ndarray], mode: str | None = None
    ) -> None:
        super().__init__(mode)
        self.fn = fn
        self._shape: Shape = (0, 0)
        self._frame: np.ndarray | None = None

    def _call(self, rng: np.random.Generator) -> np.ndarray:
        return check_frame(self.fn(rng), self._shape, f"source function {self.fn!r}")

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = shape
        self._frame = self._call(rng)
        return self._frame

    def step(self, rng: np.random.Generator) -> np.ndarray:
        if self.mode == "fixed":
            assert self._frame is not None
            return self._frame
        return self._call(rng)


class IteratorSource(Source):
    """A source that plays frames from an iterator (e.g. a generator), in order, across episodes.

    Always ``"video"``-like: the next frame every step (``mode="fixed"`` keeps each episode's
    first frame). Raises :class:`ValueError` when the iterator runs out.
    """

    default_mode = "video"

    def __init__(self, frames: Iterable[np.ndarray], mode: str | None = None) -> None:
        super().__init__(mode)
        self._it: Iterator[np.ndarray] = iter(frames)
        self._shape: Shape = (0, 0)
        self._frame: np.ndarray | None = None

    def _next(self) -> np.ndarray:
        try:
            frame = next(self._it)
        except StopIteration:
            raise ValueError("the user frame iterator is exhausted") from None
        return check_frame(frame, self._shape, "user frame iterator")

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = shape
        self._frame = self._next()
        return self._frame

    def step(self, rng: np.random.Generator) -> np.ndarray:
        if self.mode == "fixed":
            assert self._frame is not None
            return self._frame
        return self._next()


class ArraySource(Source):
    """Backgrounds from an in-memory bank of frames ``(N, h, w, C)``.

    Modes: ``"fixed"`` one random frame per episode, ``"step"`` a random frame every step,
    ``"video"`` consecutive frames from a random start (looping). Frames are resized once per
    target size and cached.
    """

    default_mode = "step"

    def __init__(self, frames: np.ndarray | list[np.ndarray], mode: str | None = None) -> None:
        super().__init__(mode)
        if len(frames) == 0:
            raise ValueError("ArraySource needs at least one frame, got none")
        self._frames = frames
        self._cache: dict[Shape, np.ndarray] = {}
        self._bank: np.ndarray | None = None
        self._index = 0

    def bank(self, shape: Shape) -> np.ndarray:
        """All frames at ``shape``: ``(N, H, W, 3)`` uint8 (cached)."""
        if shape not in self._cache:
            self._cache[shape] = np.stack(
                [check_frame(f, shape, "ArraySource frame") for f in self._frames]
            )
        return self._cache[shape]

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._bank = self.bank(shape)
        self._index = int(rng.integers(len(self._bank)))
        return self._bank[self._index]

    def step(self, rng: np.random.Generator) -> np.ndarray:
        assert self._bank is not None, "reset() the source first"
        if self.mode == "step":
            self._index = int(rng.integers(len(self._bank)))
        elif self.mode == "video":
            self._index = (self._index + 1) % len(self._bank)
        return self._bank[self._index]


def as_source(obj: Any, mode: str | None = None) -> Source:
    """Adapt a user object to a :class:`Source`.

    Accepted: a :class:`Source`; any object with ``reset(rng, shape)`` and ``step(rng)`` (its
    frames are validated); a callable ``rng -> frame``; a NumPy array of frames ``(N, h, w, C)``
    or a list of frames; an iterator/generator of frames. Strings and paths are handled by
    :func:`rpgssm_env.wrappers.distractors.presets.make_source`.

    Raises:
        TypeError: ``obj`` is none of these.
    """
    if isinstance(obj, Source):
        if mode is not None:
            obj.mode = normalise_mode(mode)
        return obj
    if isinstance(obj, FrameSourceProtocol):
        src: Source = _Checked(obj)
    elif isinstance(obj, np.ndarray):
        if obj.ndim not in (3, 4):
            raise ValueError(
                f"an array of background frames must be (N, H, W, C) or (N, H, W), got shape "
                f"{obj.shape}"
            )
        src = ArraySource(list(obj))
    elif isinstance(obj, list | tuple):
        src = ArraySource(list(obj))
    elif callable(obj):
        src = CallableSource(obj)
    elif isinstance(obj, Iterable):
        src = IteratorSource(obj)
    else:
        raise TypeError(
            f"cannot use {obj!r} as a distractor source: pass a Source, an object with "
            "reset(rng, shape)/step(rng), a callable rng -> frame, an array or iterable of frames"
        )
    if mode is not None:
        src.mode = normalise_mode(mode)
    return src
