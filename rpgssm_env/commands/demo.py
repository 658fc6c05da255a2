"""``rpgssm demo``: collect, pretrain, train SAC on latents, evaluate, report (resumable)."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = (
    "the whole pipeline on pixel Pendulum with a natural-video background: collect, "
    "pretrain, SAC on latents, evaluate, report (~15 min on 2 CPU cores)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny budgets (about a minute)")
    mode.add_argument(
        "--full",
        action="store_true",
        help="more data, longer pretraining, references measured in the run",
    )
    parser.add_argument("--distractor", default=None, help="background (default video)")
    parser.add_argument("--steps", type=int, default=None, help="SAC env steps")
    parser.add_argument("--pretrain-minutes", type=float, default=None)
    parser.add_argument("--episodes", type=int, default=None, help="episodes to collect")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--reference",
        default=None,
        help="reference file or bench-rl results.json for R_random/R_state",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from rpgssm_env.agents.demo import demo_settings, run_demo

    mode = "smoke" if args.smoke else "full" if args.full else "default"
    settings = demo_settings(
        mode,
        distractor=args.distractor,
        steps=args.steps,
        pretrain_minutes=args.pretrain_minutes,
        episodes=args.episodes,
        seed=args.seed,
    )
    run_demo(args.out, settings, reference=args.reference, progress=not args.quiet)
    return 0
