"""``open_dataset(path)``: one entry point for every data set format.

* ``*.npz`` -> :func:`rpgssm_env.data.arrays.load_npz` (plain arrays ``obs``, ``actions``,
  ``states``);
* an rpgssm HDF5 file (``rpgssm collect --format hdf5``), or a folder holding ``episodes.h5``
  -> :class:`rpgssm_env.data.hdf5.HDF5Episodes`;
* a Minari dataset folder / ``main_data.hdf5`` / dataset id ->
  :class:`rpgssm_env.data.minari_source.MinariEpisodes`.
"""

from __future__ import annotations

import os
from pathlib import Path

from rpgssm_env.data.base import EpisodeSource

__all__ = ["open_dataset"]


def open_dataset(path: str | os.PathLike) -> EpisodeSource:
    """Open the data set at ``path`` as a lazily read :class:`EpisodeSource`.

    Raises:
        FileNotFoundError: nothing at ``path``. ValueError: a file of an unknown format.
    """
    p = Path(path)
    if p.suffix.lower() == ".npz":
        from rpgssm_env.data.arrays import load_npz

        return load_npz(p)
    from rpgssm_env.data.hdf5 import HDF5Episodes, is_rpgssm_hdf5
    from rpgssm_env.data.minari_source import MinariEpisodes, is_minari_dataset

    if p.is_dir() and (p / "episodes.h5").is_file():
        return HDF5Episodes(p / "episodes.h5")
    if p.is_file() and is_rpgssm_hdf5(p):
        return HDF5Episodes(p)
    if is_minari_dataset(p):
        return MinariEpisodes(p)
    if not p.exists():
        try:  # a Minari dataset id under $MINARI_DATASETS_PATH
            return MinariEpisodes(str(path))
        except FileNotFoundError:
            raise FileNotFoundError(f"no data set at {p}") from None
    raise ValueError(
        f"cannot open {p}: expected a .npz file, an rpgssm HDF5 file (or a folder with "
        "episodes.h5), or a Minari dataset folder"
    )
