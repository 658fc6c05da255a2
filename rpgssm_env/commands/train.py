"""``rpgssm train ENV_ID --algo SAC --obs latent --checkpoint CKPT --steps N --out DIR``."""

from __future__ import annotations

import argparse
import os

from rpgssm_env.commands._types import frame_size

NAME = "train"
HELP = "train an SB3 agent (SAC, PPO, TD3, A2C, DQN) on latents, stacked pixels or true states"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_id", help="a pixel env id, e.g. rpgssm/Pendulum-v0")
    parser.add_argument("--algo", default="SAC", choices=["SAC", "PPO", "TD3", "A2C", "DQN"])
    parser.add_argument("--obs", default="latent", choices=["latent", "pixels", "state"])
    parser.add_argument("--checkpoint", default=None, help="RP-GSSM checkpoint (obs=latent)")
    parser.add_argument("--distractor", default=None, help="background distractor (default none)")
    parser.add_argument("--eval-distractor", default="same", help="eval envs' distractor")
    parser.add_argument("--steps", type=int, default=None, help="env steps (default: RL Zoo's)")
    parser.add_argument("--n-envs", type=int, default=None, help="parallel envs (default: Zoo's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--eval-every", type=int, default=None, help="env steps between evals")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--size",
        type=frame_size,
        default=None,
        help="frame size H or HxW (default: the checkpoint's, else the id's own)",
    )
    parser.add_argument("--features", default="mean", choices=["mean", "mean+std", "mean+cov"])
    parser.add_argument("--frame-stack", type=int, default=3, help="stacked frames (obs=pixels)")
    parser.add_argument(
        "--latent-stack", type=int, default=1, help="stacked filter outputs (obs=latent)"
    )
    parser.add_argument("--online-em", action="store_true", help="online EM fine-tuning")
    parser.add_argument("--em-every", type=int, default=2000, help="env steps between EM updates")
    parser.add_argument("--em-steps", type=int, default=5, help="EM steps per update")
    parser.add_argument("--em-lr", type=float, default=1e-4)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter override (value parsed as a Python literal)",
    )
    parser.add_argument("--no-resume", action="store_true", help="train even if a run is there")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` strings -> dict (values as Python literals when they parse)."""
    import ast

    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    import json
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")  # keep Ctrl-C / SIGTERM working
    os.environ.setdefault("MPLBACKEND", "Agg")
    from rpgssm_env.agents import train_agent

    env_kwargs = {"size": args.size} if args.size else None
    em = False
    if args.online_em:
        em = {"every_n_steps": args.em_every, "steps_per_update": args.em_steps, "lr": args.em_lr}
    distractor = None if args.distractor in (None, "none") else args.distractor
    eval_d = args.eval_distractor
    if eval_d == "none":
        eval_d = None
    run_ = train_agent(
        args.env_id,
        args.algo,
        obs=args.obs,
        checkpoint=args.checkpoint,
        distractor=distractor,
        steps=args.steps,
        n_envs=args.n_envs,
        seed=args.seed,
        out=args.out,
        hyperparams=parse_overrides(args.hp),
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        device=args.device,
        eval_distractor=eval_d,
        env_kwargs=env_kwargs,
        features=args.features,
        frame_stack=args.frame_stack,
        latent_stack=args.latent_stack,
        online_em=em,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
        resume=not args.no_resume,
    )
    run_.close()
    final = run_.final_eval
    print(
        json.dumps(
            {
                "out": str(run_.out),
                "resumed": run_.resumed,
                "wall_s": round(run_.wall_s, 1),
                "final_eval_mean": None if final is None else final["mean"],
                "final_eval_std": None if final is None else final["std"],
                "best": _best(run_.out),
            }
        )
    )
    return 0


def _best(out: os.PathLike | str) -> dict | None:
    """``best/best.json`` of a run folder (step and mean return of the best evaluation)."""
    import json
    from pathlib import Path

    path = Path(out) / "best" / "best.json"
    return json.loads(path.read_text()) if path.is_file() else None
