"""Cost of the online RP-GSSM filter in a vectorised RL loop, on this machine's CPU.

Prints one JSON line with

* env steps per second of ``rpgssm/Pendulum-v0`` (64x64 colour frames, a distractor) in an SB3
  ``SubprocVecEnv`` at 1 and 8 envs, without the filter (raw pixels) and with it
  (:class:`~rpgssm_env.wrappers.sb3.VecLatentObservation`, filter batched in the main process),
  and the throughput lost to the filter (target: at most 15% at 8 envs);
* the filter step latency (frames -> features, one forward pass) at batch 1, 8 and 64 on CPU
  (and on CUDA when available), milliseconds, median of repeats; with the glibc malloc tuning
  that the filter applies by default (:func:`~rpgssm_env.model.online.tune_malloc`) and, for
  comparison, with glibc's default settings.

Two recognition trunks are measured, with random weights (speed does not depend on training):
``paper`` (the default layout for 64x64 frames, the paper's walker trunk: conv 16/16/32/32/32,
strides 1/2/2/2/2) and ``small`` (conv 16/32/32/32, all stride 2: the first full-resolution
convolution, about 40% of the paper trunk's work, is dropped).

Raw and latent throughputs are measured on the SAME worker processes, in alternating blocks, and
the best block of each is kept, so that other load on the machine affects both alike;
``est_cost_*_pct`` gives the cost predicted from the isolated filter latency and the raw step time
(``latency / (raw step time + latency)``), a steadier figure on a shared machine.

Usage: ``python benchmarks/bench_latent_env.py [--steps 150] [--distractor video]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import torch

from rpgssm_env.model.online import RPGSSMFilter
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig

TRUNKS = {
    "paper": {"channels": None, "strides": None},
    "small": {"channels": (16, 32, 32, 32), "strides": (2, 2, 2, 2)},
}


def _model(trunk: str) -> RPGSSM:
    torch.manual_seed(0)
    cfg = RPGSSMConfig(
        latent_dim=8,
        obs_shape=(64, 64, 3),
        action_kind="continuous",
        action_dim=1,
        prior="general",
        **TRUNKS[trunk],
    )
    return RPGSSM(cfg).eval()


def _steps_per_second(step, n_envs: int, actions: np.ndarray) -> float:
    t0 = time.perf_counter()
    for a in actions:
        step(a)
    return n_envs * len(actions) / (time.perf_counter() - t0)


def _throughput(env_id: str, n_envs: int, ckpts: dict[str, str], args) -> dict:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from rpgssm_env.wrappers.factory import _build_env
    from rpgssm_env.wrappers.sb3 import VecLatentObservation

    kwargs = {"size": 64, "distractor": args.distractor}
    fns = [lambda: _build_env(env_id, kwargs, False) for _ in range(n_envs)]
    venv = SubprocVecEnv(fns)
    try:
        venv.seed(0)
        venv.reset()
        wrappers = {
            name: VecLatentObservation(venv, path, device="cpu") for name, path in ckpts.items()
        }
        rng = np.random.default_rng(0)
        actions = rng.uniform(-2, 2, size=(args.steps, n_envs, 1)).astype(np.float32)
        best: dict[str, float] = {}
        steppers = {"raw": venv.step} | {name: w.step for name, w in wrappers.items()}
        for w in wrappers.values():
            w.reset()
        for step in steppers.values():  # warm-up
            _steps_per_second(step, n_envs, actions[:10])
        for _ in range(args.blocks):
            for name, step in steppers.items():
                sps = _steps_per_second(step, n_envs, actions)
                best[name] = max(best.get(name, 0.0), sps)
        out = {"raw_sps": round(best["raw"], 1)}
        for name in wrappers:
            out[f"latent_{name}_sps"] = round(best[name], 1)
            out[f"cost_{name}_pct"] = round(100.0 * (1.0 - best[name] / best["raw"]), 1)
        return out
    finally:
        venv.close()


def _latency(trunk: str, batch: int, device: str, repeats: int, tune: bool = True) -> float:
    model = _model(trunk)
    filt = RPGSSMFilter(model, batch, device=device, tune_malloc=tune)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(batch, 64, 64, 3), dtype=np.uint8)
    actions = rng.uniform(-2, 2, size=(batch, 1)).astype(np.float32)
    filt.reset(None, frames)
    for _ in range(5):
        filt.step(frames, actions)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        filt.step(frames, actions)  # ends with the features on the host: synchronised
        times.append(time.perf_counter() - t0)
    return round(1e3 * statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="rpgssm/Pendulum-v0")
    parser.add_argument("--distractor", default="video")
    parser.add_argument("--steps", type=int, default=150, help="vector steps per block")
    parser.add_argument("--blocks", type=int, default=3, help="alternating blocks per setting")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (main process)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {
        "bench": "latent_env",
        "env_id": args.env_id,
        "frames": [64, 64, 3],
        "distractor": args.distractor,
        "K": 8,
        "torch_threads": args.threads,
        "cpus": os.cpu_count(),
    }
    # glibc's malloc settings are process-wide and cannot be undone: untuned latencies first
    untuned = {
        f"cpu_{trunk}_b{batch}_ms": _latency(trunk, batch, "cpu", 30, tune=False)
        for trunk in TRUNKS
        for batch in (1, 8, 64)
    }
    with tempfile.TemporaryDirectory() as tmp:
        ckpts = {}
        for trunk in TRUNKS:
            ckpts[trunk] = os.path.join(tmp, f"{trunk}.pt")
            _model(trunk).save(ckpts[trunk])
        for n in (1, 8):
            result[f"n{n}"] = _throughput(args.env_id, n, ckpts, args)
    latency: dict[str, float] = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for trunk in TRUNKS:
            for batch in (1, 8, 64):
                latency[f"{device}_{trunk}_b{batch}_ms"] = _latency(trunk, batch, device, 30)
    result["filter_step_latency"] = latency
    # the same cost estimated from the isolated filter latency and the raw env step time, which is
    # less sensitive to other load on the machine than the difference of two throughputs
    for n in (1, 8):
        raw_ms = 1e3 * n / result[f"n{n}"]["raw_sps"]
        for trunk in TRUNKS:
            lat = latency[f"cpu_{trunk}_b{n}_ms"]
            result[f"n{n}"][f"est_cost_{trunk}_pct"] = round(100.0 * lat / (raw_ms + lat), 1)
    result["filter_step_latency_default_malloc"] = untuned
    result["target_cost_at_8_envs_pct"] = 15.0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
