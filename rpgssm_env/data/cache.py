"""An in-memory cache in front of a lazy episode source: :class:`MemoryCachedEpisodes`.

Training reads the same episodes epoch after epoch. From a compressed HDF5 file every window
costs a decompression of its chunks (about a quarter of a pretraining step for 64x64 colour
frames on a CPU); the cache decompresses each episode once and serves later windows as slices.
Episodes beyond the byte budget are read from the source as before, so data sets larger than
memory still stream.
"""

from __future__ import annotations

import numpy as np

from rpgssm_env.data.base import EpisodeSource, Segment, StoredLengthsSource

__all__ = ["MemoryCachedEpisodes"]


class MemoryCachedEpisodes(StoredLengthsSource):
    """Whole episodes of ``source`` kept in memory after their first read, up to ``max_bytes``.

    Args:
        source: the episodes (any :class:`EpisodeSource`).
        max_bytes: memory budget in bytes for cached arrays (frames, actions and states);
            episodes that no longer fit are read from ``source`` on every access.

    The cached arrays are read-only; :meth:`read` returns views of them.
    """

    def __init__(self, source: EpisodeSource, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.source = source
        self.spec = source.spec
        self.max_bytes = int(max_bytes)
        self.cached_bytes = 0
        self._lengths = np.asarray(source.lengths(), dtype=np.int64)
        self._episodes: dict[int, Segment] = {}
        self._streamed: set[int] = set()  # episodes that did not fit (the cache only grows)
        frame = int(np.prod(self.spec.obs_shape)) * np.dtype(self.spec.obs_dtype).itemsize
        self._frame_bytes = max(frame, 1)

    def _episode(self, index: int) -> Segment | None:
        """The whole episode (cached, or read now and too large to keep), or ``None``: stream."""
        seg = self._episodes.get(index)
        if seg is not None or index in self._streamed:
            return seg
        if self.cached_bytes + self.episode_length(index) * self._frame_bytes > self.max_bytes:
            self._streamed.add(index)  # the frames alone no longer fit
            return None
        seg = self.source.read(index)
        arrays = [a for a in (seg.obs, seg.actions, seg.states) if a is not None]
        size = sum(a.nbytes for a in arrays)
        if self.cached_bytes + size > self.max_bytes:
            self._streamed.add(index)
            return seg  # serve this read from it; later reads stream
        for a in arrays:
            a.setflags(write=False)
        self.cached_bytes += size
        self._episodes[index] = seg
        return seg

    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        """Frames ``[start, stop)`` of episode ``index`` (views of the cached episode)."""
        index = int(index)
        seg = self._episode(index)
        if seg is None:
            return self.source.read(index, start, stop)
        length = self.episode_length(index)
        stop = length if stop is None else stop
        if not 0 <= start < stop <= length:
            raise IndexError(
                f"frames [{start}, {stop}) out of range for episode of {length} frames"
            )
        return Segment(
            obs=seg.obs[start:stop],
            actions=None if seg.actions is None else seg.actions[start : stop - 1],
            states=None if seg.states is None else seg.states[start:stop],
            episode=index,
            start=start,
        )

    def close(self) -> None:
        self._episodes.clear()
        self._streamed.clear()
        self.cached_bytes = 0
        self.source.close()
