"""Lazy :class:`EpisodeSource` over a Minari 0.5 HDF5 dataset, read with h5py only.

Reads ``<dataset>/data/main_data.hdf5`` (or the folder ``data`` itself, or the file): groups
``episode_{i}`` with ``observations`` (T, ...), ``actions`` (T-1, ...) and ``infos/state``
(T, S) (written by ``rpgssm collect --format minari``). Image observations must be stored raw
(``jpeg_encoding=False``); JPEG-encoded Minari datasets are rejected with a clear error.
Neither Minari nor Gymnasium is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rpgssm_env.data.base import DataSpec, Segment
from rpgssm_env.data.hdf5 import LazyHDF5Source

__all__ = ["MinariEpisodes", "find_minari_file", "is_minari_dataset"]


def find_minari_file(path: str | os.PathLike) -> Path | None:
    """The ``main_data.hdf5`` of a Minari dataset at ``path`` (folder, ``data`` folder or file)."""
    p = Path(path)
    for cand in (p, p / "main_data.hdf5", p / "data" / "main_data.hdf5"):
        if cand.is_file() and cand.name == "main_data.hdf5":
            return cand
    return None


def is_minari_dataset(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a Minari HDF5 dataset."""
    return find_minari_file(path) is not None


def _minari_root() -> Path:
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))


class MinariEpisodes(LazyHDF5Source):
    """Episodes of a Minari dataset (HDF5 backend), read lazily.

    Args:
        path: the dataset folder (holding ``data/main_data.hdf5``), its ``data`` folder, the
            file itself, or a dataset id found under ``$MINARI_DATASETS_PATH``
            (default ``~/.minari/datasets``).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        file = find_minari_file(path)
        if file is None:
            file = find_minari_file(_minari_root() / str(path))
        if file is None:
            raise FileNotFoundError(f"no Minari dataset (data/main_data.hdf5) at {path}")
        self.path = file
        self._init_handle()
        f = self._handle()
        names = [k for k in f if k.startswith("episode_")]
        self._names = sorted(names, key=lambda k: int(k.split("_")[1]))
        if not self._names:
            raise ValueError(f"Minari dataset {file} holds no episodes")
        self._lengths = np.array(
            [f[n]["observations"].shape[0] for n in self._names], dtype=np.int64
        )
        self.metadata: dict[str, Any] = {}
        meta = file.parent / "metadata.json"
        if meta.is_file():
            self.metadata = json.loads(meta.read_text())
        g = f[self._names[0]]
        obs = g["observations"]
        if obs.dtype.kind == "O" or (
            obs.ndim == 2
            and obs.dtype == np.uint8
            and "image" in str(self.metadata.get("observation_space", ""))
        ):
            raise ValueError(
                f"{file} stores JPEG-encoded frames (Minari's default); write it with "
                "jpeg_encoding=False (rpgssm collect --format minari does)"
            )
        act = g.get("actions")
        state = g["infos"]["state"] if "infos" in g and "state" in g["infos"] else None
        discrete = act is not None and act.ndim == 1 and act.dtype.kind in "iu"
        self.spec = DataSpec(
            obs_shape=tuple(obs.shape[1:]),
            obs_dtype=np.dtype(obs.dtype),
            action_shape=None if act is None else (() if discrete else tuple(act.shape[1:])),
            action_dtype=None if act is None else np.dtype(act.dtype),
            num_actions=None,
            state_dim=None if state is None else int(state.shape[1]),
            state_names=None,
            metadata=self.metadata,
        )

    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        g = self._handle()[self._names[index]]
        n = self.episode_length(index)
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise IndexError(f"frames [{start}, {stop}) out of range for episode of {n} frames")
        actions = g["actions"][start : stop - 1] if "actions" in g else None
        states = None
        if "infos" in g and "state" in g["infos"]:
            states = g["infos"]["state"][start:stop]
        return Segment(
            obs=g["observations"][start:stop],
            actions=actions,
            states=states,
            episode=index,
            start=start,
        )
