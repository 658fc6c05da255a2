"""Target 3: CartPole-v1 pixels (64x64 colour) with moving-shape distractors.

Random-policy rollouts (discrete actions: lookup-table control input) of
``rpgssm/CartPole-v0`` (cropped to the track band) with ``distractor="shapes"``: training
rollouts draw new shapes every step, held-out ones keep them moving; the ``cartpole64``
preset. Random-policy episodes are short (CartPole terminates when the pole falls), so windows
are short. Prints ONE JSON line with held-out R^2 of (x, x_dot, theta, theta_dot), filtered
and smoothed. ``--tracking``: ``rpgssm/CartPoleTracking-v0`` (64x168 frames, a view following
the cart beside the track band) and the ``cartpole_tracking`` preset. ``--init-state track``:
training episodes start anywhere on the track (2000 of them by default) and the
``cartpole_track`` preset batches them by start position (``batch_groups``); the held-out
episodes still start at the centre, and the figures then include ``r2_centre_probe``: the probe
fitted on the env's own (centred) training starts, as in the other runs.

Goal: filtered R^2 >= 0.9 for every state variable.

    python benchmarks/cartpole_shapes.py [--minutes 15] [--threads 1] [--episodes 1000]
    python benchmarks/cartpole_shapes.py --tracking --minutes 10

Measured (2026-12-05, 1 thread, another run beside it; filtered x, x_dot, theta, theta_dot):
64x128 fixed view, 10 min: .69 .83 .68 .88; ``--tracking``, 10 min: .698 .887 .920 .956;
``--tracking --minutes 15`` (three runs on the cores): .711 .899 .931 .961 (x missed).
2026-12-06, ``--tracking --init-state track`` (15 min, 3025 steps, two runs on the cores):
``r2_centre_probe`` filtered .285 .871 .997 .981 (theta and theta_dot met, x and x_dot
missed); the probe fitted on the track-wide training episodes scores x below 0 on the centred
held-out episodes (the code for x is not linear over the track; ``cartpole_track`` notes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pretrain_common import DEFAULT_CACHE, cached_rollouts, figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--threads", type=int, default=1, help="1: see presets.py on threads")
    p.add_argument("--preset", default=None,
                   help="default cartpole64 (cartpole_tracking with --tracking)")  # fmt: skip
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--episodes", type=int, default=None,
                   help="training episodes (1000; 2000 with --init-state track)")  # fmt: skip
    p.add_argument("--size", default=None,
                   help="frame size: H (square) or HxW, e.g. 64x128 (default 64; 64x168 with "
                        "--tracking)")  # fmt: skip
    p.add_argument("--tracking", action="store_true",
                   help="rpgssm/CartPoleTracking-v0: a camera following the cart beside the "
                        "fixed view")  # fmt: skip
    p.add_argument("--init-state", default="default", choices=["wide", "track", "default"],
                   help="start states of the training rollouts (held-out: default)")  # fmt: skip
    p.add_argument("--held-out", type=int, default=200)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=Path("runs/cartpole_shapes"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--probe-every", type=int, default=500)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args()

    from rpgssm_env.training.pretrain import pretrain

    # training rollouts draw new shapes every step (see rpgssm_env.agents.pipeline); the
    # held-out episodes keep the moving shapes the agent meets
    env_id = "rpgssm/CartPoleTracking-v0" if args.tracking else "rpgssm/CartPole-v0"
    track = args.init_state == "track"
    default_preset = "cartpole_tracking" if args.tracking else "cartpole64"
    args.preset = args.preset or ("cartpole_track" if track else default_preset)
    args.episodes = args.episodes or (2000 if track else 1000)
    args.size = args.size or ("64x168" if args.tracking else "64")
    h, _, w = args.size.partition("x")
    size = int(h) if not w else (int(h), int(w))
    tag = ("" if size == 64 else f"_{args.size}") + ("_tracking" if args.tracking else "")
    shapes = {"size": size, "distractor": "shapes"}
    # "wide": training rollouts start anywhere on the track, other variables wide too (measured
    # worse: see envs.registration.WIDE_INIT_STATE); "track": only the cart position
    starts = {} if args.init_state == "default" else {"init_state": args.init_state}
    named = "" if not starts else f"_{args.init_state}"
    step = {**shapes, "distractor_mode": "step"}

    def train_rollouts(init: dict, named: str, episodes: int) -> Path:
        name = f"cartpole_shapesstep{named}_train_{episodes}{tag}"
        return cached_rollouts(args.cache, name, env_id, episodes, seed=0,
                               workers=args.workers, env_kwargs={**step, **init})  # fmt: skip

    train = train_rollouts(starts, named, args.episodes)
    test = cached_rollouts(args.cache, f"cartpole_shapes_test_{args.held_out}{tag}",
                           env_id, args.held_out, seed=100_000,
                           workers=args.workers, env_kwargs=shapes)  # fmt: skip
    summary = pretrain(train, args.out / "model.pt", val=test, preset=args.preset,
                       minutes=args.minutes, threads=args.threads, steps=args.steps,
                       probe_every=args.probe_every, progress=args.progress)  # fmt: skip
    extra = {}
    if starts:  # the probe of the other runs: fitted on centred random-policy episodes
        centre = train_rollouts({}, "", 1000)
        extra["r2_centre_probe"] = centre_probe(summary["paths"]["final"], centre, test)
    print(figures(summary, target="cartpole_shapes", preset=args.preset, minutes=args.minutes,
                  size=args.size, init_state=args.init_state, env_id=env_id,
                  episodes=args.episodes, **extra))  # fmt: skip


def centre_probe(checkpoint: str | Path, train: Path, test: Path) -> dict:
    """Held-out R^2 (filtered and smoothed) of a linear probe fitted on ``train``'s episodes."""
    from rpgssm_env.data.io import open_dataset
    from rpgssm_env.model.rpgssm import RPGSSM
    from rpgssm_env.training.pretrain import probe_model

    with open_dataset(train) as fit, open_dataset(test) as held_out:
        report = probe_model(RPGSSM.load(checkpoint), fit, held_out, (), max_train_episodes=None)
    return {k: report[k] for k in ("filtered", "smoothed")}


if __name__ == "__main__":
    main()
