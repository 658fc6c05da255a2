"""Training-step time and peak memory of the RP-GSSM at the paper's shapes, on 2 CPU threads.

Prints ONE JSON line: for each configuration the median (and minimum) wall-clock seconds per
training step (forward, backward, Adam step, A projection) after warm-up, the median process CPU
seconds per step (``cpu_s_median``: with ``--threads 1`` a measure that other processes on a
shared machine disturb little; with 2 threads busy-waiting inflates it), and the peak resident
memory of a fresh process (``VmHWM`` from ``/proc/self/status``; torch CPU allocations are
invisible to
tracemalloc), minus the memory after the imports (``peak_rss_delta_mb``).

Configurations: 24x24x1 frames, B=32, T=100, K=8, the paper's CNN, EM and direct modes
(targets: <= 1.13 s/step, peak < 1.2 GB); 64x64x3 frames, B=32, T=100, K=8, EM and direct
(peak < 3 GB). Variants: the trunk under bfloat16 autocast (``trunk_autocast``) and the
recognition run in activation-checkpointed chunks of 800 frames (``recognition_chunk``).

    python benchmarks/bench_train_step.py [--steps 5] [--warmup 2] [--threads 1] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "24x24x1_em": {"size": 24, "channels": 1, "mode": "em"},
    "24x24x1_direct": {"size": 24, "channels": 1, "mode": "direct"},
    "24x24x1_em_bf16trunk": {"size": 24, "channels": 1, "mode": "em", "trunk_autocast": "bfloat16"},
    "64x64x3_em": {"size": 64, "channels": 3, "mode": "em"},
    "64x64x3_direct": {"size": 64, "channels": 3, "mode": "direct"},
    "64x64x3_em_chunk800": {"size": 64, "channels": 3, "mode": "em", "recognition_chunk": 800},
}
B, T, K = 32, 100, 8


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def run_one(name: str, steps: int, warmup: int, threads: int) -> dict:
    """Measure one configuration in this process."""
    import torch

    from rpgssm_env import RPGSSM, RPGSSMConfig

    torch.set_num_threads(threads)
    base_kb = _status_kb("VmRSS")
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    options = {k: cfg[k] for k in ("trunk_autocast", "recognition_chunk") if k in cfg}
    shape = (cfg["size"], cfg["size"], cfg["channels"])
    model = RPGSSM(RPGSSMConfig(latent_dim=K, obs_shape=shape, **options))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    shape = (B, T, cfg["size"], cfg["size"], cfg["channels"])
    obs = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    times, cpu_times = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        fe = model.loss(obs, mode=cfg["mode"])
        fe.loss.backward()
        opt.step()
        model.project_()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    peak_kb = _status_kb("VmHWM")
    return {
        "config": name,
        "B": B,
        "T": T,
        "K": K,
        "frame": f"{cfg['size']}x{cfg['size']}x{cfg['channels']}",
        "mode": cfg["mode"],
        **options,
        "threads": threads,
        "step_s_median": round(statistics.median(times), 4),
        "step_s_min": round(min(times), 4),
        "cpu_s_median": round(statistics.median(cpu_times), 4),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "peak_rss_delta_mb": round((peak_kb - base_kb) / 1024, 1),
        "loss": round(float(fe.loss.detach()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append")
    parser.add_argument("--child", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.steps, args.warmup, args.threads)))
        return
    results = []
    for name in args.only or list(CONFIGS):
        cmd = [sys.executable, __file__, "--child", name, "--steps", str(args.steps)]
        cmd += ["--warmup", str(args.warmup), "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    targets = {"24x24x1_step_s": 1.13, "24x24x1_peak_mb": 1200, "64x64x3_peak_mb": 3000}
    print(json.dumps({"benchmark": "train_step", "results": results, "targets": targets}))


if __name__ == "__main__":
    main()
