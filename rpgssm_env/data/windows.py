"""Minibatches of fixed-length windows for training (spec section 3, "Batches").

Each epoch cuts every episode into non-overlapping windows of ``window`` frames, starting at a
random offset (so that different epochs see different cuts), shuffles them, and deals them into
batches of ``batch_size`` windows:

* every window is used at most once per epoch (drawn without replacement);
* a batch never holds two windows of the same episode (``windows_per_episode=1``, the default):
  data sets of short, independent episodes need nothing more;
* or, with ``windows_per_episode=k``, a batch holds ``B / k`` episodes with ``k`` NON-overlapping
  windows of each. The spec forbids overlapping windows only (a duplicated frame is a false
  negative in the contrastive softmax); windows of one episode at different times are true
  negatives that share everything constant within the episode (a start position, a target, a
  colour), so the softmax cannot tell those windows apart by such constants. Meant for long
  episodes whose constants identify them; measured on CartPole controller data it did not help
  (see the ``cartpole64`` preset's notes), so the default stays 1;
* with ``episode_groups`` (a group id per episode), a batch holds windows of one group only:
  every window's negatives then share what is constant within the group. Grouping episodes by
  a slow variable's start value (the cart position of CartPole episodes started anywhere on the
  track, see :func:`start_state_groups`) lets a data set cover a wide range of that variable
  while no batch can be told apart by it.

Batches are dicts of torch tensors: ``obs`` (B, W, ...) (dtype as stored: uint8 frames stay
uint8), ``actions`` (B, W-1, A) float32 or (B, W-1) int64, or ``None``, ``states`` (B, W, S)
float32 or ``None``, and ``episode``/``start`` (B,) int64 saying where each window came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from rpgssm_env.data.base import EpisodeSource

__all__ = ["ShiftingBins", "WindowBatcher", "start_state_bins", "start_state_groups"]


@dataclass(frozen=True)
class ShiftingBins:
    """Episode groups that change every epoch: bins of ``width`` over a per-episode ``keys``
    value, their edges shifted by a new uniform offset in ``[0, width)`` each epoch.

    Fixed bins never put two episodes from either side of an edge in one batch, so nothing ties
    what the model learns in one bin to the next; shifting edges do, over the epochs, while no
    batch spans more than ``width``. (Measured on CartPole starts over the track: no better than
    fixed bins, and the cart position still not one linear code; see the ``cartpole_track``
    preset's notes.)
    """

    keys: np.ndarray
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"bin width must be > 0, got {self.width}")

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """(N,) int64 groups with a fresh offset from ``rng``."""
        offset = rng.uniform(0.0, self.width)
        return np.floor((np.asarray(self.keys, np.float64) - offset) / self.width).astype(np.int64)


class WindowBatcher:
    """Batches of windows drawn without replacement, never two from one episode.

    Args:
        source: the episodes.
        batch_size: B, windows per batch.
        window: W, frames per window (>= 2). Episodes shorter than W are skipped.
        seed: seed of the batcher's own random generator.
        drop_last: drop the last, incomplete batch of each epoch (windows left over because
            their episodes already appear in every open batch are dropped too).
        shuffle: shuffle windows and draw random offsets; ``False`` gives a fixed order.
        windows_per_episode: k, non-overlapping windows of each episode in a batch (``B / k``
            episodes per batch; k must divide B). Windows of an episode left over after its
            groups of k wait for the next epoch's cut.
        episode_groups: (N,) integer group of each episode, :class:`ShiftingBins` (groups
            drawn anew every epoch; windows of a group too small for a batch wait for the next
            epoch), or ``None`` (one group): a batch holds windows of one group only.

    Raises:
        ValueError: when fewer than B / k episodes hold k windows of W frames (in some group),
            k does not divide B, or ``episode_groups`` is not one integer per episode.
    """

    def __init__(
        self,
        source: EpisodeSource,
        batch_size: int,
        window: int,
        seed: int = 0,
        drop_last: bool = True,
        shuffle: bool = True,
        windows_per_episode: int = 1,
        episode_groups: np.ndarray | ShiftingBins | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if window < 2:
            raise ValueError(f"window must be >= 2 frames, got {window}")
        k = int(windows_per_episode)
        if k < 1 or batch_size % k:
            raise ValueError(
                f"windows_per_episode must be >= 1 and divide batch_size={batch_size}, got {k}"
            )
        self.windows_per_episode = k
        self.source = source
        self.batch_size = int(batch_size)
        self.window = int(window)
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._epoch_rng_state = self.rng.bit_generator.state
        self._position = 0  # batches already yielded in the current epoch
        self._skip = 0  # batches to skip (after load_state_dict)
        self._lengths = np.asarray(source.lengths(), dtype=np.int64)
        self._eligible = np.flatnonzero(self._lengths >= k * self.window)
        self._bins = episode_groups if isinstance(episode_groups, ShiftingBins) else None
        if self._bins is not None:
            episode_groups = self._bins.draw(np.random.default_rng(0))  # one example draw
        self._group_ids, self._group_of = self._episode_groups(episode_groups)
        needed = batch_size // k
        counts = np.bincount(self._group_of[self._eligible], minlength=1)
        short = np.flatnonzero((counts > 0) & (counts < needed))
        if self._bins is not None and counts.max() >= needed:
            short = short[:0]  # small bins at the edges: their windows wait for other offsets
        if len(self._eligible) < needed or len(short):
            where = (
                f"but group(s) {self._group_ids[short].tolist()} of episode_groups have "
                f"{counts[short].tolist()}"
                if len(short) and episode_groups is not None
                else f"but the source has {len(self._eligible)}"
            )
            raise ValueError(
                f"batch_size={batch_size} with windows_per_episode={k} needs at least {needed} "
                f"episodes of >= {k * window} frames in every group of batches (a batch never "
                f"holds two groups of windows of one episode), {where} such episodes out of "
                f"{len(self._lengths)}"
            )

    def _episode_groups(self, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The distinct group ids and (N,) int64 index of each episode's group among them
        (one group without ``groups``), checked."""
        if groups is None:
            return np.zeros(1, dtype=np.int64), np.zeros(len(self._lengths), dtype=np.int64)
        arr = np.asarray(groups)
        if arr.shape != self._lengths.shape or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"episode_groups must be {len(self._lengths)} integers (one per episode), got "
                f"shape {arr.shape} dtype {arr.dtype}"
            )
        ids, codes = np.unique(arr, return_inverse=True)
        return ids, codes.astype(np.int64).reshape(-1)

    # -- epochs ----------------------------------------------------------------------------
    def _windows(self) -> list[tuple[int, int]]:
        """(episode, start) of every window of one epoch, shuffled."""
        out: list[tuple[int, int]] = []
        W = self.window
        for ep in self._eligible:
            length = int(self._lengths[ep])
            count = length // W
            slack = length - count * W
            offset = int(self.rng.integers(0, slack + 1)) if self.shuffle else 0
            out.extend((int(ep), offset + k * W) for k in range(count))
        if self.shuffle:
            order = self.rng.permutation(len(out))
            out = [out[i] for i in order]
        return out

    def _groups(self) -> list[list[tuple[int, int]]]:
        """The epoch's windows in groups of k from one episode (k = ``windows_per_episode``)."""
        k = self.windows_per_episode
        by_episode: dict[int, list[tuple[int, int]]] = {}
        groups: list[list[tuple[int, int]]] = []
        for w in self._windows():  # shuffled order: each group is a random k-subset of its episode
            items = by_episode.setdefault(w[0], [])
            items.append(w)
            if len(items) == k:
                groups.append(sorted(items, key=lambda x: x[1]))
                by_episode[w[0]] = []
        return groups

    def _batches(self) -> Iterator[list[tuple[int, int]]]:
        """Deal groups greedily into open batches (of the episode's group of episodes) that do
        not yet hold their episode."""
        open_by_group: dict[int, list[tuple[list[tuple[int, int]], set[int]]]] = {}
        group_of = self._group_of if self._bins is None else self._bins.draw(self.rng)
        for group in self._groups():
            ep = group[0][0]
            open_batches = open_by_group.setdefault(int(group_of[ep]), [])
            for i, (items, episodes) in enumerate(open_batches):
                if ep not in episodes:
                    items.extend(group)
                    episodes.add(ep)
                    if len(items) == self.batch_size:
                        del open_batches[i]
                        yield items
                    break
            else:
                if len(group) == self.batch_size:
                    yield list(group)
                else:
                    open_batches.append((list(group), {ep}))
        if not self.drop_last:
            for open_batches in open_by_group.values():
                for items, _ in open_batches:
                    yield items

    def __iter__(self) -> Iterator[dict[str, torch.Tensor | None]]:
        """One epoch of batches."""
        self._epoch_rng_state = self.rng.bit_generator.state
        skip, self._skip = self._skip, 0
        self._position = 0
        for items in self._batches():
            self._position += 1
            if self._position <= skip:
                continue
            yield self.collate(items)
        self.epoch += 1
        self._position = 0

    def __len__(self) -> int:
        """Upper bound on the number of batches per epoch."""
        k = self.windows_per_episode
        total = k * int((self._lengths[self._eligible] // (k * self.window)).sum())
        return total // self.batch_size if self.drop_last else -(-total // self.batch_size)

    def infinite(self) -> Iterator[dict[str, torch.Tensor | None]]:
        """Batches forever, epoch after epoch (what the trainer reads)."""
        while True:
            empty, resuming = True, self._skip > 0
            for batch in self:
                empty = False
                yield batch
            # resumed after an epoch's last batch: that epoch has nothing left, the next starts
            if empty and not resuming:  # pragma: no cover - guarded by the constructor
                raise RuntimeError("an epoch produced no batch")

    # -- reading ---------------------------------------------------------------------------
    def collate(self, items: list[tuple[int, int]]) -> dict[str, torch.Tensor | None]:
        """Read windows ``(episode, start)`` and stack them into a batch of tensors."""
        segs = [self.source.read(ep, start, start + self.window) for ep, start in items]
        obs = torch.from_numpy(np.stack([s.obs for s in segs]))
        if obs.dtype == torch.float64:
            obs = obs.float()
        actions = None
        if segs[0].actions is not None:
            a = np.stack([s.actions for s in segs])
            actions = (
                torch.from_numpy(a.astype(np.int64))
                if np.issubdtype(a.dtype, np.integer)
                else torch.from_numpy(a.astype(np.float32))
            )
        states = None
        if segs[0].states is not None:
            states = torch.from_numpy(np.stack([s.states for s in segs]).astype(np.float32))
        return {
            "obs": obs,
            "actions": actions,
            "states": states,
            "episode": torch.tensor([s.episode for s in segs], dtype=torch.int64),
            "start": torch.tensor([s.start for s in segs], dtype=torch.int64),
        }

    def state_dict(self) -> dict:
        """Where the batcher stands: the RNG state at the start of the current epoch, the epoch
        and the batches already yielded in it. :meth:`load_state_dict` then replays the same
        epoch from the next batch on (exact resumption)."""
        return {
            "rng": self._epoch_rng_state if self._position else self.rng.bit_generator.state,
            "epoch": self.epoch,
            "position": self._position,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the next epoch iterated resumes at the saved batch."""
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
        self._skip = int(state.get("position", 0))
        self._position = 0


def start_values(source: EpisodeSource, state: str | int) -> np.ndarray:
    """(N,) float64 first-frame value of one state variable (by name or index) per episode.

    Raises:
        ValueError: the source holds no states, or an unknown variable.
    """
    spec = source.spec
    if spec.state_dim is None:
        raise ValueError("grouping by a start state needs a data set with true states")
    names = tuple(spec.state_names or ())
    if isinstance(state, str):
        if state not in names:
            raise ValueError(f"unknown state variable {state!r}: the data set has {names}")
        index = names.index(state)
    else:
        index = int(state)
        if not 0 <= index < spec.state_dim:
            raise ValueError(f"state index {index} out of range for {spec.state_dim} variables")
    return np.array([source.read(i, 0, 1).states[0, index] for i in range(len(source))], float)


def start_state_groups(source: EpisodeSource, state: str | int, bin_width: float) -> np.ndarray:
    """Group episodes by the start value of one state variable, in fixed bins of ``bin_width``.

    Args:
        source: episodes with true states.
        state: the variable, by name (``source.spec.state_names``) or index.
        bin_width: width of a bin, in the variable's units (> 0); episode ``i`` goes to group
            ``floor(s_i / bin_width)``, ``s_i`` its first frame's value.

    Returns:
        (N,) int64 group ids, for :class:`WindowBatcher`'s ``episode_groups``.

    Raises:
        ValueError: the source holds no states, an unknown variable, or ``bin_width <= 0``.
    """
    if not bin_width > 0:
        raise ValueError(f"bin_width must be > 0, got {bin_width}")
    return np.floor(start_values(source, state) / bin_width).astype(np.int64)


def start_state_bins(source: EpisodeSource, state: str | int, bin_width: float) -> ShiftingBins:
    """Like :func:`start_state_groups`, with bin edges shifted anew every epoch
    (:class:`ShiftingBins`)."""
    return ShiftingBins(start_values(source, state), float(bin_width))
