"""Episodes in chunked, compressed HDF5 (written by ``rpgssm collect --format hdf5``).

Layout (format ``"rpgssm-episodes"``, version 1)::

    /                       attrs: format, version, n_episodes, spec (JSON: DataSpec fields),
                                   provenance (JSON: env id and kwargs, policy, seed, versions)
    /episodes/000000        attrs: length T, seed
        obs                 (T, H, W, C) uint8, chunks (min(T, 16), H, W, C), gzip
        actions             (T-1, A) float32 or (T-1,) int64
        rewards             (T-1,) float32
        terminations        (T-1,) bool
        truncations         (T-1,) bool
        states              (T, S) float32 (true low-dimensional state, see rpgssm_env.envs.states)

Files are written to a temporary file in the destination folder and moved into place with
:func:`os.replace` when complete, so a crash never leaves a partial data set under the final
name. :class:`HDF5Episodes` reads lazily: only the frames asked for are decompressed.

No Gymnasium here (core-level module).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from rpgssm_env.data.base import DataSpec, Segment, StoredLengthsSource

__all__ = ["FORMAT", "HDF5EpisodeWriter", "HDF5Episodes", "is_rpgssm_hdf5", "spec_from_json"]

FORMAT = "rpgssm-episodes"
VERSION = 1
TIME_CHUNK = 16


def spec_to_json(spec: DataSpec) -> str:
    """Serialise a :class:`DataSpec` (dtypes as strings)."""
    return json.dumps(
        {
            "obs_shape": list(spec.obs_shape),
            "obs_dtype": np.dtype(spec.obs_dtype).str,
            "action_shape": None if spec.action_shape is None else list(spec.action_shape),
            "action_dtype": None if spec.action_dtype is None else np.dtype(spec.action_dtype).str,
            "num_actions": spec.num_actions,
            "state_dim": spec.state_dim,
            "state_names": None if spec.state_names is None else list(spec.state_names),
            "metadata": spec.metadata,
        },
        default=str,
    )


def spec_from_json(text: str) -> DataSpec:
    """Inverse of :func:`spec_to_json`."""
    d = json.loads(text)
    return DataSpec(
        obs_shape=tuple(d["obs_shape"]),
        obs_dtype=np.dtype(d["obs_dtype"]),
        action_shape=None if d["action_shape"] is None else tuple(d["action_shape"]),
        action_dtype=None if d["action_dtype"] is None else np.dtype(d["action_dtype"]),
        num_actions=d.get("num_actions"),
        state_dim=d.get("state_dim"),
        state_names=None if d.get("state_names") is None else tuple(d["state_names"]),
        metadata=d.get("metadata") or {},
    )


def is_rpgssm_hdf5(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file in this module's format."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


class HDF5EpisodeWriter:
    """Append episodes to a new HDF5 data set, atomically published on :meth:`close`.

    Use as a context manager: on an exception the temporary file is deleted and nothing appears
    at ``path``.

    Args:
        path: destination file (``.h5``); replaced if it exists.
        spec: what the episodes hold (shapes, dtypes, state names, metadata).
        compression: ``"gzip"`` (default; level ``compression_opts``), ``"lzf"`` or ``None``.
        provenance: JSON-serialisable description of how the data was made.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        spec: DataSpec,
        *,
        compression: str | None = "gzip",
        compression_opts: int | None = 4,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)
        self.spec = spec
        self.compression = compression
        self.compression_opts = compression_opts if compression == "gzip" else None
        self._file = h5py.File(self._tmp, "w")
        self._file.attrs["format"] = FORMAT
        self._file.attrs["version"] = VERSION
        self._file.attrs["spec"] = spec_to_json(spec)
        self._file.attrs["provenance"] = json.dumps(provenance or {}, default=str)
        self._episodes = self._file.create_group("episodes")
        self.n_episodes = 0

    def _dataset(self, group: h5py.Group, name: str, data: np.ndarray, chunk: bool) -> None:
        kwargs: dict[str, Any] = {}
        if chunk and data.size and data.shape[0] > 0:
            kwargs = {
                "chunks": (min(len(data), TIME_CHUNK), *data.shape[1:]),
                "compression": self.compression,
                "compression_opts": self.compression_opts,
            }
        group.create_dataset(name, data=data, **kwargs)

    def add_episode(self, episode: dict[str, np.ndarray], seed: int | None = None) -> int:
        """Write one episode.

        Args:
            episode: ``obs`` (T, ...) and optionally ``actions`` (T-1, ...), ``rewards``,
                ``terminations``, ``truncations`` (T-1,), ``states`` (T, S).
            seed: the reset seed of the episode (stored as an attribute).

        Returns:
            The episode's index.
        """
        obs = np.asarray(episode["obs"])
        if obs.shape[1:] != tuple(self.spec.obs_shape):
            raise ValueError(f"episode obs shape {obs.shape} does not match {self.spec.obs_shape}")
        g = self._episodes.create_group(f"{self.n_episodes:06d}")
        g.attrs["length"] = len(obs)
        if seed is not None:
            g.attrs["seed"] = int(seed)
        self._dataset(g, "obs", obs.astype(self.spec.obs_dtype, copy=False), chunk=True)
        for key in ("actions", "rewards", "terminations", "truncations", "states"):
            if episode.get(key) is not None:
                self._dataset(g, key, np.asarray(episode[key]), chunk=False)
        self.n_episodes += 1
        return self.n_episodes - 1

    def close(self) -> Path:
        """Finish the file and move it to ``path``."""
        if self._file:
            self._file.attrs["n_episodes"] = self.n_episodes
            self._file.close()
            os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file: nothing is written at ``path``."""
        with contextlib.suppress(Exception):
            self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> HDF5EpisodeWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class LazyHDF5Source(StoredLengthsSource):
    """Base of the HDF5-backed sources: a read-only handle opened on first use and reopened after
    a ``fork`` (h5py handles do not survive one), and per-episode lengths held in memory.

    Subclasses set ``self.path`` and ``self._lengths`` ((N,) int64) in ``__init__`` after calling
    :meth:`_init_handle`.
    """

    path: Path
    _lengths: np.ndarray

    def _init_handle(self) -> None:
        self._pid = -1
        self._file: h5py.File | None = None

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state


class HDF5Episodes(LazyHDF5Source):
    """Lazy :class:`EpisodeSource` over a file written by :class:`HDF5EpisodeWriter`.

    The file stays open (read-only) until :meth:`close`; :meth:`read` decompresses only the
    chunks covering ``[start, stop)``, so data sets larger than memory can be streamed. After a
    ``fork`` the handle is reopened in the child.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"HDF5 data set not found: {self.path}")
        self._init_handle()
        f = self._handle()
        if f.attrs.get("format") != FORMAT:
            raise ValueError(
                f"{self.path} is not an rpgssm episodes file (attribute format="
                f"{f.attrs.get('format')!r}, expected {FORMAT!r})"
            )
        self.spec = spec_from_json(f.attrs["spec"])
        self.provenance: dict[str, Any] = json.loads(f.attrs.get("provenance", "{}"))
        self._names = sorted(f["episodes"].keys())
        self._lengths = np.array(
            [int(f["episodes"][n].attrs["length"]) for n in self._names], dtype=np.int64
        )

    def _group(self, index: int) -> h5py.Group:
        return self._handle()["episodes"][self._names[index]]

    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        g = self._group(index)
        n = self.episode_length(index)
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise IndexError(f"frames [{start}, {stop}) out of range for episode of {n} frames")
        actions = g["actions"][start : stop - 1] if "actions" in g else None
        states = g["states"][start:stop] if "states" in g else None
        return Segment(
            obs=g["obs"][start:stop], actions=actions, states=states, episode=index, start=start
        )

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """Every array of episode ``index`` (``obs``, ``actions``, ``rewards``, ...)."""
        g = self._group(index)
        return {k: g[k][()] for k in g}
