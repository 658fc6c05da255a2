"""Frames of an env, clean beside each distractor: arrays, PNG grids, GIF/MP4 animations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["distractor_frames", "show_distractors"]


def _rollout(env_id: str, kwargs: dict[str, Any], steps: int, seed: int) -> np.ndarray:
    """``(steps, H, W, 3)`` frames the agent sees (grey repeated to 3 channels); the same seeded
    random actions for every distractor, so rows line up."""
    env = gym.make(env_id, **kwargs)
    try:
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        frames = [obs]
        while len(frames) < steps:
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            frames.append(obs)
            if terminated or truncated:
                obs, _ = env.reset()
                frames.append(obs)
        out = np.stack(frames[:steps])
    finally:
        env.close()
    return np.repeat(out, 3, axis=-1) if out.shape[-1] == 1 else out


def distractor_frames(
    env_id: str,
    distractors: Sequence[Any],
    steps: int = 40,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """``(1 + len(distractors), steps, H, W, 3)`` uint8: clean frames, then each distractor."""
    import rpgssm_env  # noqa: F401  (registers the ids)

    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "distractor"}
    rows = [_rollout(env_id, {**kwargs, "distractor": None}, steps, seed)]
    rows += [_rollout(env_id, {**kwargs, "distractor": d}, steps, seed) for d in distractors]
    return np.stack(rows)


def show_distractors(
    env_id: str,
    distractors: Sequence[Any],
    out: str | os.PathLike,
    *,
    steps: int = 40,
    seed: int = 0,
    scale: int = 2,
    fps: int = 15,
    env_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write clean-vs-distractor frames to ``out``.

    ``.png``: a grid, one row per condition (clean first), 8 time steps per row.
    ``.gif`` / ``.mp4``: an animation whose frames put the conditions side by side.
    """
    import imageio.v3 as iio

    frames = distractor_frames(env_id, distractors, steps, seed, env_kwargs)
    if scale > 1:
        frames = frames.repeat(scale, axis=2).repeat(scale, axis=3)
    n_rows, t, h, w, _ = frames.shape
    pad = 2
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".png":
        cols = np.linspace(0, t - 1, min(8, t)).astype(int)
        grid = np.full((n_rows * (h + pad) + pad, len(cols) * (w + pad) + pad, 3), 255, np.uint8)
        for r in range(n_rows):
            for c, k in enumerate(cols):
                y, x = pad + r * (h + pad), pad + c * (w + pad)
                grid[y : y + h, x : x + w] = frames[r, k]
        iio.imwrite(out, grid)
    elif suffix in (".gif", ".mp4"):
        side = np.full((t, h + 2 * pad, n_rows * (w + pad) + pad, 3), 255, np.uint8)
        for r in range(n_rows):
            x = pad + r * (w + pad)
            side[:, pad : pad + h, x : x + w] = frames[r]
        if suffix == ".gif":
            iio.imwrite(out, side, duration=1000 / fps, loop=0)
        else:
            side = side[:, : side.shape[1] // 2 * 2, : side.shape[2] // 2 * 2]
            iio.imwrite(out, side, fps=fps)
    else:
        raise ValueError(f"unsupported output {out}: use .png, .gif or .mp4")
    return out
