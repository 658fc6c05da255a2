"""Target 4: robustness of the latents to distractor families not seen in training.

A model trained on the paper's setting (24x24 grey pendulum, a new natural photograph behind
every frame: family ``images``) is probed on held-out sequences rendered behind each family:
``none`` (clean), ``images`` (the training family), ``video`` (natural video playing),
``shapes`` (moving coloured shapes) and ``pendulum`` (a second, independent pendulum: a
correlated distractor). The linear probe is fitted ONCE, on training-family latents, and scored
on every family; the drop from the training family should stay under 0.05.

Writes the table (``--out``/robustness.md) twice, plain and with test-time standardisation of
each family's latents (below), and prints ONE JSON line (``worst_drop``, ``worst_drop_adapted``).

Measured (2026-12-05, ``--minutes 15``: ``pendulum24``, 6000 steps in 855 s, 1 thread, another
run beside it for half of it; held-out R^2 smoothed / filtered (sin, cos, omega); drop = largest
fall from the training family, over both kinds and the three targets):

==============  ===============================  =====
test family     R^2 smoothed / filtered          drop
==============  ===============================  =====
none (clean)    .947 .761 .938 / .956 .774 .878  .081
images (train)  .950 .842 .884 / .953 .810 .841  -
video           .956 .770 .920 / .957 .745 .855  .073
shapes          .955 .799 .929 / .959 .772 .873  .043
pendulum        .936 .769 .929 / .940 .754 .868  .073
==============  ===============================  =====

Every drop is in cos theta (sin theta and omega hold or rise off the training family). An earlier
model of the same preset dropped at most .055. MISSED: under 0.05.

Former ``pendulum24rot`` (rotation-block A, initial frequencies 0.05..0.4, 4000 steps), four
models, largest drop (family): seed 0 .049 (none and pendulum), seed 1 .634 (none: cos theta
.960 -> .358), seed 2 .170 (none), seed 3 .142 (none). The drops are in cos theta, carried by
the slowest mode; sin theta holds within .03 everywhere.

Why, and the adapted table: the information is not lost, the latents move. A probe fitted on
the clean frames' own latents scores cos theta .97 (seed 1 above), and standardising each
family's latents with their OWN per-dimension mean and standard deviation (unsupervised
test-time adaptation: the test family's latents, never its states; what a ``VecNormalize``
that keeps updating does in a new environment) before the photographs' probe brings almost
all of it back. The script prints both tables; largest drop plain -> adapted:

==================================  =====================  ==================================
model                               plain                  adapted (test-time standardised)
==================================  =====================  ==================================
pendulum24rot (now), seed 0         .097 (none)            **.029**
  seed 1                            .217 (none)            .065 (video)
  seed 2                            .355 (none)            .054 (shapes)
  seed 3                            .172 (none)            **.038**
init 0.02..0.2, seed 0              .194 (video)           **.032**
  seed 1                            .900 (none)            **.047**
  seed 2                            .333 (none)            **.049**
  seed 3                            .087 (video)           .071 (video)
former pendulum24rot, seed 0        .049                   **.031**
  seed 1                            .634                   .060 (shapes)
  seed 2                            .170                   **.034**
  seed 3                            .142                   .076 (none)
pendulum24 (free A), seed 0         .081                   .074 (video)
==================================  =====================  ==================================

Adapted: MET (under 0.05) on seven models of thirteen, two of the current preset's four (its
other two: .054, .065); plain: on one (the former seed 0's .049). The "init 0.02..0.2" rows
are the preset with initial frequencies spread evenly over 0.02..0.2 (see the presets notes).
Intensity jitter of the training frames (``augment={"brightness": 0.4, "contrast": 0.5}``,
init 0.02..0.2, seed 1) cut the video and shapes drops to .02 but cost sin theta on the bright
clean and second-pendulum frames (plain .349; adapted .064). Standardisation does NOT
rescue a model trained on clean frames only (``pendulum64`` trained clean, tested behind video,
shapes or a second pendulum: R^2 below 0 with and without it), nor the demo's ``pendulum64``
model trained behind video when probed behind shapes or a second pendulum (below 0 with and
without): it undoes a shift of features the model has, not features it never learned to
separate from the background.

    python benchmarks/robustness_table.py --checkpoint runs/pendulum_paper/model.pt
    python benchmarks/robustness_table.py --minutes 15     # trains one first (pendulum24rot)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pretrain_common import DEFAULT_CACHE, rounded

FAMILIES = {
    "none": {"distractor": "none", "distractor_mode": None},
    "images": {"distractor": "images", "distractor_mode": "step"},
    "video": {"distractor": "video", "distractor_mode": None},
    "shapes": {"distractor": "shapes", "distractor_mode": None},
    "pendulum": {"distractor": "pendulum", "distractor_mode": None},
}
TRAIN_FAMILY = "images"


def family_data(cache: Path, family: str, n: int, workers: int) -> Path:
    from rpgssm_env.envs.paper import generate_paper_dataset

    path = cache / f"pendulum24_{family}_test_{n}.npz"
    if not path.exists():
        print(f"generating {path}", flush=True)
        generate_paper_dataset(path, n, 100, seed=200_000, workers=workers, **FAMILIES[family])
    return path


def markdown(rows: dict[str, dict], targets: list[str]) -> str:
    head = "| test family | " + " | ".join(f"{t} (smoothed)" for t in targets)
    head += " | " + " | ".join(f"{t} (filtered)" for t in targets) + " | max drop |\n"
    head += "|---" * (2 * len(targets) + 2) + "|\n"
    lines = []
    for fam, row in rows.items():
        cells = [f"{row['smoothed'][t]:.3f}" for t in targets]
        cells += [f"{row['filtered'][t]:.3f}" for t in targets]
        mark = " (train)" if fam == TRAIN_FAMILY else ""
        lines.append(f"| {fam}{mark} | " + " | ".join(cells) + f" | {row['max_drop']:.3f} |")
    return head + "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="a model of the paper setting")
    p.add_argument("--preset", default="pendulum24rot", help="preset to train without --checkpoint")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget without one")
    p.add_argument("--threads", type=int, default=1, help="1: see presets.py on threads")
    p.add_argument("--episodes", type=int, default=100, help="held-out sequences per family")
    p.add_argument("--probe-train", type=int, default=300, help="training sequences for the probe")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=Path("runs/robustness"))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()

    import torch

    from rpgssm_env.data.arrays import load_npz
    from rpgssm_env.model.rpgssm import RPGSSM
    from rpgssm_env.training.pretrain import EpisodeSubset, pretrain, state_targets
    from rpgssm_env.training.probe import encode_source, probe_r2

    torch.set_num_threads(args.threads)
    from pendulum_paper import paper_data

    train_path, test_path = paper_data(args.cache, 500, 100, args.workers)
    names = ("theta", "omega")
    ckpt = args.checkpoint
    if ckpt is None:
        ckpt = args.out / "model.pt"
        if not ckpt.exists():
            pretrain(load_npz(train_path, state_names=names), ckpt,
                     val=load_npz(test_path, state_names=names), preset=args.preset,
                     minutes=args.minutes, threads=args.threads, progress=False)  # fmt: skip
    model = RPGSSM.load(ckpt, device="cpu")
    train = load_npz(train_path, state_names=names)
    train = EpisodeSubset(train, range(min(args.probe_train, len(train))))

    def latents(source) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
        """Smoothed and filtered means, probe targets (sin, cos theta, omega) and their names."""
        smoothed, filtered, states = encode_source(model, source)
        y, target_names = state_targets(states, (0,), names)
        return {"smoothed": smoothed, "filtered": filtered}, y, target_names

    x_tr, y_tr, targets = latents(train)  # encoded once, probed against every family
    tables: dict[str, dict[str, dict]] = {"plain": {}, "adapted": {}}
    for fam in FAMILIES:
        # the training family's held-out set is the paper benchmark's (seeds 100000+)
        path = (
            test_path
            if fam == TRAIN_FAMILY
            else family_data(args.cache, fam, args.episodes, args.workers)
        )
        x_te, y_te, _ = latents(load_npz(path, state_names=names))
        for table_name, adapt in (("plain", None), ("adapted", "standardize")):
            tables[table_name][fam] = {
                kind: probe_r2(x_tr[kind], y_tr, x_te[kind], y_te, names=targets, adapt=adapt)
                for kind in ("smoothed", "filtered")
            }
    for rows in tables.values():
        ref = rows[TRAIN_FAMILY]
        for row in rows.values():
            row["max_drop"] = max(
                ref[k][t] - row[k][t] for k in ("smoothed", "filtered") for t in targets
            )
    args.out.mkdir(parents=True, exist_ok=True)
    plain, adapted = markdown(tables["plain"], targets), markdown(tables["adapted"], targets)
    (args.out / "robustness.md").write_text(
        f"Linear probe fitted on `{TRAIN_FAMILY}` latents of {len(train)} training sequences; "
        f"held-out R^2 on {args.episodes} sequences per family. Checkpoint: `{ckpt}`.\n\n"
        + plain
        + "\nWith test-time standardisation (each family's latents standardised with their own "
        "mean and standard deviation per dimension: unsupervised, no states used):\n\n" + adapted
    )
    print(plain + "\nadapted:\n" + adapted, file=sys.stderr)
    worst = {
        name: max(r["max_drop"] for f, r in rows.items() if f != TRAIN_FAMILY)
        for name, rows in tables.items()
    }
    print(json.dumps(rounded({"target": "robustness", "train_family": TRAIN_FAMILY,
                              "checkpoint": str(ckpt), "rows": tables["plain"],
                              "worst_drop": worst["plain"], "rows_adapted": tables["adapted"],
                              "worst_drop_adapted": worst["adapted"],
                              "table": str(args.out / "robustness.md")})))  # fmt: skip


if __name__ == "__main__":
    main()
