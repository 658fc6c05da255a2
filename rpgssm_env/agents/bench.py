"""The RL robustness benchmark behind ``rpgssm bench-rl``.

Rows (observation kinds): ``state`` (true state, the upper bound), ``pixels`` (``CnnPolicy`` on
stacked frames), ``latent`` (RP-GSSM beliefs, frozen filter), ``latent+em`` (beliefs with online
EM fine-tuning of the filter), plus ``random`` (the uniform random policy, for normalisation).
Columns: distractors (``none``, ``video``, ``shapes``, ``pendulum``, ...). Every trained cell
uses the same algorithm, hyperparameters and step budget, over several seeds.

Normalised return, measured within the same run:
``(R - R_random) / (R_state - R_random)``, with ``R_state`` the mean final evaluation return of
the ``state`` row over seeds and ``R_random`` the random policy's mean return. The state
observation and the random policy do not see pixels, so one ``state`` training per seed serves
every column (it is run once and reported in each).

Protocols:

* ``matched``: train and evaluate under the column's distractor;
* ``train-clean``: train every row once with no distractor, then evaluate under each column's
  distractor (the DMControl Generalization Benchmark protocol); the ``latent+em`` row then means
  online EM *at test time* (the clean-trained latent agent adapts its filter on the test
  rollouts).

The pixel row on a CPU: a ``CnnPolicy`` SAC update of batch 256 (SB3's default) takes ~0.5 s
on one core (1.9 env steps/s: 20 000 steps in ~3 h); ``--hp batch_size=64`` is ~4x faster.
Measured (2026-12-05, ``rpgssm bench-rl rpgssm/Pendulum-v0 --rows pixels,state,random --cols
video --seeds S --stack 3 --eval-episodes 20 --hp batch_size=64``, 1 thread, ~90 min a seed with
other runs beside it): the pixel agent ends at the random policy's level, normalised return
-0.06 (seed 0) and -0.05 (seed 1), best learning-curve point 0.18; its state rows (batch 64)
-167 and -176. The latent agent of ``rpgssm demo`` reaches 0.94 with the same 20 000 steps.

Outputs in ``out``: ``results.json`` (every cell, every seed, learning curves), ``table.md``
(mean +- std over seeds, normalised return) and ``curves.png`` (learning curves per column).
Run folders live under ``out/runs/`` and are reused by a second invocation (resumable).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rpgssm_env.agents.pipeline import PRETRAIN_EPISODES

__all__ = ["ROWS", "run_benchmark", "write_table"]

ROWS = ("state", "pixels", "latent", "latent+em", "random")


def _d(col: str) -> str | None:
    return None if col in ("none", "None", "") else col


def run_benchmark(
    env_id: str = "rpgssm/Pendulum-v0",
    algo: str = "SAC",
    *,
    rows: Sequence[str] = ("state", "latent", "random"),
    cols: Sequence[str] = ("video",),
    seeds: Sequence[int] = (0,),
    steps: int | None = None,
    out: str | Path = "runs/bench-rl",
    checkpoints: dict[str, str] | None = None,
    pretrain_minutes: float = 5.0,
    pretrain_episodes: int = PRETRAIN_EPISODES,
    protocol: str = "matched",
    eval_episodes: int = 10,
    eval_every: int | None = None,
    random_episodes: int = 100,
    n_envs: int | None = None,
    stack: int = 3,
    hyperparams: dict[str, Any] | None = None,
    online_em: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) the benchmark and write its table, JSON and plots.

    Args:
        env_id: pixel env id.
        algo: SB3 algorithm for every trained row.
        rows: any of :data:`ROWS`.
        cols: distractor names (``"none"`` for clean frames).
        seeds: seeds of every trained cell.
        steps: env steps per training (default the hyperparameter table's budget).
        out: output folder.
        checkpoints: RP-GSSM checkpoint per column (key ``"*"`` for all); columns without one
            get a model pretrained here (``pretrain_episodes`` random rollouts under that
            distractor, ``pretrain_minutes`` of training, the env's preset).
        pretrain_minutes, pretrain_episodes: see ``checkpoints``. 120 episodes, not 60
            (2026-12-05, 8 minutes, 1 thread, SAC over 20 evaluation episodes, normalised):
            moving shapes 0.41 (60 episodes, seed 0) -> 0.85 0.48 0.91 (seeds 0-2, one model);
            second pendulum 0.34 (seed 0) -> 0.53 0.56 (seeds 0-1). 200 episodes (seed 0):
            second pendulum 0.61 (omega R^2 .23 -> .58), shapes 0.34.
        protocol: ``"matched"`` or ``"train-clean"``.
        eval_episodes: episodes of the final evaluation of each cell.
        eval_every: env steps between learning-curve evaluations (default ``steps // 10``).
        random_episodes: episodes of the random policy.
        n_envs: parallel envs (default the table's).
        stack: observations stacked over time, the same for pixels (frames) and latents
            (filter outputs) so that both rows see the same history.
        hyperparams: overrides for every row.
        online_em: options of the online-EM callback for ``latent+em``.
        env_kwargs: pixel env kwargs (``size``, ...).
        progress: progress bars.

    Returns:
        The results dict (also in ``out/results.json``).
    """
    from rpgssm_env.agents.core import evaluate_agent, evaluate_random, load_agent, train_agent
    from rpgssm_env.agents.hyperparams import default_hyperparams

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ValueError(f"unknown rows {unknown}; choose from {ROWS}")
    if protocol not in ("matched", "train-clean"):
        raise ValueError(f"protocol must be 'matched' or 'train-clean', got {protocol!r}")
    hp = default_hyperparams(algo, env_id)
    steps = int(steps if steps is not None else hp["n_timesteps"])
    checkpoints = dict(checkpoints or {})
    t_start = time.monotonic()
    results: dict[str, Any] = {
        "env_id": env_id,
        "algo": algo,
        "steps": steps,
        "seeds": list(seeds),
        "rows": list(rows),
        "cols": list(cols),
        "protocol": protocol,
        "eval_episodes": eval_episodes,
        "hyperparams": hp | (hyperparams or {}),
        "online_em": online_em,
        "cells": {},
        "checkpoints": {},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    def ckpt_for(col: str) -> str:
        if col in checkpoints:
            return checkpoints[col]
        if "*" in checkpoints:
            return checkpoints["*"]
        from rpgssm_env.agents.pipeline import PRESET_FOR, prepare_dataset, prepare_model

        print(f"[bench-rl] pretraining an RP-GSSM for distractor {col!r}", flush=True)
        data = prepare_dataset(
            out / "models" / col / "episodes.h5",
            env_id,
            pretrain_episodes,
            distractor=_d(col),
            env_kwargs=env_kwargs,
            progress=progress,
        )
        path, _ = prepare_model(
            data,
            out / "models" / col / "model.pt",
            preset=PRESET_FOR.get(env_id),
            minutes=pretrain_minutes,
            progress=progress,
        )
        checkpoints[col] = str(path)
        return str(path)

    def cell(row: str, col: str, seed: int, rec: dict[str, Any]) -> None:
        results["cells"].setdefault(row, {}).setdefault(col, {})[str(seed)] = rec
        _write(out / "results.json", results)

    def train(row: str, col: str, seed: int) -> dict[str, Any]:
        obs = "latent" if row.startswith("latent") else row
        train_col = "none" if protocol == "train-clean" else col
        em = None
        if row == "latent+em" and protocol == "matched":
            em = dict(online_em or {}) or True
        ckpt = ckpt_for(train_col) if obs == "latent" else None
        if ckpt is not None:
            results["checkpoints"][train_col] = ckpt
        name = "latent" if (row == "latent+em" and protocol == "train-clean") else row
        run_dir = out / "runs" / name / (train_col if obs != "state" else "any") / f"seed{seed}"
        t0 = time.monotonic()
        run = train_agent(
            env_id,
            algo,
            obs=obs,
            checkpoint=ckpt,
            distractor=_d(train_col),
            steps=steps,
            n_envs=n_envs,
            seed=seed,
            out=run_dir,
            hyperparams=hyperparams,
            eval_every=eval_every,
            eval_episodes=min(eval_episodes, 5),
            env_kwargs=env_kwargs,
            online_em=em or False,
            frame_stack=stack,
            latent_stack=stack,
            progress=progress,
        )
        run.close()
        return {
            "run": str(run_dir),
            "curve": run.evaluations,
            "train_wall_s": run.config.get("wall_s", run.wall_s),
            "resumed": run.resumed,
            "wall_s": time.monotonic() - t0,
        }

    def final_eval(run_dir: str, col: str, seed: int, em: bool) -> dict[str, Any]:
        key = f"eval_{col}_{'em' if em else 'frozen'}_{eval_episodes}.json"
        cache = Path(run_dir) / key
        if cache.is_file():
            return json.loads(cache.read_text())
        agent = load_agent(run_dir, distractor=_d(col), seed=seed + 20_000)
        try:
            r = evaluate_agent(
                agent,
                eval_episodes,
                seed=seed + 20_000,
                online_em=(dict(online_em or {}) or True) if em else False,
            )
        finally:
            agent.close()
        r["online_em_updates"] = len(r.pop("online_em", None) or [])
        _write(cache, r)
        return r

    # -- random policy ---------------------------------------------------------------------------
    if "random" in rows:
        rnd = evaluate_random(env_id, random_episodes, seed=12345)
        for col in cols:
            cell(
                "random",
                col,
                -1,
                {"mean": rnd["mean"], "std": rnd["std"], "n_episodes": random_episodes},
            )
    # -- trained rows ----------------------------------------------------------------------------
    trained: dict[tuple[str, str, int], dict[str, Any]] = {}
    for seed in seeds:
        for row in [r for r in rows if r != "random"]:
            if row == "state":
                info = train("state", "none", seed)
                ev = final_eval(info["run"], cols[0], seed, em=False)
                for col in cols:
                    cell("state", col, seed, {**info, "final": ev})
                continue
            train_cols = ["none"] if protocol == "train-clean" else list(cols)
            for tcol in train_cols:
                if protocol == "train-clean" and (row, tcol, seed) in trained:
                    continue
                info = train(row, tcol, seed)
                trained[(row, tcol, seed)] = info
                for col in cols if protocol == "train-clean" else [tcol]:
                    em_test = protocol == "train-clean" and row == "latent+em"
                    ev = final_eval(info["run"], col, seed, em=em_test)
                    cell(row, col, seed, {**info, "final": ev, "eval_distractor": col})
    results["wall_s"] = time.monotonic() - t_start
    _summarise(results)
    _write(out / "results.json", results)
    write_table(results, out / "table.md")
    try:
        plot_curves(results, out / "curves.png")
    except Exception as exc:
        print(f"[bench-rl] no curves plot: {exc}")
    return results


def _write(path: Path, data: Any) -> None:
    from rpgssm_env.agents.core import _write_json

    _write_json(path, data)


def _summarise(results: dict[str, Any]) -> None:
    """Mean/std over seeds per cell and the normalised return, in ``results["summary"]``."""
    summary: dict[str, dict[str, Any]] = {}
    cells = results["cells"]
    for row, by_col in cells.items():
        for col, by_seed in by_col.items():
            if row == "random":
                vals = [by_seed["-1"]["mean"]]
            else:
                vals = [rec["final"]["mean"] for rec in by_seed.values()]
            summary.setdefault(row, {})[col] = {
                "mean": float(np.mean(vals)),
                "std_over_seeds": float(np.std(vals)),
                "per_seed": vals,
            }
    for col in results["cols"]:
        r_state = summary.get("state", {}).get(col, {}).get("mean")
        r_rand = summary.get("random", {}).get(col, {}).get("mean")
        for row in summary:
            entry = summary[row].get(col)
            if entry is None:
                continue
            if r_state is not None and r_rand is not None and r_state != r_rand:
                entry["normalized"] = (entry["mean"] - r_rand) / (r_state - r_rand)
                entry["normalized_per_seed"] = [
                    (v - r_rand) / (r_state - r_rand) for v in entry["per_seed"]
                ]
            else:
                entry["normalized"] = None
    results["summary"] = summary


def write_table(results: dict[str, Any], path: str | Path) -> str:
    """The markdown table (rows x distractor columns: mean +- std over seeds [normalised])."""
    cols = results["cols"]
    summary = results.get("summary", {})
    lines = [
        f"# bench-rl: {results['env_id']} {results['algo']}, {results['steps']} steps, "
        f"seeds {results['seeds']}, protocol {results['protocol']}",
        "",
        "Final evaluation return over "
        f"{results['eval_episodes']} episodes, mean +- std over seeds; in brackets the "
        "normalised return (R - R_random) / (R_state - R_random) measured in this run.",
        "",
        "| obs | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for row in ROWS:
        if row not in summary:
            continue
        cells = []
        for col in cols:
            e = summary[row].get(col)
            if e is None:
                cells.append("-")
                continue
            norm = e.get("normalized")
            n = f" [{norm:.2f}]" if norm is not None else ""
            cells.append(f"{e['mean']:.1f} +- {e['std_over_seeds']:.1f}{n}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", f"Wall time: {results.get('wall_s', 0) / 60:.1f} min."]
    text = "\n".join(lines) + "\n"
    Path(path).write_text(text)
    return text


def plot_curves(results: dict[str, Any], path: str | Path) -> Path:
    """Learning curves (mean over seeds of the periodic evaluations) per distractor column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = results["cols"]
    fig, axes = plt.subplots(1, len(cols), figsize=(4.5 * len(cols), 3.4), squeeze=False)
    for ax, col in zip(axes[0], cols):
        for row, by_col in results["cells"].items():
            if row == "random":
                ax.axhline(by_col[col]["-1"]["mean"], color="grey", ls="--", label="random")
                continue
            recs = by_col.get(col, {})
            curves = [r.get("curve") or [] for r in recs.values()]
            curves = [c for c in curves if c]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            t = [c["timesteps"] for c in curves[0][:n]]
            m = np.mean([[c["mean"] for c in cur[:n]] for cur in curves], axis=0)
            s = np.std([[c["mean"] for c in cur[:n]] for cur in curves], axis=0)
            ax.plot(t, m, label=row)
            ax.fill_between(t, m - s, m + s, alpha=0.2)
        ax.set_title(f"distractor: {col}")
        ax.set_xlabel("env steps")
        ax.set_ylabel("eval return")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no learning curves", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
