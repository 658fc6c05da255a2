"""Speed of the exact posterior and of the free energy on this machine's CPU (or a GPU).

Prints one JSON line: milliseconds per call (median of repeats) of

* the sequential smoother, B = 64, T = 100, K = 8 and K = 32, forward and forward + backward;
* the associative-scan smoother against the sequential one at T = 1000;
* the free energy (B x B contrastive scores + chain KL) at the paper's B = 32, T = 100, K = 8.

Usage: ``python benchmarks/bench_smoother.py [--device cpu|cuda] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from rpgssm_env.model.inference import PriorChain, kalman_smoother
from rpgssm_env.model.objective import free_energy


def _problem(B: int, T: int, K: int, device: str, requires_grad: bool = False):
    gen = torch.Generator().manual_seed(0)
    M = torch.randn(K, K, generator=gen)
    A = 0.95 * M / torch.linalg.matrix_norm(M, ord=2)
    Q = torch.eye(K) - A @ A.mT
    L = torch.randn(B, T, K, K, generator=gen) / K**0.5
    P = L @ L.mT + 0.1 * torch.eye(K)
    h = torch.randn(B, T, K, generator=gen)
    chain = PriorChain(torch.zeros(K), torch.eye(K), A, torch.zeros(K), Q)
    chain = PriorChain(*(x.to(device) for x in chain))
    P, h = P.to(device).requires_grad_(requires_grad), h.to(device).requires_grad_(requires_grad)
    return chain, P, h


def _time(fn: Callable[[], object], device: str, repeats: int = 5) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    out: dict[str, object] = {"device": dev, "threads": args.threads, "unit": "ms"}
    for K in (8, 32):
        chain, P, h = _problem(64, 100, K, dev)
        with torch.no_grad():
            out[f"smoother_fwd_B64_T100_K{K}"] = _time(
                lambda: kalman_smoother(*chain, P, h),  # noqa: B023 - called at once
                dev,
            )
        chain, P, h = _problem(64, 100, K, dev, requires_grad=True)

        def fwd_bwd() -> None:
            r = kalman_smoother(*chain, P, h)  # noqa: B023
            (r.means.sum() + r.covs.sum() + r.cross_covs.sum()).backward()

        out[f"smoother_fwd_bwd_B64_T100_K{K}"] = _time(fwd_bwd, dev)
    chain, P, h = _problem(8, 1000, 8, dev)
    with torch.no_grad():
        out["sequential_B8_T1000_K8"] = _time(lambda: kalman_smoother(*chain, P, h), dev, 3)
        out["parallel_B8_T1000_K8"] = _time(
            lambda: kalman_smoother(*chain, P, h, parallel=True), dev, 3
        )
    chain, P, h = _problem(32, 100, 8, dev, requires_grad=True)

    def objective() -> None:
        with torch.no_grad():
            post = kalman_smoother(*chain, P, h)
        free_energy(post, [(P, h)], chain).loss.backward()

    out["free_energy_fwd_bwd_B32_T100_K8"] = _time(objective, dev)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
