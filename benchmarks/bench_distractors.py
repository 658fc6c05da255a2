"""Extra cost per 64x64 frame of each distractor source and mode, on one CPU core.

Measures what :class:`BackgroundDistractor` adds to a step: the source's next background, the
colour-key foreground mask and the compositing, on a real 64x64 Pendulum frame (the env's own
render and resize are not counted: they are paid with or without a distractor). Prints one JSON
line: ``{"frame": [64, 64], "budget_ms": 1.0, "ms_per_frame": {"images/step": ..., ...}}``.

Run: ``python benchmarks/bench_distractors.py [--steps 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

CASES = [
    (name, mode)
    for name in ("images", "video", "shapes", "noise", "pendulum", "colour", "camera")
    for mode in ("fixed", "step", "video")
] + [(preset, None) for preset in ("easy", "medium", "hard")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    import gymnasium as gym

    import rpgssm_env  # noqa: F401
    from rpgssm_env.wrappers.distractors import ColourKeyMask, composite, make_source

    env = gym.make("rpgssm/Pendulum-v0", size=args.size)
    frame, _ = env.reset(seed=0)
    shape = (args.size, args.size)
    mask = ColourKeyMask()
    results: dict[str, float] = {}
    for name, mode in CASES:
        source = make_source(name, mode)
        rng = np.random.default_rng(0)
        source.reset(rng, shape)  # decoding and caching happen here, once per size
        for _ in range(10):  # warm-up
            composite(frame, source.step(rng), mask(frame))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                composite(frame, source.step(rng), mask(frame))
            best = min(best, (time.perf_counter() - t0) / args.steps)
        results[f"{name}/{mode or 'preset'}"] = round(best * 1e3, 4)
    print(
        json.dumps(
            {
                "frame": list(shape),
                "budget_ms": 1.0,
                "max_ms": max(results.values()),
                "ms_per_frame": results,
            }
        )
    )


if __name__ == "__main__":
    main()
