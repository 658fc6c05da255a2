"""Reference returns for normalisation: ``R_random`` and ``R_state`` per (env, distractor, algo).

The shipped file ``reference_returns.json`` (beside this module) holds figures measured by
``rpgssm bench-rl`` runs, each with its provenance (command, seeds, steps, date, machine load).
``normalized_return = (R - R_random) / (R_state - R_random)``.

The true-state agent and the random policy never see pixels, so their returns do not depend on
the distractor; the file still keys them by distractor (the benchmark reports the same state and
random cells in every column), and :func:`lookup` falls back to another distractor of the same
env and algorithm, saying so in the returned ``note``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["REFERENCE_FILE", "entries_from_bench", "load_references", "lookup", "normalize"]

REFERENCE_FILE = Path(__file__).with_name("reference_returns.json")


def load_references(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The entries of a reference file (default: the shipped one)."""
    p = Path(path) if path is not None else REFERENCE_FILE
    if not p.is_file():
        return []
    data = json.loads(p.read_text())
    if "summary" in data and "cells" in data:  # a bench-rl results.json
        return entries_from_bench(data, str(p))
    return list(data.get("entries", []))


def lookup(
    env_id: str, distractor: str | None, algo: str = "SAC", path: str | os.PathLike | None = None
) -> dict[str, Any] | None:
    """The entry for ``(env_id, distractor, algo)``, or one of another distractor (``note`` set),
    or ``None``."""
    d = distractor or "none"
    entries = [e for e in load_references(path) if e["env_id"] == env_id and e["algo"] == algo]
    for e in entries:
        if e["distractor"] == d:
            return dict(e)
    if entries:
        e = dict(entries[0])
        e["note"] = (
            f"no entry for distractor {d!r}; using {e['distractor']!r} (state and random "
            "returns do not depend on the distractor)"
        )
        return e
    return None


def normalize(value: float, ref: dict[str, Any] | None) -> float | None:
    """``(value - R_random) / (R_state - R_random)`` (``None`` without a reference)."""
    if ref is None:
        return None
    lo, hi = float(ref["R_random"]), float(ref["R_state"])
    return (float(value) - lo) / (hi - lo) if hi != lo else None


def entries_from_bench(results: dict[str, Any], source: str = "") -> list[dict[str, Any]]:
    """Reference entries from a ``rpgssm bench-rl`` ``results.json`` (needs rows state, random)."""
    summary = results.get("summary", {})
    out = []
    for col in results.get("cols", []):
        st = summary.get("state", {}).get(col)
        rn = summary.get("random", {}).get(col)
        if st is None or rn is None:
            continue
        out.append(
            {
                "env_id": results["env_id"],
                "distractor": col,
                "algo": results["algo"],
                "R_state": st["mean"],
                "R_state_per_seed": st["per_seed"],
                "R_random": rn["mean"],
                "provenance": {
                    "source": source or "rpgssm bench-rl",
                    "steps": results.get("steps"),
                    "seeds": results.get("seeds"),
                    "eval_episodes": results.get("eval_episodes"),
                    "protocol": results.get("protocol"),
                    "started": results.get("started"),
                    "hyperparams": results.get("hyperparams"),
                },
            }
        )
    return out


def write_reference_file(
    bench_results: list[str | os.PathLike], path: str | os.PathLike = REFERENCE_FILE, note: str = ""
) -> Path:
    """Write a reference file from ``bench-rl`` results (used to refresh the shipped file)."""
    entries: list[dict[str, Any]] = []
    for res in bench_results:
        data = json.loads(Path(res).read_text())
        for e in entries_from_bench(data, f"rpgssm bench-rl ({Path(res).parent.name})"):
            e["provenance"]["note"] = note
            entries.append(e)
    doc = {
        "description": "R_random and R_state per (env, distractor, algo), measured by rpgssm "
        "bench-rl; normalized_return = (R - R_random) / (R_state - R_random)",
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "entries": entries,
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")
    return Path(path)
