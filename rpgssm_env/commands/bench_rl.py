"""``rpgssm bench-rl ENV_ID``: state / pixels / latent / latent+EM agents under distractors."""

from __future__ import annotations

import argparse

from rpgssm_env.agents.pipeline import PRETRAIN_EPISODES
from rpgssm_env.commands._types import frame_size

NAME = "bench-rl"
HELP = "RL robustness benchmark: obs rows x distractor columns x seeds (table, JSON, curves)"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_id", nargs="?", default="rpgssm/Pendulum-v0")
    parser.add_argument("--algo", default=None, help="default SAC (Pendulum) or PPO (CartPole)")
    parser.add_argument(
        "--rows",
        default="state,latent,random",
        help="comma list of state,pixels,latent,latent+em,random",
    )
    parser.add_argument("--cols", default="video", help="distractors, e.g. none,video,shapes")
    parser.add_argument("--seeds", default="0", help="comma list of seeds")
    parser.add_argument("--steps", type=int, default=None, help="env steps per training")
    parser.add_argument("--out", default="runs/bench-rl")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="[COL=]CKPT",
        help="RP-GSSM checkpoint for a column (or all); others are pretrained here",
    )
    parser.add_argument("--pretrain-minutes", type=float, default=5.0)
    parser.add_argument("--pretrain-episodes", type=int, default=PRETRAIN_EPISODES)
    parser.add_argument("--protocol", default="matched", choices=["matched", "train-clean"])
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--random-episodes", type=int, default=100)
    parser.add_argument("--n-envs", type=int, default=None)
    parser.add_argument(
        "--stack", type=int, default=3, help="observations stacked (pixel frames and latents)"
    )
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--size", type=frame_size, default=None, help="frame size H or HxW")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")  # keep Ctrl-C / SIGTERM working
    os.environ.setdefault("MPLBACKEND", "Agg")
    from rpgssm_env.agents.bench import run_benchmark
    from rpgssm_env.commands.train import parse_overrides

    algo = args.algo or ("PPO" if "CartPole" in args.env_id else "SAC")
    ckpts: dict[str, str] = {}
    for item in args.checkpoint:
        col, sep, path = item.partition("=")
        ckpts[col if sep else "*"] = path if sep else col
    results = run_benchmark(
        args.env_id,
        algo,
        rows=_csv(args.rows),
        cols=_csv(args.cols),
        seeds=[int(s) for s in _csv(args.seeds)],
        steps=args.steps,
        out=args.out,
        checkpoints=ckpts,
        pretrain_minutes=args.pretrain_minutes,
        pretrain_episodes=args.pretrain_episodes,
        protocol=args.protocol,
        eval_episodes=args.eval_episodes,
        eval_every=args.eval_every,
        random_episodes=args.random_episodes,
        n_envs=args.n_envs,
        stack=args.stack,
        hyperparams=parse_overrides(args.hp) or None,
        env_kwargs={"size": args.size} if args.size else None,
        progress=not args.quiet,
    )
    from pathlib import Path

    print((Path(args.out) / "table.md").read_text())
    print(f"results: {Path(args.out) / 'results.json'}")
    return 0 if results else 1
