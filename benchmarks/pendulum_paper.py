"""Target 1: the paper's pendulum setting, trained with the ``pendulum24rot`` preset.

24x24 grey Pendulum-v1 (no torque), a new natural photograph behind every frame, N = 500
training sequences of T = 100 and 100 held-out sequences (other seeds), K = 8, no actions.
Generates the data set into a cache folder when missing, trains under a wall-clock budget and
prints ONE JSON line: held-out linear-probe R^2 of (sin theta, cos theta, omega) from smoothed
and filtered posterior means, steps, wall time and threads.

Goal: smoothed R^2 >= 0.95 (sin, cos) and >= 0.9 (omega); filtered omega >= 0.85; within
15 minutes on 2 CPU cores.

Measured (2026-12-05, ``pendulum24rot``: batch 32, rotation-block A starting at 0.02, 0.12,
0.16 and 0.2 rad/step, 4000 steps, 1 thread, another run beside it, 560-596 s), held-out R^2
smoothed / filtered (sin, cos, omega): seed 0 .988 .974 .875 / .987 .955 .814; seed 1 .949 .968
.912 / .960 .937 .855; seed 2 .990 .968 .860 / .988 .952 .797; seed 3 .977 .976 .889 / .979
.957 .829. cos theta MET on all four seeds, sin on three (seed 1: .9485); omega MISSED on seeds
0, 2, 3 (.86-.89 of 0.9, filtered .80-.83 of 0.85) and MET on seed 1 (.912 / .855), which
misses sin by .0015: no seed meets all four. Initial frequencies 0.05..0.4 (the former preset)
gave cos .953, .960, .978, .823 on the same seeds. Other presets and every variant tried:
``rpgssm_env/training/presets.py``.

    python benchmarks/pendulum_paper.py [--minutes 15] [--threads 1] [--out runs/pendulum_paper]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pretrain_common import DEFAULT_CACHE, figures


def paper_data(cache: Path, n_train: int, n_test: int, workers: int) -> tuple[Path, Path]:
    """The training and held-out ``.npz`` files (generated once)."""
    from rpgssm_env.envs.paper import generate_paper_dataset

    train = cache / f"pendulum_paper_train_{n_train}.npz"
    test = cache / f"pendulum_paper_test_{n_test}.npz"
    for path, n, seed in ((train, n_train, 0), (test, n_test, 100_000)):
        if not path.exists():
            t0 = time.time()
            print(f"generating {path} ({n} sequences)", flush=True)
            generate_paper_dataset(path, n, 100, seed=seed, workers=workers, progress=True)
            print(f"  done in {time.time() - t0:.0f} s", flush=True)
    return train, test


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--threads", type=int, default=1, help="1: see presets.py on threads")
    p.add_argument("--preset", default="pendulum24rot")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--batch-size", type=int, default=None, help="override the preset's B")
    p.add_argument("--decay-every", type=int, default=None, help="override the lr decay period")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=Path("runs/pendulum_paper"))
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--workers", type=int, default=2, help="processes generating the data")
    p.add_argument("--probe-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args()

    from rpgssm_env.data.arrays import load_npz
    from rpgssm_env.training.pretrain import pretrain

    train_path, test_path = paper_data(args.cache, args.n_train, args.n_test, args.workers)
    names = ("theta", "omega")
    summary = pretrain(
        load_npz(train_path, state_names=names),
        args.out / "model.pt",
        val=load_npz(test_path, state_names=names),
        preset=args.preset,
        minutes=args.minutes,
        threads=args.threads,
        steps=args.steps,
        batch_size=args.batch_size,
        decay_every=args.decay_every,
        seed=args.seed,
        probe_every=args.probe_every,
        probe_train_episodes=200,
        progress=args.progress,
        log_dir=args.out / "tb",
    )
    print(figures(summary, target="pendulum_paper", preset=args.preset, minutes=args.minutes))


if __name__ == "__main__":
    main()
