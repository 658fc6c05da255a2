"""MemoryCachedEpisodes: the windows of the source, each episode decoded once, a byte budget."""

from __future__ import annotations

import numpy as np
import pytest

from rpgssm_env.data.base import DataSpec
from rpgssm_env.data.cache import MemoryCachedEpisodes
from rpgssm_env.data.hdf5 import HDF5Episodes, HDF5EpisodeWriter
from rpgssm_env.data.windows import WindowBatcher

LENGTHS = (30, 17, 25, 40, 22, 31)
FRAME = (8, 8, 3)


@pytest.fixture
def h5(tmp_path):
    rng = np.random.default_rng(0)
    spec = DataSpec(
        obs_shape=FRAME,
        obs_dtype=np.dtype(np.uint8),
        action_shape=(1,),
        action_dtype=np.dtype(np.float32),
        state_dim=2,
        state_names=("a", "b"),
    )
    with HDF5EpisodeWriter(tmp_path / "d.h5", spec) as w:
        for T in LENGTHS:
            w.add_episode(
                {
                    "obs": rng.integers(0, 256, (T, *FRAME), dtype=np.uint8),
                    "actions": rng.normal(size=(T - 1, 1)).astype(np.float32),
                    "states": rng.normal(size=(T, 2)).astype(np.float32),
                }
            )
    return HDF5Episodes(tmp_path / "d.h5")


class CountingSource(HDF5Episodes):
    """Counts reads per episode."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.reads: dict[int, int] = {}

    def read(self, index, start=0, stop=None):
        self.reads[index] = self.reads.get(index, 0) + 1
        return super().read(index, start, stop)


def _same(a, b) -> None:
    for name in ("obs", "actions", "states"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (a.episode, a.start) == (b.episode, b.start)


def test_cache_serves_the_source_windows_and_decodes_each_episode_once(h5):
    src = CountingSource(h5.path)
    cache = MemoryCachedEpisodes(src, max_bytes=10**9)
    assert len(cache) == len(LENGTHS)
    assert cache.lengths().tolist() == list(LENGTHS)
    assert cache.spec == src.spec
    rng = np.random.default_rng(1)
    for _ in range(3):
        for i, T in enumerate(LENGTHS):
            start = int(rng.integers(0, T - 1))
            stop = int(rng.integers(start + 1, T + 1))
            _same(cache.read(i, start, stop), h5.read(i, start, stop))
        _same(cache.read(2), h5.read(2))
    assert src.reads == {i: 1 for i in range(len(LENGTHS))}  # one full read per episode
    seg = cache.read(0, 3, 9)
    assert not seg.obs.flags.writeable  # views of the cache cannot be changed by a caller
    with pytest.raises(IndexError, match="out of range"):
        cache.read(1, 10, LENGTHS[1] + 1)


def test_cache_keeps_to_its_byte_budget(h5):
    frame_bytes = int(np.prod(FRAME))
    budget = (LENGTHS[0] + LENGTHS[1]) * (frame_bytes + 4 + 8) + 10  # frames, actions, states
    src = CountingSource(h5.path)
    cache = MemoryCachedEpisodes(src, max_bytes=budget)
    for _ in range(2):
        for i in range(len(LENGTHS)):
            _same(cache.read(i, 1, 12), h5.read(i, 1, 12))
    assert 0 < cache.cached_bytes <= budget
    assert src.reads[0] == 1
    assert src.reads[1] == 1
    assert all(src.reads[i] == 2 for i in range(2, len(LENGTHS)))  # streamed every time
    # frames fit, frames + actions + states do not: one full read serves the first window, later
    # windows stream (the episode is not decoded whole again)
    tight = MemoryCachedEpisodes(CountingSource(h5.path), max_bytes=LENGTHS[0] * frame_bytes + 10)
    for _ in range(3):
        _same(tight.read(0, 2, 9), h5.read(0, 2, 9))
    assert tight.cached_bytes == 0
    assert tight.source.reads == {0: 3}
    off = MemoryCachedEpisodes(CountingSource(h5.path), max_bytes=0)
    off.read(0, 0, 5)
    off.read(0, 0, 5)
    assert off.cached_bytes == 0
    assert off.source.reads == {0: 2}
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCachedEpisodes(h5, max_bytes=-1)


def test_batches_through_the_cache_equal_batches_from_the_file(h5):
    plain = WindowBatcher(h5, batch_size=3, window=10, seed=4).infinite()
    cached = WindowBatcher(MemoryCachedEpisodes(h5, 10**9), batch_size=3, window=10, seed=4)
    for a, b in zip(range(12), cached.infinite()):
        a = next(plain)
        for k in ("obs", "actions", "states", "episode", "start"):
            np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
