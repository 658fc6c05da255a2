"""Resumable building blocks of the demo and the benchmark: data set -> RP-GSSM checkpoint.

Each step writes its result atomically and, when run again with the same settings, reuses it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["PRESET_FOR", "model_path", "prepare_dataset", "prepare_model"]

#: Pretraining preset per pixel env id (:mod:`rpgssm_env.training.presets`).
PRESET_FOR = {
    "rpgssm/Pendulum-v0": "pendulum64",
    "rpgssm/CartPole-v0": "cartpole64",
    "rpgssm/CartPoleTracking-v0": "cartpole_tracking",
}


#: Background schedule of pretraining rollouts. A background that follows the episode (a video
#: playing on, shapes moving smoothly) identifies the sequence in the contrastive softmax, and the
#: latents then track the background instead of the system (measured: R^2 ~ 0 on Pendulum with
#: video and CartPole with shapes). A new frame of the same distractor every step removes that
#: shortcut; the model still filters the continuous distractor at run time.
PRETRAIN_DISTRACTOR_MODE = "step"

#: Random-policy episodes collected to pretrain on (the demo's and ``bench-rl``'s default; 200
#: steps each for Pendulum). 120 rather than 60: 3000 steps of batch 16 are ~100 passes over 60
#: episodes. Demo recipe, SAC normalised return over 20 evaluation episodes: 60 episodes 0.87
#: 0.83 0.74 (SAC seeds 0-2), 120 episodes 0.93-1.00 in 7 runs on three data sets (table in the
#: ``pendulum64`` preset notes; the paired evaluation episodes mostly need one swing fewer);
#: ``bench-rl`` cells in :func:`~rpgssm_env.agents.bench.run_benchmark`'s docstring.
PRETRAIN_EPISODES = 120


def prepare_dataset(
    out: str | os.PathLike,
    env_id: str,
    episodes: int,
    *,
    distractor: Any = None,
    distractor_mode: str | None = PRETRAIN_DISTRACTOR_MODE,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    workers: int = 2,
    max_steps: int | None = None,
    policy: str = "random",
    init_state: Any = None,
    progress: bool = True,
) -> Path:
    """Rollouts of an exploration ``policy`` (``"random"``, ``"sticky"``, ... see
    :func:`~rpgssm_env.envs.collect.load_policy`) in ``out`` (an ``.h5`` file), collected unless
    already there.

    ``distractor_mode`` (used with a distractor) defaults to ``"step"``: a new background frame
    from the same distractor every step (see :data:`PRETRAIN_DISTRACTOR_MODE`). ``init_state``:
    the pixel env's start-state ranges (``None``: the env's own starts).

    Returns:
        The data set path.
    """
    from rpgssm_env.envs.collect import provenance_json, write_dataset

    path = Path(out)
    kwargs = dict(env_kwargs or {})
    if distractor is not None and distractor != "none":
        kwargs["distractor"] = distractor
        if distractor_mode:
            kwargs["distractor_mode"] = distractor_mode
    if init_state is not None:
        kwargs["init_state"] = init_state
    if path.is_file():
        try:
            prov = provenance_json(path)
        except Exception:
            prov = {}
        if (
            prov.get("env_id") == env_id
            and prov.get("n_episodes") == episodes
            and prov.get("seed") == seed
            and prov.get("max_steps") == max_steps
            and prov.get("policy") == policy
            and prov.get("env_kwargs") == json.loads(json.dumps(kwargs))
        ):
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_dataset(
        path,
        env_id,
        episodes,
        policy=policy,
        seed=seed,
        workers=workers,
        env_kwargs=kwargs,
        max_steps=max_steps,
        progress=progress,
    )


def model_path(summary: dict[str, Any]) -> Path:
    """The checkpoint to use from a pretraining summary: the best by held-out free energy when
    kept, else the final one."""
    paths = summary.get("paths", {})
    best = paths.get("best")
    if best and Path(best).is_file() and summary.get("best", {}).get("step") is not None:
        return Path(best)
    return Path(paths["final"])


def prepare_model(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    preset: str | None = None,
    minutes: float | None = 5.0,
    seed: int = 0,
    progress: bool = True,
    **options: Any,
) -> tuple[Path, dict[str, Any]]:
    """Pretrain an RP-GSSM on ``data`` into ``out`` (a ``.pt`` path) unless its summary exists.

    Returns:
        ``(checkpoint to use, pretraining summary)``.
    """
    from rpgssm_env.training.pretrain import output_paths, pretrain

    paths = output_paths(out)
    if paths["summary"].is_file() and paths["final"].is_file():
        summary = json.loads(paths["summary"].read_text())
        settings = summary.get("settings", {})
        same = summary.get("preset") == preset and all(
            settings.get(k) == json.loads(json.dumps(v))
            for k, v in options.items()
            if v is not None
        )
        if same:
            return model_path(summary), summary
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    summary = pretrain(
        data,
        out,
        preset=preset,
        minutes=minutes,
        seed=seed,
        progress=progress,
        resume=paths["final"].is_file(),
        threads=None,
        **options,
    )
    return model_path(summary), summary
