"""LinearGaussianPrior: parametrisations, stability projection (oracles 6, 7), actions."""

from __future__ import annotations

import math

import pytest
import torch

from rpgssm_env.model.inference import prior_marginals
from rpgssm_env.model.prior import LinearGaussianPrior

torch.set_num_threads(1)


def _random_A(K: int, smax: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(K, K, generator=g, dtype=torch.float64)
    return smax * M / torch.linalg.matrix_norm(M, ord=2)


def test_invariant_marginals_stay_identity():
    """Oracle 6: Q = I - A A^T, m1 = 0, Q1 = I, s_max(A) < 1 -> every prior marginal is N(0, I)."""
    K, T = 5, 30
    prior = LinearGaussianPrior(K).double()
    with torch.no_grad():
        prior.A_raw.copy_(_random_A(K, 0.97))
    chain = prior.chain(None, batch=2, T=T)
    means, covs = prior_marginals(chain, T, batch=2)
    eye = torch.eye(K, dtype=torch.float64)
    torch.testing.assert_close(covs, eye.expand(2, T, K, K), atol=1e-12, rtol=0)
    assert means.abs().max() == 0
    # the same by the spec's own recursion, independently of the inference module
    S = chain.Q1
    for _ in range(T - 1):
        S = chain.A @ S @ chain.A.T + chain.Q
    torch.testing.assert_close(S, eye, atol=1e-12, rtol=0)
    assert prior.parameter_groups()["prior"] == [prior.A_raw]


def test_default_init_and_q_positive_definite():
    prior = LinearGaussianPrior(4)
    torch.testing.assert_close(prior.A, 0.5 * torch.eye(4))
    torch.testing.assert_close(prior.Q, 0.75 * torch.eye(4))
    assert prior.b is None
    assert prior.m1 is None


@pytest.mark.parametrize("kind", ["clip", "scale"])
def test_projection_bounds_singular_values(kind):
    """Oracle 7: after the projection s_max(A) <= 1 - eps and I - A A^T is positive definite."""
    K, eps = 6, 1e-3
    prior = LinearGaussianPrior(K, projection=kind, projection_eps=eps)
    with torch.no_grad():
        prior.A_raw.copy_(_random_A(K, 3.0).float())
    before = prior.A_raw.detach().clone()
    prior.project_()
    s = torch.linalg.svdvals(prior.A_raw.double())
    assert s.max() <= 1 - eps + 1e-6
    assert s.max() >= 1 - eps - 1e-4  # projected onto the boundary, not shrunk further
    assert torch.linalg.eigvalsh(prior.Q.double()).min() > 1e-3
    if kind == "scale":  # direction kept: A is a positive multiple of the old one
        ratio = prior.A_raw / before
        torch.testing.assert_close(ratio, ratio[0, 0].expand_as(ratio), rtol=1e-4, atol=1e-6)
    else:  # clip keeps singular vectors and the small singular values
        s_old = torch.linalg.svdvals(before.double())
        small = s_old < 1 - eps
        torch.testing.assert_close(s[small], s_old[small], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["clip", "scale"])
def test_projection_leaves_stable_A_unchanged(kind):
    prior = LinearGaussianPrior(5, projection=kind)
    with torch.no_grad():
        prior.A_raw.copy_(_random_A(5, 0.9, seed=3).float())
    before = prior.A_raw.detach().clone()
    prior.project_()
    assert torch.equal(prior.A_raw, before)


def test_projection_none_and_diag_sigmoid():
    prior = LinearGaussianPrior(3, projection=None)
    with torch.no_grad():
        prior.A_raw.fill_(2.0)
    prior.project_()
    assert float(prior.A_raw.detach()[0, 0]) == 2.0
    diag = LinearGaussianPrior(3, A_param="diag_sigmoid", A_init=0.9)
    torch.testing.assert_close(diag.A, 0.9 * torch.eye(3))
    with torch.no_grad():
        diag.A_raw.fill_(50.0)  # sigmoid rounds to 1 in float32: still stable
    assert diag.spectral_norm() < 1.0
    assert torch.linalg.eigvalsh(diag.Q.double()).min() > 1e-3


def test_rotation_parametrisation_is_stable_and_band_limited():
    """A = blockdiag(rho_i R(f_i)) (+ a real eigenvalue for odd K): eigenvalues rho_i e^{+-i f_i},
    Q = I - A A^T = diag(1 - rho^2), and no raw value leaves s_max < 1 or f < A_max_freq."""
    K = 5
    prior = LinearGaussianPrior(K, A_param="rotation", A_init=0.8, projection_eps=0.02).double()
    prior.set_rotation_(0.9, [0.2, 1.0])
    A = prior.A.detach()
    block = 0.9 * torch.tensor([[math.cos(0.2), -math.sin(0.2)], [math.sin(0.2), math.cos(0.2)]])
    torch.testing.assert_close(A[:2, :2], block.double())
    torch.testing.assert_close(A[2:4, :2], torch.zeros(2, 2, dtype=torch.float64))
    assert float(A[4, 4]) == pytest.approx(0.9)  # the odd K's real eigenvalue
    ev = torch.linalg.eigvals(A)
    torch.testing.assert_close(ev.abs(), torch.full((K,), 0.9, dtype=torch.float64))
    angles = sorted(abs(float(torch.angle(e))) for e in ev)
    assert angles == pytest.approx([0.0, 0.2, 0.2, 1.0, 1.0])
    torch.testing.assert_close(prior.Q.detach(), 0.19 * torch.eye(K, dtype=torch.float64))
    # gradients reach every raw parameter; the projection is a no-op
    (prior.A * torch.arange(K * K, dtype=torch.float64).reshape(K, K)).sum().backward()
    assert bool((prior.A_raw.grad != 0).all())
    before = prior.A_raw.detach().clone()
    prior.project_()
    assert torch.equal(prior.A_raw, before)
    with torch.no_grad():
        prior.A_raw.fill_(60.0)  # sigmoid rounds to 1: radii at 1 - eps, frequencies at the cap
    assert prior.spectral_norm() == pytest.approx(0.98)
    _, freqs, _ = prior.rotation_params()
    assert float(freqs.detach().max()) == pytest.approx(math.pi / 2)
    assert torch.linalg.eigvalsh(prior.Q).min() > 0.03
    with pytest.raises(ValueError, match="A_max_freq"):
        prior.set_rotation_(0.9, [0.2, 2.0])  # above pi / 2
    with pytest.raises(ValueError, match="need 2 frequencies"):
        prior.set_rotation_(0.9, [0.2])
    with pytest.raises(ValueError, match="A_init"):
        LinearGaussianPrior(4, A_param="rotation", A_init=1.0)
    with pytest.raises(ValueError, match="A_max_freq"):
        LinearGaussianPrior(4, A_param="rotation", A_max_freq=4.0)
    with pytest.raises(ValueError, match="needs A_param='rotation'"):
        LinearGaussianPrior(4).rotation_params()


@pytest.mark.parametrize("q_param", ["diag", "cholesky"])
def test_general_parametrisation(q_param):
    K = 4
    prior = LinearGaussianPrior(
        K, parametrization="general", Q_param=q_param, learn_Q1=True, A_init=1.0
    )
    torch.testing.assert_close(prior.A, torch.eye(K))
    torch.testing.assert_close(prior.Q, 0.1 * torch.eye(K), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(prior.Q1, torch.eye(K), atol=1e-6, rtol=1e-5)
    names = {n for n, _ in prior.named_parameters()}
    assert {"A_raw", "b", "m1", "Q_map.raw", "Q1_map.raw"} <= names
    # positive definite whatever the raw parameters
    with torch.no_grad():
        for p in prior.parameters():
            p.normal_(0, 3)
    for M in (prior.Q, prior.Q1):
        assert torch.linalg.eigvalsh(M.double()).min() > 0
    chain = prior.chain(None, 2, 5)
    assert chain.b is prior.b
    assert chain.m1 is prior.m1


def test_continuous_actions_chain():
    torch.manual_seed(0)
    K, B, T, d = 3, 2, 6, 2
    prior = LinearGaussianPrior(
        K, action_kind="continuous", action_dim=d, action_mlp=(16,), action_matrix=True
    )
    a = torch.randn(B, T - 1, d)
    chain = prior.chain(a, B, T)
    assert chain.A.shape == (B, T - 1, K, K)
    assert chain.b.shape == (B, T - 1, K)
    # near-zero initialisation of the MLP terms: A_t ~ A, b_t ~ 0
    assert (chain.A - prior.A).abs().max() < 0.05
    assert chain.b.abs().max() < 0.05
    with torch.no_grad():
        prior.actions.B_u.copy_(torch.randn(K, d))
    chain2 = prior.chain(a, B, T)
    expected = chain.b + a @ prior.actions.B_u.T
    torch.testing.assert_close(chain2.b, expected)
    groups = prior.parameter_groups()
    assert len(groups["actions"]) == len(list(prior.actions.parameters())) > 0
    assert all(all(p is not q for q in groups["actions"]) for p in groups["prior"])
    # gradient reaches the action parameters
    chain2.b.sum().backward()
    assert prior.actions.B_u.grad is not None
    assert prior.actions.B_u.grad.abs().sum() > 0


def test_discrete_actions_chain():
    K, B, T, n = 3, 2, 5, 4
    prior = LinearGaussianPrior(K, action_kind="discrete", num_actions=n, action_matrix=True)
    a = torch.tensor([[0, 1, 2, 3], [3, 3, 0, 1]])
    chain = prior.chain(a, B, T)
    torch.testing.assert_close(chain.A, prior.A.expand(B, T - 1, K, K))  # C = I at init
    assert chain.b.abs().max() == 0  # c = 0 at init
    with torch.no_grad():
        prior.actions.c_table.copy_(torch.arange(n * K, dtype=torch.float32).reshape(n, K))
        prior.actions.C_table[2].mul_(2.0)
    chain = prior.chain(a, B, T)
    torch.testing.assert_close(chain.b[1, 0], prior.actions.c_table[3])
    torch.testing.assert_close(chain.A[0, 2], 2.0 * prior.A)
    torch.testing.assert_close(chain.A[0, 1], prior.A)


def test_chain_errors():
    prior = LinearGaussianPrior(3)
    with pytest.raises(ValueError, match="no action model"):
        prior.chain(torch.zeros(2, 4, 1), 2, 5)
    acting = LinearGaussianPrior(3, action_kind="continuous", action_dim=1)
    with pytest.raises(ValueError, match=r"\(B, T-1\)"):
        acting.chain(torch.zeros(2, 5, 1), 2, 5)
    with pytest.raises(ValueError, match="parametrization"):
        LinearGaussianPrior(3, parametrization="bogus")
    with pytest.raises(ValueError, match="projection"):
        LinearGaussianPrior(3, projection="bogus")


def test_softplus_inverse_round_trip():
    from rpgssm_env.model.prior import softplus_inverse

    for y in (1e-3, 0.7, 5.0):
        assert math.isclose(
            float(
                torch.nn.functional.softplus(torch.tensor(softplus_inverse(y), dtype=torch.float64))
            ),
            y,
            rel_tol=1e-9,
        )


@pytest.mark.parametrize("A_param", ["rotation", "diag_sigmoid"])
def test_moving_the_radius_cap_keeps_A(A_param):
    """set_projection_eps_: relaxing keeps A exactly and lets radii grow to the new cap;
    tightening clips the radii above it; keep_A=False rescales A by the caps' ratio."""
    K = 5  # odd: the rotation form's real eigenvalue is a radius too
    prior = LinearGaussianPrior(K, A_param=A_param, A_init=0.8, projection_eps=0.03).double()
    if A_param == "rotation":
        prior.set_rotation_(0.95, [0.1, 0.5])
    with torch.no_grad():
        prior.A_raw[-1] = 3.0  # one radius of 0.97 * sigmoid(3) = 0.924
    A0 = prior.A.detach().clone()
    prior.set_projection_eps_(0.01)
    assert prior.projection_eps == 0.01
    torch.testing.assert_close(prior.A.detach(), A0)
    with torch.no_grad():
        prior.A_raw.fill_(60.0)
    assert prior.spectral_norm() == pytest.approx(0.99)  # the relaxed cap binds
    prior.set_projection_eps_(0.03)
    prior.set_projection_eps_(0.2)  # tighten: every radius above 0.8 is clipped to it
    assert prior.spectral_norm() == pytest.approx(0.8, abs=1e-5)
    fresh = LinearGaussianPrior(K, A_param=A_param, A_init=0.5, projection_eps=0.1).double()
    A1 = fresh.A.detach().clone()
    fresh.set_projection_eps_(0.55, keep_A=False)  # radii scale by 0.45 / 0.9
    torch.testing.assert_close(torch.linalg.eigvals(fresh.A.detach()).abs(),
                               0.5 * torch.linalg.eigvals(A1).abs())  # fmt: skip
    with pytest.raises(ValueError, match="projection_eps"):
        prior.set_projection_eps_(1.0)
