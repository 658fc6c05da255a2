"""Episodes held in arrays: :class:`ArrayEpisodes` and :func:`load_npz`.

Array layout (``N`` episodes of ``T`` frames each):

* ``obs``: (N, T, H, W, C) uint8 in [0, 255] or float in [0, 1], or (N, T, D) float vectors;
* ``actions`` (optional): (N, T-1, A) float (continuous) or (N, T-1) integer (discrete);
  ``actions[:, i]`` drives ``z[i] -> z[i+1]``;
* ``states`` (optional): (N, T, S) true states;
* ``lengths`` (optional): (N,) valid frames per episode when shorter episodes are padded to T.

In a ``.npz`` file the arrays are stored under these names (``observations`` is accepted for
``obs``, ``state`` for ``states``). Uncompressed ``.npz`` members are memory-mapped, so a data set
larger than memory can be read lazily.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from rpgssm_env.data.base import DataSpec, Segment, StoredLengthsSource

__all__ = ["ArrayEpisodes", "load_npz"]


class ArrayEpisodes(StoredLengthsSource):
    """An :class:`EpisodeSource` over in-memory (or memory-mapped) arrays.

    Args:
        obs: (N, T, H, W, C) frames (uint8 or float) or (N, T, D) float vectors.
        actions: (N, T-1, A) float, (N, T-1) integer, or ``None``.
        states: (N, T, S), or ``None``.
        lengths: (N,) valid frames per episode (each in [1, T]); default all T.
        num_actions: number of discrete actions (default ``max(actions) + 1``).
        state_names: names of the state variables (S of them).
        metadata: free-form provenance copied into :attr:`spec`.

    Raises:
        ValueError: on inconsistent shapes or unsupported dtypes, naming what was expected.
    """

    def __init__(
        self,
        obs: np.ndarray,
        actions: np.ndarray | None = None,
        states: np.ndarray | None = None,
        *,
        lengths: np.ndarray | None = None,
        num_actions: int | None = None,
        state_names: tuple[str, ...] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(obs, np.ndarray):
            obs = np.asarray(obs)
        if obs.ndim not in (3, 5):
            raise ValueError(
                "obs must be (N, T, H, W, C) frames or (N, T, D) vectors, "
                f"got an array of shape {obs.shape}"
            )
        if obs.ndim == 5 and obs.dtype != np.uint8 and not np.issubdtype(obs.dtype, np.floating):
            raise ValueError(
                f"frames must be uint8 in [0, 255] or float in [0, 1], got {obs.dtype}"
            )
        if obs.ndim == 3 and not np.issubdtype(obs.dtype, np.floating):
            raise ValueError(f"vector observations must be float, got {obs.dtype}")
        N, T = obs.shape[:2]
        if N < 1 or T < 1:
            raise ValueError(f"obs must hold at least one episode of one frame, got {obs.shape}")
        action_shape: tuple[int, ...] | None = None
        action_dtype = None
        if actions is not None:
            actions = np.asarray(actions) if not isinstance(actions, np.ndarray) else actions
            if actions.shape[:2] != (N, T - 1) or actions.ndim not in (2, 3):
                raise ValueError(
                    f"actions must be (N, T-1, A) float or (N, T-1) int = ({N}, {T - 1}, ...), "
                    f"got shape {actions.shape}"
                )
            if actions.ndim == 2:
                if not np.issubdtype(actions.dtype, np.integer):
                    raise ValueError(
                        "actions of shape (N, T-1) are discrete and must be integers, "
                        f"got {actions.dtype}; use (N, T-1, A) for continuous actions"
                    )
                if actions.size and actions.min() < 0:
                    raise ValueError("discrete actions must be >= 0")
                action_shape = ()
                if num_actions is None:
                    num_actions = int(actions.max()) + 1 if actions.size else 1
                elif actions.size and actions.max() >= num_actions:
                    raise ValueError(
                        f"discrete actions must be < num_actions={num_actions}, "
                        f"got max {int(actions.max())}"
                    )
            else:
                if not np.issubdtype(actions.dtype, np.floating):
                    raise ValueError(
                        f"continuous actions (N, T-1, A) must be float, got {actions.dtype}"
                    )
                action_shape = (actions.shape[2],)
                num_actions = None
            action_dtype = actions.dtype
        if states is not None:
            states = np.asarray(states) if not isinstance(states, np.ndarray) else states
            if states.ndim != 3 or states.shape[:2] != (N, T):
                raise ValueError(
                    f"states must be (N, T, S) = ({N}, {T}, S), got shape {states.shape}"
                )
            if state_names is not None and len(state_names) != states.shape[2]:
                raise ValueError(
                    f"state_names must name {states.shape[2]} variables, got {len(state_names)}"
                )
        if lengths is None:
            self._lengths = np.full(N, T, dtype=np.int64)
        else:
            lengths = np.asarray(lengths, dtype=np.int64)
            if lengths.shape != (N,) or lengths.min() < 1 or lengths.max() > T:
                raise ValueError(f"lengths must be (N,) = ({N},) with values in [1, {T}]")
            self._lengths = lengths
        self.obs = obs
        self.actions = actions
        self.states = states
        self.spec = DataSpec(
            obs_shape=tuple(obs.shape[2:]),
            obs_dtype=obs.dtype,
            action_shape=action_shape,
            action_dtype=action_dtype,
            num_actions=num_actions,
            state_dim=None if states is None else states.shape[2],
            state_names=state_names,
            metadata=dict(metadata or {}),
        )

    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        """Frames ``[start, stop)`` of episode ``index`` and the actions between them."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"episode {index} out of range for {n} episodes")
        index = index % n
        length = self.episode_length(index)
        stop = length if stop is None else stop
        if not 0 <= start < stop <= length:
            raise IndexError(f"need 0 <= start < stop <= {length}, got [{start}, {stop})")
        actions = (
            None if self.actions is None else np.asarray(self.actions[index, start : stop - 1])
        )
        states = None if self.states is None else np.asarray(self.states[index, start:stop])
        return Segment(
            obs=np.asarray(self.obs[index, start:stop]),
            actions=actions,
            states=states,
            episode=index,
            start=start,
        )


def _npz_member_memmap(path: str, info: zipfile.ZipInfo) -> np.ndarray | None:
    """Memory-map one uncompressed ``.npy`` member of a zip file, or ``None`` when impossible."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        data_start = info.header_offset + 30 + name_len + extra_len
        f.seek(data_start)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
        if dtype.hasobject:
            return None
        offset = f.tell()
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )


_ALIASES = {"observations": "obs", "state": "states"}


def load_npz(
    path: str | os.PathLike,
    *,
    mmap: bool = True,
    state_names: tuple[str, ...] | None = None,
) -> ArrayEpisodes:
    """Open a ``.npz`` data set as :class:`ArrayEpisodes`.

    Args:
        path: file holding ``obs`` (or ``observations``) and optionally ``actions``, ``states``,
            ``lengths``, ``num_actions``, ``state_names``.
        mmap: memory-map uncompressed members (``np.savez``); compressed members
            (``np.savez_compressed``) are read into memory.
        state_names: names of the state variables (overrides ``state_names`` in the file).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable ``.npz`` or missing/inconsistent arrays.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist() if i.filename.endswith(".npy")}
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                arr = _npz_member_memmap(path, infos[key + ".npy"]) if mmap else None
                arrays[_ALIASES.get(key, key)] = data[key] if arr is None else arr
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from exc
    if "obs" not in arrays:
        raise ValueError(f"{path} holds no 'obs' array (found {sorted(arrays)})")
    num_actions = int(arrays["num_actions"]) if "num_actions" in arrays else None
    if state_names is None and "state_names" in arrays:
        state_names = tuple(str(s) for s in arrays["state_names"])
    return ArrayEpisodes(
        arrays["obs"],
        arrays.get("actions"),
        arrays.get("states"),
        lengths=arrays.get("lengths"),
        num_actions=num_actions,
        state_names=state_names,
        metadata={"path": path},
    )
