"""Writing rollouts as a Minari 0.5 dataset (HDF5 backend), atomically.

Minari stores each episode as ``episode_{i}/observations`` (T, ...), ``actions`` (T-1, ...),
``rewards``, ``terminations``, ``truncations`` (T-1,) and ``infos/state`` (T, S) in
``<dataset>/data/main_data.hdf5`` with ``<dataset>/data/metadata.json`` beside it. We write
*lossless* frames (``jpeg_encoding=False``: Minari's default re-encodes every image as JPEG,
which changes pixels), streaming one episode at a time into a temporary folder that is renamed
into place when complete. :class:`rpgssm_env.data.minari_source.MinariEpisodes` reads the
result without Minari or Gymnasium; ``minari.MinariDataset(path)`` loads it too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["write_minari"]


def write_minari(
    out: Path,
    env: gym.Env,
    episodes: Iterable[tuple[int, dict[str, np.ndarray]]],
    provenance: dict[str, Any],
) -> Path:
    """Write ``(seed, episode)`` pairs as a Minari dataset folder ``out`` (replaced if present).

    Returns:
        ``out``.
    """
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        data_path = tmp / "data"
        storage = MinariStorage.new(
            data_path,
            observation_space=env.observation_space,
            action_space=env.action_space,
            env_spec=env.spec,
            data_format="hdf5",
            jpeg_encoding=False,
        )
        dataset_id = str(provenance.get("env_id", "rpgssm")).replace("/", "-") + "/collect-v0"
        storage.update_metadata(
            {
                "dataset_id": dataset_id,
                "algorithm_name": str(provenance.get("policy")),
                "description": f"rpgssm collect: {provenance}",
                "minari_version": __import__("minari").__version__,
            }
        )
        for i, (seed, ep) in enumerate(episodes):
            infos = {"state": ep["states"]} if "states" in ep else {}
            storage.update_episodes(
                [
                    EpisodeBuffer(
                        id=i,
                        seed=int(seed),
                        observations=ep["obs"],
                        actions=ep["actions"],
                        rewards=ep["rewards"],
                        terminations=ep["terminations"],
                        truncations=ep["truncations"],
                        infos=infos,
                    )
                ]
            )
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
