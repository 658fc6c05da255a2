"""ArrayEpisodes, load_npz and WindowBatcher (batches without replacement, no same episode)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rpgssm_env.data.arrays import ArrayEpisodes, load_npz
from rpgssm_env.data.windows import (
    ShiftingBins,
    WindowBatcher,
    start_state_bins,
    start_state_groups,
)


def _episodes(N=10, T=23, frames=True, actions="continuous", seed=0):
    rng = np.random.default_rng(seed)
    obs = (
        rng.integers(0, 256, (N, T, 24, 24, 1), dtype=np.uint8)
        if frames
        else rng.normal(size=(N, T, 3)).astype(np.float32)
    )
    # encode (episode, time) in the states so every window can be checked against its source
    states = np.stack(np.meshgrid(np.arange(N), np.arange(T), indexing="ij"), -1).astype(np.float32)
    acts = None
    if actions == "continuous":
        acts = rng.normal(size=(N, T - 1, 2)).astype(np.float32)
    elif actions == "discrete":
        acts = rng.integers(0, 4, (N, T - 1))
    return ArrayEpisodes(obs, acts, states)


# -- ArrayEpisodes ---------------------------------------------------------------------------
def test_array_episodes_spec_and_read():
    src = _episodes(actions="discrete")
    assert len(src) == 10
    assert src.spec.obs_shape == (24, 24, 1)
    assert src.spec.discrete_actions
    assert src.spec.num_actions == 4
    seg = src.read(3, 5, 12)
    assert seg.obs.shape == (7, 24, 24, 1)
    assert seg.actions.shape == (6,)
    np.testing.assert_array_equal(seg.states[:, 1], np.arange(5, 12))
    with pytest.raises(IndexError):
        src.read(3, 5, 30)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs": np.zeros((2, 5, 4, 4))}, r"\(N, T, H, W, C\)"),
        ({"obs": np.zeros((2, 5, 24, 24, 1), np.int32)}, "uint8"),
        ({"obs": np.zeros((2, 5, 3), np.int64)}, "float"),
        ({"obs": np.zeros((2, 5, 3), np.float32), "actions": np.zeros((2, 5, 1))}, "T-1"),
        ({"obs": np.zeros((2, 5, 3), np.float32), "actions": np.zeros((2, 4))}, "integers"),
        ({"obs": np.zeros((2, 5, 3), np.float32), "states": np.zeros((2, 4, 1))}, r"\(N, T, S\)"),
        ({"obs": np.zeros((2, 5, 3), np.float32), "lengths": np.array([5, 9])}, "lengths"),
    ],
)
def test_array_episodes_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ArrayEpisodes(**kwargs)


@pytest.mark.parametrize("compressed", [False, True])
def test_load_npz(tmp_path, compressed):
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (4, 6, 24, 24, 1), dtype=np.uint8)
    actions = rng.normal(size=(4, 5, 2)).astype(np.float32)
    states = rng.normal(size=(4, 6, 2))
    path = tmp_path / "d.npz"
    save = np.savez_compressed if compressed else np.savez
    save(path, observations=obs, actions=actions, states=states, state_names=np.array(["a", "b"]))
    src = load_npz(path)
    assert isinstance(src.obs, np.memmap) != compressed  # uncompressed members are mmapped
    np.testing.assert_array_equal(src.read(2).obs, obs[2])
    np.testing.assert_array_equal(src.read(1, 1, 4).actions, actions[1, 1:3])
    assert src.spec.state_names == ("a", "b")
    assert src.spec.action_shape == (2,)


def test_load_npz_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable"):
        load_npz(bad)
    no_obs = tmp_path / "no_obs.npz"
    np.savez(no_obs, actions=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="'obs'"):
        load_npz(no_obs)


# -- WindowBatcher ---------------------------------------------------------------------------
def _epoch_items(batcher):
    return [list(zip(b["episode"].tolist(), b["start"].tolist())) for b in batcher]


def test_batches_without_replacement_and_distinct_episodes():
    src = _episodes(N=10, T=23)
    batcher = WindowBatcher(src, batch_size=4, window=5, seed=1)
    for _ in range(3):
        epoch = _epoch_items(batcher)
        assert len(epoch) >= 9  # 40 windows of 10 episodes, 4 per batch: at most 1 batch lost
        flat = list(itertools.chain.from_iterable(epoch))
        assert len(flat) == len(set(flat))  # without replacement within the epoch
        for batch in epoch:
            assert len({ep for ep, _ in batch}) == len(batch) == 4  # never one episode twice
        # windows of one episode do not overlap
        for ep in range(10):
            starts = sorted(s for e, s in flat if e == ep)
            assert all(b - a >= 5 for a, b in itertools.pairwise(starts))
            assert all(0 <= s <= 23 - 5 for s in starts)


def test_long_episodes_constraint_holds():
    """Few, long episodes: many windows each, still no episode twice in a batch."""
    src = _episodes(N=3, T=100, frames=False, actions=None)
    batcher = WindowBatcher(src, batch_size=3, window=10, seed=0)
    epoch = _epoch_items(batcher)
    assert len(epoch) == 10
    for batch in epoch:
        assert sorted(ep for ep, _ in batch) == [0, 1, 2]


def test_windows_per_episode_groups_non_overlapping_windows():
    """k windows of each of B / k episodes per batch: hard negatives that share the episode."""
    src = _episodes(N=12, T=47, frames=False, actions=None)  # 9 windows of 5 per episode
    batcher = WindowBatcher(src, batch_size=6, window=5, seed=2, windows_per_episode=3)
    assert len(batcher) == 12 * 9 // 6
    for _ in range(3):
        epoch = _epoch_items(batcher)
        assert len(epoch) >= len(batcher) - 2  # greedy dealing may strand a group or two
        flat = list(itertools.chain.from_iterable(epoch))
        assert len(flat) == len(set(flat))
        for batch in epoch:
            assert len(batch) == 6
            episodes = [ep for ep, _ in batch]
            assert sorted(episodes.count(e) for e in set(episodes)) == [3, 3]
            for e in set(episodes):
                starts = sorted(s for ep, s in batch if ep == e)
                assert all(b - a >= 5 for a, b in itertools.pairwise(starts))  # no overlap
    plain = WindowBatcher(src, batch_size=6, window=5, seed=2)
    assert all(len({ep for ep, _ in b}) == 6 for b in _epoch_items(plain))
    with pytest.raises(ValueError, match="divide batch_size"):
        WindowBatcher(src, batch_size=6, window=5, windows_per_episode=4)
    with pytest.raises(ValueError, match="episodes of >= 45 frames"):
        WindowBatcher(_episodes(N=12, T=40), batch_size=6, window=15, windows_per_episode=3)


def _start_spread_episodes(N=40, T=23, seed=0):
    """Episodes whose first state variable starts anywhere in [-2, 2] and drifts a little."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(-2.0, 2.0, N)
    x = start[:, None] + np.cumsum(rng.normal(0, 0.01, (N, T)), axis=1) - 0.0
    x[:, 0] = start
    states = np.stack([x, np.tile(np.arange(T), (N, 1))], -1).astype(np.float32)
    obs = rng.normal(size=(N, T, 3)).astype(np.float32)
    return ArrayEpisodes(obs, None, states, state_names=("x", "t")), start


def test_start_state_groups_and_grouped_batches():
    """A batch holds episodes of one start bin only; every window is still used once."""
    src, start = _start_spread_episodes()
    groups = start_state_groups(src, "x", 0.5)
    np.testing.assert_array_equal(groups, np.floor(start / 0.5).astype(np.int64))
    np.testing.assert_array_equal(start_state_groups(src, 0, 0.5), groups)
    counts = np.bincount(groups - groups.min())
    batch_size = int(counts[counts > 0].min())  # the smallest bin fills exactly one batch
    batcher = WindowBatcher(src, batch_size, window=5, seed=4, episode_groups=groups)
    plain = WindowBatcher(src, batch_size, window=5, seed=4)
    for _ in range(2):
        epoch = _epoch_items(batcher)
        flat = list(itertools.chain.from_iterable(epoch))
        assert len(flat) == len(set(flat))
        assert len(flat) >= 0.75 * 40 * 4  # 4 windows per episode: few stranded
        for batch in epoch:
            assert len({ep for ep, _ in batch}) == len(batch) == batch_size
            assert len({int(groups[ep]) for ep, _ in batch}) == 1
    mixed = [len({int(groups[ep]) for ep, _ in b}) for b in _epoch_items(plain)]
    assert max(mixed) > 1  # without groups, batches mix the bins
    batch = next(iter(batcher))
    first = batch["states"][:, 0, 0].numpy()
    assert np.ptp(first) < 0.5 + 0.2  # the windows' cart positions stay within about a bin


def test_shifting_bins_move_their_edges_every_epoch():
    """Bins whose edges move: each batch still spans under one bin width, but across epochs
    episodes on either side of any one edge share batches; resuming replays the same bins."""
    src, start = _start_spread_episodes(N=120)
    bins = start_state_bins(src, "x", 1.0)
    assert isinstance(bins, ShiftingBins)
    np.testing.assert_allclose(bins.keys, start, rtol=1e-6)
    batcher = WindowBatcher(src, 6, window=5, seed=5, episode_groups=bins)
    pairs = set()
    for _ in range(6):
        epoch = _epoch_items(batcher)
        assert len(epoch) >= 0.7 * 120 * 4 / 6  # small edge bins' windows wait
        for batch in epoch:
            x0 = start[[ep for ep, _ in batch]]
            assert np.ptp(x0) < 1.0
            pairs |= {(a, b) for a in np.floor(x0).astype(int) for b in np.floor(x0).astype(int)}
    assert any(a != b for a, b in pairs)  # batches across the integer edges: the bins moved
    fixed = WindowBatcher(src, 6, window=5, seed=5, episode_groups=np.floor(start).astype(int))
    fixed_pairs = {
        (int(np.floor(start[a])), int(np.floor(start[b])))
        for batch in _epoch_items(fixed) for a, _ in batch for b, _ in batch
    }  # fmt: skip
    assert all(a == b for a, b in fixed_pairs)
    # exact resumption: the same bins and batches after load_state_dict
    ref = WindowBatcher(src, 6, window=5, seed=5, episode_groups=bins)
    it = ref.infinite()
    seq = [next(it)["episode"] for _ in range(150)]
    other = WindowBatcher(src, 6, window=5, seed=5, episode_groups=bins)
    it_o = other.infinite()
    for _ in range(100):
        next(it_o)
    again = WindowBatcher(src, 6, window=5, seed=0, episode_groups=bins)
    again.load_state_dict(other.state_dict())
    it_a = again.infinite()
    for k in range(100, 150):
        torch.testing.assert_close(next(it_a)["episode"], seq[k])
    with pytest.raises(ValueError, match="bin width must be > 0"):
        ShiftingBins(start, 0.0)


def test_grouped_batches_errors():
    src, start = _start_spread_episodes()
    groups = np.floor(start / 0.5).astype(np.int64)
    smallest = int(np.bincount(groups - groups.min())[np.bincount(groups - groups.min()) > 0].min())
    with pytest.raises(ValueError, match=r"group\(s\) \[.*\] of episode_groups"):
        WindowBatcher(src, smallest + 1, window=5, episode_groups=groups)
    with pytest.raises(ValueError, match="40 integers"):
        WindowBatcher(src, 2, window=5, episode_groups=groups[:-1])
    with pytest.raises(ValueError, match="40 integers"):
        WindowBatcher(src, 2, window=5, episode_groups=start)
    with pytest.raises(ValueError, match="unknown state variable 'y'"):
        start_state_groups(src, "y", 0.5)
    with pytest.raises(ValueError, match="bin_width must be > 0"):
        start_state_groups(src, "x", 0.0)
    with pytest.raises(ValueError, match="out of range"):
        start_state_groups(src, 2, 0.5)
    no_states = ArrayEpisodes(np.zeros((4, 6, 3), np.float32))
    with pytest.raises(ValueError, match="true states"):
        start_state_groups(no_states, "x", 0.5)


def test_batch_contents_match_source():
    src = _episodes(N=6, T=12, actions="continuous")
    batcher = WindowBatcher(src, batch_size=3, window=4, seed=0)
    batch = next(iter(batcher))
    assert batch["obs"].dtype == torch.uint8
    assert batch["obs"].shape == (3, 4, 24, 24, 1)
    assert batch["actions"].shape == (3, 3, 2)
    assert batch["actions"].dtype == torch.float32
    for i in range(3):
        ep, start = int(batch["episode"][i]), int(batch["start"][i])
        np.testing.assert_array_equal(batch["obs"][i].numpy(), src.obs[ep, start : start + 4])
        np.testing.assert_array_equal(
            batch["actions"][i].numpy(), src.actions[ep, start : start + 3]
        )
        np.testing.assert_array_equal(batch["states"][i, :, 1].numpy(), np.arange(start, start + 4))
    discrete = WindowBatcher(_episodes(N=4, T=8, actions="discrete"), 2, 4)
    assert next(iter(discrete))["actions"].dtype == torch.int64


def test_offsets_vary_between_epochs_and_seed_repeats():
    src = _episodes(N=8, T=23)
    a = WindowBatcher(src, batch_size=4, window=5, seed=7)
    b = WindowBatcher(src, batch_size=4, window=5, seed=7)
    e1, e2 = _epoch_items(a), _epoch_items(a)
    assert e1 == _epoch_items(b)
    assert e2 == _epoch_items(b)
    starts1 = {s % 5 for batch in e1 for _, s in batch}
    starts2 = {s % 5 for batch in e2 for _, s in batch}
    assert len(starts1 | starts2) > 1  # random offsets, not always 0


@pytest.mark.parametrize("done", [11, 8, 16])  # mid-epoch, and right after an epoch's last batch
def test_infinite_and_resume(done):
    src = _episodes(N=8, T=23)  # 8 batches of 4 windows per epoch
    ref = WindowBatcher(src, batch_size=4, window=5, seed=3)
    it = ref.infinite()
    seq = [next(it) for _ in range(20)]  # several epochs
    assert ref.epoch >= 2
    b = WindowBatcher(src, batch_size=4, window=5, seed=3)
    it_b = b.infinite()
    for _ in range(done):
        next(it_b)
    state = b.state_dict()
    c = WindowBatcher(src, batch_size=4, window=5, seed=999)
    c.load_state_dict(state)
    it_c = c.infinite()
    for k in range(done, 20):
        got = next(it_c)
        torch.testing.assert_close(got["episode"], seq[k]["episode"])
        torch.testing.assert_close(got["start"], seq[k]["start"])


def test_too_few_episodes():
    src = _episodes(N=3, T=10)
    with pytest.raises(ValueError, match="at least 4 episodes"):
        WindowBatcher(src, batch_size=4, window=5)
    with pytest.raises(ValueError, match="at least 3 episodes"):
        WindowBatcher(src, batch_size=3, window=11)  # no episode is long enough
    with pytest.raises(ValueError, match="window"):
        WindowBatcher(src, batch_size=2, window=1)


def test_drop_last_false_keeps_every_window():
    src = _episodes(N=5, T=10)
    batcher = WindowBatcher(src, batch_size=2, window=5, seed=0, drop_last=False)
    flat = list(itertools.chain.from_iterable(_epoch_items(batcher)))
    assert sorted(flat) == sorted((e, s) for e in range(5) for s in (0, 5))
