"""``rpgssm check``: a quick end-to-end check of an installation (about 20 s on 2 CPU cores).

1. Exact inference: the sequential and associative-scan smoothers agree on a random problem.
2. Learning: a small RP-GSSM trained for a few hundred steps on data from a known
   linear-Gaussian system recovers the latent state (held-out R^2 of a linear probe).
3. Environments: a registered pixel env with a natural-video background renders frames of the
   right shape and keeps the true state in ``info["state"]``.

Each check prints one line; the function returns whether all passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["run_checks"]


def _check_inference(device: torch.device) -> str:
    from rpgssm_env.model.inference import kalman_smoother

    gen = torch.Generator().manual_seed(0)
    B, T, K = 4, 64, 6
    M = torch.randn(K, K, generator=gen, dtype=torch.float64)
    A = 0.95 * M / torch.linalg.matrix_norm(M, ord=2)
    Q = torch.eye(K, dtype=torch.float64) - A @ A.mT
    L = torch.randn(B, T, K, K, generator=gen, dtype=torch.float64)
    P = L @ L.mT / K + 0.1 * torch.eye(K, dtype=torch.float64)
    h = torch.randn(B, T, K, generator=gen, dtype=torch.float64)
    args = [torch.zeros(K, dtype=torch.float64), torch.eye(K, dtype=torch.float64), A]
    args += [torch.zeros(K, dtype=torch.float64), Q, P, h]
    args = [a.to(device) for a in args]
    seq = kalman_smoother(*args)
    par = kalman_smoother(*args, parallel=True)
    err = max((a - b).abs().max().item() for a, b in zip(seq, par))
    if err > 1e-8:
        raise AssertionError(f"sequential and parallel smoothers differ by {err:.2e}")
    return f"sequential = parallel smoother (max difference {err:.1e})"


def _check_learning(device: torch.device, seed: int) -> str:
    from rpgssm_env.data.arrays import ArrayEpisodes
    from rpgssm_env.data.synthetic import sample_lgssm
    from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig
    from rpgssm_env.training.probe import encode, probe_r2
    from rpgssm_env.training.trainer import EMTrainer

    rng = np.random.default_rng(seed)
    K, D, n_train = 3, 10, 160
    x, z, _ = sample_lgssm(n_train + 40, 50, K, D, rng, noise=0.8)
    torch.manual_seed(seed)
    model = RPGSSM(RPGSSMConfig(latent_dim=K, obs_shape=(D,), hidden=(), head="constant"))

    def held_out_r2() -> float:
        smoothed, _ = encode(model, x)
        scores = probe_r2(
            smoothed[:n_train].reshape(-1, K),
            z[:n_train].reshape(-1, K),
            smoothed[n_train:].reshape(-1, K),
            z[n_train:].reshape(-1, K),
        )
        return min(scores.values())

    before = held_out_r2()
    trainer = EMTrainer(
        model,
        ArrayEpisodes(x[:n_train]),
        mode="direct",
        lr=3e-2,
        lr_prior=3e-3,
        decay_every=None,
        grad_clip=1.0,
        steps=150,
        batch_size=32,
        seed=seed,
        device=device,
        progress=False,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # K x K algebra: one thread is fastest and immune to contention
    try:
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    after = held_out_r2()
    if after < 0.75:
        raise AssertionError(
            f"held-out R^2 of the latent state {before:.2f} -> {after:.2f} after 150 steps "
            "(expected > 0.75)"
        )
    return f"linear-Gaussian recovery: held-out R^2 {before:.2f} -> {after:.2f} in 150 steps"


def _check_env(seed: int) -> str:
    import gymnasium as gym

    import rpgssm_env  # noqa: F401 - registers the env ids

    env = gym.make("rpgssm/Pendulum-v0", distractor="video", size=64)
    try:
        obs, info = env.reset(seed=seed)
        for _ in range(5):
            obs, _, _, _, info = env.step(env.action_space.sample())
    finally:
        env.close()
    if obs.shape != (64, 64, 3) or obs.dtype != np.uint8 or info["state"].shape != (2,):
        raise AssertionError(f"unexpected frame {obs.shape} {obs.dtype} or state {info['state']}")
    return "rpgssm/Pendulum-v0 with a video background: 64x64x3 uint8 frames, state (theta, omega)"


def run_checks(device: str = "auto", seed: int = 0) -> bool:
    """Run the checks, print one line each, and return whether all passed."""
    from rpgssm_env.model.rpgssm import resolve_device

    dev = resolve_device(device)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("inference", lambda: _check_inference(dev)),
        ("learning", lambda: _check_learning(dev, seed)),
        ("environment", lambda: _check_env(seed)),
    ]
    ok = True
    print(f"rpgssm check on {dev} (torch {torch.__version__})")
    for name, check in checks:
        t0 = time.perf_counter()
        try:
            message = check()
            status = "ok  "
        except Exception as exc:  # report every failing check, not only the first
            message = f"{type(exc).__name__}: {exc}"
            status = "FAIL"
            ok = False
        print(f"  [{status}] {name:<12} {message} ({time.perf_counter() - t0:.1f} s)")
    print("all checks passed" if ok else "some checks FAILED")
    return ok
