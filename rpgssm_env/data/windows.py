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
  (see the ``cartpole64`` preset's notes), so the default stays 1.

Batches are dicts of torch tensors: ``obs`` (B, W, ...) (dtype as stored: uint8 frames stay
uint8), ``actions`` (B, W-1, A) float32 or (B, W-1) int64, or ``None``, ``states`` (B, W, S)
float32 or ``None``, and ``episode``/``start`` (B,) int64 saying where each window came from.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from rpgssm_env.data.base import EpisodeSource

__all__ = ["WindowBatcher"]


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

    Raises:
        ValueError: when fewer than B / k episodes hold k windows of W frames, or k does not
            divide B.
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
        groups = batch_size // k
        if len(self._eligible) < groups:
            raise ValueError(
                f"batch_size={batch_size} with windows_per_episode={k} needs at least {groups} "
                f"episodes of >= {k * window} frames (a batch never holds two groups of one "
                f"episode), but the source has {len(self._eligible)} such episodes out of "
                f"{len(self._lengths)}"
            )

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
        """Deal groups greedily into open batches that do not yet hold their episode."""
        open_batches: list[tuple[list[tuple[int, int]], set[int]]] = []
        for group in self._groups():
            ep = group[0][0]
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
