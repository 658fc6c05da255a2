"""Oracle 11: linear-Gaussian recovery.

Data from a known LGSSM: ``A = 0.95 R(pi/5)`` (rotation in a random 2-plane, scaled; every
eigenvalue has modulus 0.95), ``Q = I - A A^T``, linear emissions ``x = C z + d + noise``;
N = 200 training and 60 held-out sequences of T = 100 steps. A linear recognition network
(constant precision) is trained by direct gradients; a linear probe fitted on the training
sequences' posterior means must predict the true z on held-out sequences with R^2 > 0.9, and A's
eigenvalues must approach the true ones.

The observation noise (0.8 per dimension) is chosen so that single frames are not enough: an
untrained model's posterior means reach only R^2 ~ 0.7 on this data, so passing needs the learned
dynamics (and a broken trainer fails).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rpgssm_env import RPGSSM, EMTrainer, RPGSSMConfig
from rpgssm_env.data.arrays import ArrayEpisodes
from rpgssm_env.data.synthetic import sample_lgssm
from rpgssm_env.training.probe import encode, probe_r2

torch.set_num_threads(1)


def _r2(model, x, z, n_train):
    K = z.shape[-1]
    sm, fi = encode(model, x)
    out = {}
    for kind, means in (("smoothed", sm), ("filtered", fi)):
        scores = probe_r2(
            means[:n_train].reshape(-1, means.shape[-1]),
            z[:n_train].reshape(-1, K),
            means[n_train:].reshape(-1, means.shape[-1]),
            z[n_train:].reshape(-1, K),
        )
        out[kind] = min(scores.values())
    return out


def _recover(K: int, D: int, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_train, n_test = 200, 60
    x, z, A_true = sample_lgssm(n_train + n_test, 100, K, D, rng, noise=0.8)
    torch.manual_seed(seed)
    model = RPGSSM(RPGSSMConfig(latent_dim=K, obs_shape=(D,), hidden=(), head="constant"))
    before = _r2(model, x, z, n_train)
    trainer = EMTrainer(
        model,
        ArrayEpisodes(x[:n_train]),
        mode="direct",
        lr=3e-2,
        lr_prior=3e-3,
        decay_every=None,
        grad_clip=1.0,
        steps=steps,
        batch_size=32,
        window=100,
        seed=seed,
        device="cpu",
        progress=False,
    )
    hist = trainer.fit()
    after = _r2(model, x, z, n_train)
    eig_true = np.linalg.eigvals(A_true)
    eig = np.linalg.eigvals(model.prior.A.detach().double().numpy())
    return before, after, eig_true, eig, hist


def _check(before, after, eig_true, eig, hist, K):
    assert before["smoothed"] < 0.85  # the task needs learning
    assert after["smoothed"] > 0.9  # oracle 11
    assert after["filtered"] > 0.85
    assert np.mean(hist["loss"][-10:]) < math.log(32) - 1.0
    # eigenvalue moduli approach the true 0.95 (from A_0 = 0.5 I)
    assert np.abs(np.abs(eig) - np.abs(eig_true)).max() < 0.06
    # the rotation is found: a complex pair with angle near pi/5
    angles = np.sort(np.abs(np.angle(eig)))
    assert abs(angles[-1] - math.pi / 5) < 0.15
    assert K < 3 or angles[-3] < 0.1  # the other directions do not rotate much


def test_linear_gaussian_recovery_k3():
    before, after, eig_true, eig, hist = _recover(K=3, D=10, steps=150)
    _check(before, after, eig_true, eig, hist, K=3)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "known issue: with K=5 (D=15, noise 0.8, B=32) training keeps lowering the loss while the "
        "posterior drops latent directions (min held-out R^2 0.82 at 100 steps, 0.55 at 600; one "
        "eigenvalue modulus falls to 0.1). The contrastive term is capped at log B nats per step, "
        "so the objective may favour fewer informative directions; under investigation"
    ),
)
def test_linear_gaussian_recovery_k5():
    before, after, eig_true, eig, hist = _recover(K=5, D=15, steps=600)
    _check(before, after, eig_true, eig, hist, K=5)
