"""Target 2: pixel Pendulum-v1 at 64x64 colour behind natural video, random torques.

Random-policy rollouts (continuous actions) of ``rpgssm/Pendulum-v0`` with
``distractor="video"`` (real natural video playing behind the pendulum), 64x64 RGB, T = 100;
the ``pendulum64`` preset (action-conditioned prior: ``b_t = b + B_u a_t``). Prints ONE JSON
line with held-out R^2 of (sin theta, cos theta, omega), smoothed and filtered.

Goal: smoothed R^2 >= 0.95 (sin, cos), >= 0.9 (omega); filtered omega >= 0.85.

Measured (2026-12-05, ``--episodes 600 --steps 3000``, 1 thread, another run beside it):
smoothed .891 .669 .688, filtered .900 .588 .702: MISSED (the demo's 120 episodes of 200 steps
give .91 .37 .68 filtered; notes in ``rpgssm_env/training/presets.py``).

    python benchmarks/pendulum_video.py [--minutes 15] [--threads 1] [--episodes 300]
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
    p.add_argument("--preset", default="pendulum64")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--held-out", type=int, default=100)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=Path("runs/pendulum_video"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--probe-every", type=int, default=500)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args()

    from rpgssm_env.training.pretrain import pretrain

    # training rollouts draw a random video frame every step (see rpgssm_env.agents.pipeline);
    # the held-out episodes play the video continuously, as the agent sees it
    video = {"size": 64, "distractor": "video"}
    kw = {"max_steps": 99, "workers": args.workers}
    train = cached_rollouts(args.cache, f"pendulum_videostep_train_{args.episodes}",
                            "rpgssm/Pendulum-v0", args.episodes, seed=0,
                            env_kwargs={**video, "distractor_mode": "step"}, **kw)  # fmt: skip
    test = cached_rollouts(args.cache, f"pendulum_video_test_{args.held_out}",
                           "rpgssm/Pendulum-v0", args.held_out, seed=100_000,
                           env_kwargs=video, **kw)  # fmt: skip
    summary = pretrain(train, args.out / "model.pt", val=test, preset=args.preset,
                       minutes=args.minutes, threads=args.threads, steps=args.steps,
                       probe_every=args.probe_every, progress=args.progress)  # fmt: skip
    print(figures(summary, target="pendulum_video", preset=args.preset, minutes=args.minutes))


if __name__ == "__main__":
    main()
