"""Training plots (matplotlib, Agg backend: no display needed).

* ``loss.png``: training loss terms per step (loss, -log Gamma, KL^qf, KL^qp) and the held-out
  free energy at each evaluation;
* ``r2.png``: held-out probe R^2 per target against the step, smoothed (solid) and filtered
  (dashed);
* ``latents.png``: probe predictions from smoothed and filtered posterior means against the true
  state, over time, on a few held-out sequences.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_latents", "plot_losses", "plot_r2", "write_plots"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) < 2 * n or n < 2:
        return y
    kernel = np.ones(n) / n
    return np.convolve(y, kernel, mode="valid")


def plot_losses(history: dict[str, list], path: str | os.PathLike) -> Path:
    """Loss terms against the step (raw and a running mean), held-out loss markers."""
    plt = _pyplot()
    steps = np.asarray(history.get("step", []))
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    terms = [("loss", "loss (train)"), ("log_gamma", "log Gamma"), ("kl_qf", "KL^qf"),
             ("kl_qp", "KL^qp / Z")]  # fmt: skip
    n = max(1, len(steps) // 50)
    for ax, (key, title) in zip(axes, terms):
        y = np.asarray(history.get(key, []), dtype=float)
        if len(y):
            ax.plot(steps, y, alpha=0.3, lw=0.8)
            ys = _smooth(y, n)
            ax.plot(steps[len(steps) - len(ys) :], ys, lw=1.5)
        ax.set_title(title)
        ax.set_xlabel("step")
    evals = [e for e in history.get("eval", []) if "val_loss" in e]
    if evals:
        axes[0].plot([e["step"] for e in evals], [e["val_loss"] for e in evals], "o-",
                     color="k", label="held-out")  # fmt: skip
        axes[0].legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_r2(history: dict[str, list], path: str | os.PathLike) -> Path | None:
    """Held-out R^2 per target against the step; ``None`` when no probe ran."""
    evals = history.get("eval", [])
    keys = sorted({k for e in evals for k in e if k.startswith("r2_")})
    if not keys:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    targets = sorted({k.split("/", 1)[1] for k in keys})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(targets):
        for kind, style in (("smoothed", "-"), ("filtered", "--")):
            key = f"r2_{kind}/{name}"
            pts = [(e["step"], e[key]) for e in evals if key in e]
            if pts:
                s, r = zip(*pts)
                ax.plot(s, r, style, marker="o", ms=3, color=colors[i % len(colors)],
                        label=f"{name} ({kind})")  # fmt: skip
    ax.set_ylim(-0.05, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("held-out R^2 (linear probe)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_latents(
    report: dict[str, Any], path: str | os.PathLike, n_sequences: int = 3, max_len: int = 200
) -> Path | None:
    """Probe predictions against the true state over time, on held-out sequences.

    Args:
        report: :func:`~rpgssm_env.training.pretrain.probe_model` output with predictions.
        path: PNG file.
        n_sequences: sequences (columns) to show.
        max_len: frames shown per sequence.
    """
    if not report or "predictions" not in report:
        return None
    plt = _pyplot()
    truth = np.asarray(report["truth"])
    preds = report["predictions"]
    names: Sequence[str] = report["targets"]
    lengths = np.asarray(report["lengths"])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    picks = np.linspace(0, len(lengths) - 1, min(n_sequences, len(lengths))).astype(int)
    S = truth.shape[1]
    fig, axes = plt.subplots(S, len(picks), figsize=(4.2 * len(picks), 2.1 * S), squeeze=False)
    for c, ep in enumerate(picks):
        sl = slice(starts[ep], starts[ep] + min(lengths[ep], max_len))
        t = np.arange(sl.stop - sl.start)
        for r in range(S):
            ax = axes[r, c]
            ax.plot(t, truth[sl, r], color="k", lw=1.6, label="true")
            ax.plot(t, preds["smoothed"][sl, r], lw=1.0, label="smoothed")
            ax.plot(t, preds["filtered"][sl, r], lw=1.0, ls="--", label="filtered")
            if c == 0:
                ax.set_ylabel(names[r])
            if r == 0:
                ax.set_title(f"held-out sequence {ep}")
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("t (frames)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_plots(
    folder: str | os.PathLike, history: dict[str, list], report: dict[str, Any] | None = None
) -> list[Path]:
    """Write ``loss.png``, ``r2.png`` and ``latents.png`` (those that have data) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [plot_losses(history, folder / "loss.png")]
    for p in (plot_r2(history, folder / "r2.png"),
              plot_latents(report or {}, folder / "latents.png")):  # fmt: skip
        if p is not None:
            written.append(p)
    return written
