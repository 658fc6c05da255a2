"""Shared helpers of the pretraining benchmarks: cached data sets and compact figures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_CACHE = Path(os.environ.get("RPGSSM_CACHE", Path.home() / ".cache" / "rpgssm-env"))


def cached_rollouts(
    cache: Path,
    name: str,
    env_id: str,
    episodes: int,
    *,
    seed: int,
    env_kwargs: dict[str, Any],
    policy: str = "random",
    max_steps: int | None = None,
    workers: int = 1,
) -> Path:
    """Collect ``episodes`` rollouts into ``cache/name.h5`` unless the file exists."""
    path = Path(cache) / f"{name}.h5"
    if not path.exists():
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        from rpgssm_env.envs.collect import write_dataset

        print(f"collecting {episodes} episodes of {env_id} {env_kwargs} -> {path}", flush=True)
        write_dataset(path, env_id, episodes, policy=policy, seed=seed, workers=workers,
                      env_kwargs=env_kwargs, max_steps=max_steps, progress=True)  # fmt: skip
    return path


def rounded(x: Any, nd: int = 3) -> Any:
    """Floats rounded (recursively) for a readable JSON line."""
    if isinstance(x, float):
        return round(x, nd)
    if isinstance(x, dict):
        return {k: rounded(v, nd) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [rounded(v, nd) for v in x]
    return x


def figures(summary: dict[str, Any], **extra: Any) -> str:
    """The JSON line a benchmark prints: R^2 (final and best), steps, time, threads."""
    out = {
        **extra,
        "r2_smoothed": summary.get("r2", {}).get("smoothed"),
        "r2_filtered": summary.get("r2", {}).get("filtered"),
        "best": summary.get("best"),
        "steps": summary["steps"],
        "wall_time_s": summary["wall_time_s"],
        "steps_per_s": summary["steps_per_s"],
        "threads": summary["threads"],
        "final_loss": summary["final_loss"],
        "held_out_loss": summary.get("held_out_loss"),
        "summary": summary["paths"]["summary"],
    }
    return json.dumps(rounded(out))
