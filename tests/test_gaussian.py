"""Gaussian algebra in natural parameters against textbook moment formulas (spec 4.1, 4.2)."""

from __future__ import annotations

import math

import pytest
import torch
from oracles import random_spd

from rpgssm_env.model.gaussian import (
    expected_stats_inner,
    gaussian_entropy,
    kl_moment,
    kl_natural,
    log_normalizer,
    moment_to_natural,
    natural_to_moment,
)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_log_normalizer_matches_definition(gen):
    K = 4
    Lam = random_spd(K, gen, batch=(3,))
    h = torch.randn(3, K, generator=gen, dtype=torch.float64)
    expected = 0.5 * (h.unsqueeze(-2) @ torch.linalg.inv(Lam) @ h.unsqueeze(-1)).squeeze((-1, -2))
    expected = expected - 0.5 * torch.logdet(Lam)
    torch.testing.assert_close(log_normalizer(Lam, h), expected, rtol=1e-12, atol=1e-12)


def test_conversions_round_trip(gen):
    K = 5
    Sig = random_spd(K, gen, batch=(2, 3))
    mu = torch.randn(2, 3, K, generator=gen, dtype=torch.float64)
    Lam, h = moment_to_natural(mu, Sig)
    torch.testing.assert_close(Lam, torch.linalg.inv(Sig))
    mu2, Sig2 = natural_to_moment(Lam, h)
    torch.testing.assert_close(mu2, mu)
    torch.testing.assert_close(Sig2, Sig)


def test_integral_identity_by_quadrature():
    """int N_eta(z) exp(<eta', T(z)>) dz = exp(A(eta + eta') - A(eta)) in one dimension."""
    Lam, h = torch.tensor([[1.7]], dtype=torch.float64), torch.tensor([0.4], dtype=torch.float64)
    Lam2, h2 = torch.tensor([[0.6]], dtype=torch.float64), torch.tensor([-1.1], dtype=torch.float64)
    z = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    mu, var = h[0] / Lam[0, 0], 1 / Lam[0, 0]
    density = torch.exp(-0.5 * (z - mu) ** 2 / var) / math.sqrt(2 * math.pi * var)
    integrand = density * torch.exp(h2[0] * z - 0.5 * Lam2[0, 0] * z**2)
    numeric = torch.trapezoid(integrand, z)
    closed = torch.exp(log_normalizer(Lam + Lam2, h + h2) - log_normalizer(Lam, h))
    assert abs(numeric.item() - closed.item()) < 1e-9


def test_expected_stats_inner_by_monte_carlo(gen):
    K = 3
    Sig = random_spd(K, gen)
    mu = torch.randn(K, generator=gen, dtype=torch.float64)
    Lam2 = random_spd(K, gen)
    h2 = torch.randn(K, generator=gen, dtype=torch.float64)
    z = torch.distributions.MultivariateNormal(mu, Sig).sample((400000,))
    mc = (z @ h2 - 0.5 * ((z @ Lam2) * z).sum(-1)).mean()
    closed = expected_stats_inner(mu, Sig, Lam2, h2)
    assert abs(mc.item() - closed.item()) < 0.02


def test_natural_kl_equals_textbook_kl(gen):
    """Oracle 2: the natural-parameter KL equals the mean/covariance KL (and torch's)."""
    K = 4
    S1, S2 = random_spd(K, gen, batch=(5,)), random_spd(K, gen, batch=(5,))
    m1 = torch.randn(5, K, generator=gen, dtype=torch.float64)
    m2 = torch.randn(5, K, generator=gen, dtype=torch.float64)
    kl_nat = kl_natural(*moment_to_natural(m1, S1), *moment_to_natural(m2, S2))
    kl_mom = kl_moment(m1, S1, m2, S2)
    ref = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(m1, S1),
        torch.distributions.MultivariateNormal(m2, S2),
    )
    torch.testing.assert_close(kl_nat, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(kl_mom, ref, rtol=1e-10, atol=1e-10)
    assert (kl_nat > 0).all()


def test_kl_of_a_tilted_gaussian_special_case(gen):
    """KL(q || q + g) = -<E_q T, eta_g> - A(q) + A(q + g) (spec 4.2)."""
    K = 3
    Lq, hq = random_spd(K, gen), torch.randn(K, generator=gen, dtype=torch.float64)
    Lg, hg = random_spd(K, gen), torch.randn(K, generator=gen, dtype=torch.float64)
    mu, Sig = natural_to_moment(Lq, hq)
    special = (
        -expected_stats_inner(mu, Sig, Lg, hg)
        - log_normalizer(Lq, hq)
        + log_normalizer(Lq + Lg, hq + hg)
    )
    torch.testing.assert_close(special, kl_natural(Lq, hq, Lq + Lg, hq + hg))


def test_entropy(gen):
    Sig = random_spd(3, gen)
    ref = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), Sig).entropy()
    torch.testing.assert_close(gaussian_entropy(Sig), ref)
