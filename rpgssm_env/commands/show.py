"""``rpgssm show ENV_ID --distractor ... --out FILE``: what the agent sees, clean beside each
distractor, as an animated GIF/MP4 or a PNG grid (rows: clean then each distractor; columns:
time)."""

from __future__ import annotations

import argparse

from rpgssm_env.commands.collect import add_env_arguments, env_kwargs_from

NAME = "show"
HELP = "write a GIF/MP4 or PNG grid of an env's frames: clean beside each distractor"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_id", help="a registered env id, e.g. rpgssm/Pendulum-v0")
    parser.add_argument(
        "--distractor",
        action="append",
        default=[],
        help="a distractor to show (repeat for several; default: images video shapes pendulum "
        "hard)",
    )
    parser.add_argument("--out", required=True, help="output .gif, .mp4 or .png")
    parser.add_argument("--steps", type=int, default=40, help="frames per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="pixel upscaling of the output")
    parser.add_argument("--fps", type=int, default=15)
    add_env_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from rpgssm_env.envs.show import show_distractors

    kwargs = env_kwargs_from(argparse.Namespace(**{**vars(args), "distractor": None}))
    path = show_distractors(
        args.env_id,
        args.distractor or ["images", "video", "shapes", "pendulum", "hard"],
        args.out,
        steps=args.steps,
        seed=args.seed,
        scale=args.scale,
        fps=args.fps,
        env_kwargs=kwargs,
    )
    print(f"wrote {path}")
    return 0
