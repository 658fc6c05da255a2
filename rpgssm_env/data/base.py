"""Episode sources: the one interface every data set (``.npz`` arrays, HDF5, Minari) offers.

An *episode* is one rollout ``o_0, a_0, o_1, ..., a_{T-2}, o_{T-1}`` of ``T`` frames:

* ``obs``: (T, H, W, C) uint8 frames in [0, 255] (or float in [0, 1]), or (T, D) vectors;
* ``actions``: (T-1, A) float for continuous actions or (T-1,) int for discrete ones, or absent;
  ``actions[i]`` drives ``z[i] -> z[i+1]``;
* ``states``: (T, S) true low-dimensional states (for probes and plots), or absent;
* ``rewards``, ``terminations``, ``truncations``: (T-1,) or absent.

Training reads fixed-length *windows* of an episode (see :mod:`rpgssm_env.data.windows`). Sources
read lazily, so a data set larger than memory can be streamed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DataSpec", "EpisodeSource", "Segment"]


@dataclass(frozen=True)
class DataSpec:
    """What a data set holds.

    Attributes:
        obs_shape: shape of one observation, ``(H, W, C)`` for frames or ``(D,)`` for vectors.
        obs_dtype: ``np.uint8`` for frames in [0, 255], ``np.float32`` otherwise.
        action_shape: ``(A,)`` for continuous actions, ``()`` for discrete, ``None`` for none.
        action_dtype: float for continuous, integer for discrete actions.
        num_actions: number of discrete actions (``None`` when continuous or absent).
        state_dim: dimension ``S`` of the true state, or ``None`` when absent.
        state_names: names of the state variables, e.g. ``("theta", "omega")``.
        metadata: free-form provenance (env id, distractor, seed, ...).
    """

    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action_shape: tuple[int, ...] | None = None
    action_dtype: np.dtype | None = None
    num_actions: int | None = None
    state_dim: int | None = None
    state_names: tuple[str, ...] | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        return len(self.obs_shape) == 3

    @property
    def has_actions(self) -> bool:
        return self.action_shape is not None

    @property
    def discrete_actions(self) -> bool:
        return self.action_shape == ()


@dataclass
class Segment:
    """Frames ``[start, stop)`` of one episode (NumPy arrays).

    ``obs`` (L, ...), ``actions`` (L-1, ...) (the actions between those frames), ``states`` (L, S),
    each ``None`` when the data set does not hold it. ``episode`` and ``start`` say where it came
    from.
    """

    obs: np.ndarray
    actions: np.ndarray | None
    states: np.ndarray | None
    episode: int
    start: int


class EpisodeSource(ABC):
    """A read-only collection of episodes, read lazily by index."""

    spec: DataSpec

    @abstractmethod
    def __len__(self) -> int:
        """Number of episodes."""

    @abstractmethod
    def episode_length(self, index: int) -> int:
        """Number of frames ``T`` of episode ``index``."""

    @abstractmethod
    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        """Frames ``[start, stop)`` of episode ``index`` and the ``stop - start - 1`` actions
        between them."""

    def lengths(self) -> np.ndarray:
        """Frames per episode, (N,) int64."""
        return np.array([self.episode_length(i) for i in range(len(self))], dtype=np.int64)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open files."""

    def __enter__(self) -> EpisodeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoredLengthsSource(EpisodeSource):
    """An :class:`EpisodeSource` that holds its per-episode frame counts in ``self._lengths``
    ((N,) int64, set by the subclass's ``__init__``)."""

    _lengths: np.ndarray

    def __len__(self) -> int:
        return len(self._lengths)

    def episode_length(self, index: int) -> int:
        return int(self._lengths[index])

    def lengths(self) -> np.ndarray:
        return self._lengths.copy()
