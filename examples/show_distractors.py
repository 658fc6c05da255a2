"""See what an agent sees: a pixel Pendulum, clean and with each background distractor.

Run: ``python examples/show_distractors.py --out distractors.png`` (or ``.gif``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym
import numpy as np

import rpgssm_env  # noqa: F401  (registers the rpgssm/... env ids)
from rpgssm_env.envs.show import show_distractors


@dataclass
class Args:
    env_id: str = "rpgssm/Pendulum-v0"
    """the env id"""
    size: int = 64
    """frame size in pixels"""
    steps: int = 16
    """frames per condition"""
    seed: int = 0
    """reset seed (same random actions in every condition)"""
    out: str = "distractors.png"
    """output .png grid or .gif/.mp4 animation"""


def main(args: Args) -> None:
    # 1. one env with a distractor: observations are uint8 frames, the true state is in info
    env = gym.make(args.env_id, size=args.size, distractor="video")
    obs, info = env.reset(seed=args.seed)
    print(f"observation {obs.shape} {obs.dtype}, true state {info['state']}")
    returns = 0.0
    for _ in range(args.steps):
        obs, reward, _, _, info = env.step(env.action_space.sample())
        returns += float(reward)
    print(f"return over {args.steps} random steps: {returns:.1f}; frame mean {np.mean(obs):.1f}")
    env.close()

    # 2. the same rollout, clean beside every distractor, written as a grid/animation
    distractors = ["images", "video", "shapes", "noise", "pendulum", "easy", "medium", "hard"]
    path = show_distractors(
        args.env_id,
        distractors,
        args.out,
        steps=args.steps,
        seed=args.seed,
        env_kwargs={"size": args.size},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    main(Args(**vars(parser.parse_args())))
