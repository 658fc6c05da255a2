"""``rpgssm collect ENV_ID --episodes N --policy random|sticky|SB3.zip --out DIR``: rollouts."""

from __future__ import annotations

import argparse

from rpgssm_env.commands._types import frame_size

NAME = "collect"
HELP = "collect rollouts of an env (pixels, actions, rewards, true states) into a data set"


def add_env_arguments(parser: argparse.ArgumentParser) -> None:
    """The env kwargs shared by ``collect`` and ``show``."""
    parser.add_argument(
        "--size",
        type=frame_size,
        default=None,
        help="frame size H or HxW (default: the id's own, 64 for most)",
    )
    parser.add_argument("--grayscale", action="store_true", help="grey frames (H, W, 1)")
    parser.add_argument(
        "--distractor-mode",
        default=None,
        choices=["fixed", "step", "video"],
        help="distractor mode (default: the source's own)",
    )
    parser.add_argument(
        "--env-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra kwarg of gym.make (value parsed as a Python literal when possible)",
    )


def env_kwargs_from(args: argparse.Namespace) -> dict:
    """``gym.make`` kwargs from the parsed arguments."""
    import ast

    kwargs: dict = {}
    if args.size is not None:
        kwargs["size"] = args.size
    if args.grayscale:
        kwargs["grayscale"] = True
    if getattr(args, "distractor", None) not in (None, []):
        kwargs["distractor"] = args.distractor
    if args.distractor_mode is not None:
        kwargs["distractor_mode"] = args.distractor_mode
    for item in args.env_kwarg:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--env-kwarg expects KEY=VALUE, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return kwargs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_id", help="a registered env id, e.g. rpgssm/Pendulum-v0")
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes")
    parser.add_argument(
        "--policy",
        default="random",
        help="'random', 'sticky[:<mean hold>]' (held random actions), 'zero' or an SB3 .zip",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output folder (hdf5: DIR/episodes.h5, or a .h5 file; minari: the dataset folder)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--seed", type=int, default=0, help="episode i uses seed SEED + i")
    parser.add_argument("--format", choices=["hdf5", "minari"], default="hdf5")
    parser.add_argument("--max-steps", type=int, default=None, help="cap on steps per episode")
    parser.add_argument(
        "--distractor",
        default=None,
        help="none, images, video, shapes, noise, pendulum, "
        "colour, camera, easy, medium, hard, or a path",
    )
    add_env_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import rpgssm_env  # noqa: F401
    from rpgssm_env.envs.collect import write_dataset

    path = write_dataset(
        args.out,
        args.env_id,
        args.episodes,
        policy=args.policy,
        seed=args.seed,
        workers=args.workers,
        env_kwargs=env_kwargs_from(args),
        max_steps=args.max_steps,
        format=args.format,
        progress=True,
    )
    print(f"wrote {args.episodes} episodes to {path}")
    return 0
