"""The free energy and the chain KL against independent references (spec 8, oracles 3, 4, 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from oracles import dense_posterior, random_spd, random_stable

from rpgssm_env.model.gaussian import (
    expected_stats_inner,
    kl_moment,
    log_normalizer,
)
from rpgssm_env.model.inference import PriorChain, kalman_smoother, prior_marginals
from rpgssm_env.model.objective import (
    chain_kl,
    free_energy,
    free_energy_terms,
    moment_match,
    posterior_natural,
)

f64 = torch.float64


def _chain(K: int, gen: torch.Generator, B: int | None = None, T: int | None = None) -> PriorChain:
    """A general (not invariant) chain; per-sequence A_t, b_t when B and T are given."""
    if B is None:
        A = random_stable(K, gen, 0.9)
        b = 0.2 * torch.randn(K, generator=gen, dtype=f64)
    else:
        A = random_stable(K, gen, 0.9, (B, T - 1))
        b = 0.2 * torch.randn(B, T - 1, K, generator=gen, dtype=f64)
    return PriorChain(
        0.3 * torch.randn(K, generator=gen, dtype=f64),
        random_spd(K, gen),
        A,
        b,
        random_spd(K, gen, 0.4),
    )


def _factors(B, T, K, gen, J=1):
    return [
        (random_spd(K, gen, 1.5, (B, T)), torch.randn(B, T, K, generator=gen, dtype=f64))
        for _ in range(J)
    ]


def _posterior(chain, factors, mask=None):
    Lam = sum(f[0] for f in factors)
    h = sum(f[1] for f in factors)
    return kalman_smoother(*chain, Lam, h, mask)


def _dense_prior_cov(chain: PriorChain, T: int, B: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    K = chain.Q.shape[-1]
    means, covs = prior_marginals(chain, T, B)
    A = chain.A.expand(B, T - 1, K, K)[n]
    full = np.zeros((T * K, T * K))
    for t in range(T):
        for s in range(t + 1):
            # Cov(z_t, z_s) = A_{t-1} ... A_s Sig_s
            M = covs[n, s]
            for u in range(s, t):
                M = A[u] @ M
            full[t * K : (t + 1) * K, s * K : (s + 1) * K] = M.numpy()
            full[s * K : (s + 1) * K, t * K : (t + 1) * K] = M.numpy().T
    return means[n].reshape(-1).numpy(), full


@pytest.mark.parametrize("per_sequence", [False, True])
def test_chain_kl_three_forms_agree(per_sequence):
    """Oracle 3: the K x K conditional form, the pairwise form and the full KT-dimensional
    Gaussian KL agree."""
    B, T, K = 2, 5, 3
    gen = torch.Generator().manual_seed(10)
    chain = _chain(K, gen, B, T) if per_sequence else _chain(K, gen)
    factors = _factors(B, T, K, gen)
    post = _posterior(chain, factors)
    kl = chain_kl(post.means, post.covs, post.cross_covs, chain)
    prior_means, prior_covs = prior_marginals(chain, T, B)
    A = chain.A.expand(B, T - 1, K, K)
    for n in range(B):
        # Full KT-dimensional KL from the dense posterior.
        Lam, h = factors[0]
        b = chain.b.expand(B, T - 1, K)[n]
        m_q, S_q = dense_posterior(
            chain.m1.numpy(),
            chain.Q1.numpy(),
            A[n].numpy(),
            b.numpy(),
            chain.Q.numpy(),
            Lam[n].numpy(),
            h[n].numpy(),
        )
        m_p, S_p = _dense_prior_cov(chain, T, B, n)
        full = kl_moment(
            torch.from_numpy(m_q.reshape(-1)),
            torch.from_numpy(S_q),
            torch.from_numpy(m_p),
            torch.from_numpy(S_p),
        )
        torch.testing.assert_close(kl[n], full, rtol=1e-9, atol=1e-9)
        # Pairwise form: sum of 2K-dimensional pair KLs minus interior marginal KLs.
        pair_sum = 0.0
        for t in range(T - 1):
            mq = torch.cat([post.means[n, t], post.means[n, t + 1]])
            Sq = torch.cat(
                [
                    torch.cat([post.covs[n, t], post.cross_covs[n, t].mT], 1),
                    torch.cat([post.cross_covs[n, t], post.covs[n, t + 1]], 1),
                ]
            )
            mp = torch.cat([prior_means[n, t], prior_means[n, t + 1]])
            Xp = A[n, t] @ prior_covs[n, t]
            Sp = torch.cat(
                [
                    torch.cat([prior_covs[n, t], Xp.mT], 1),
                    torch.cat([Xp, prior_covs[n, t + 1]], 1),
                ]
            )
            pair_sum = pair_sum + kl_moment(mq, Sq, mp, Sp)
        for t in range(1, T - 1):
            pair_sum = pair_sum - kl_moment(
                post.means[n, t], post.covs[n, t], prior_means[n, t], prior_covs[n, t]
            )
        torch.testing.assert_close(kl[n], pair_sum, rtol=1e-9, atol=1e-9)


def test_log_gamma_minus_kl_qf_identity_and_jensen():
    """Oracle 4: log Gamma - KL^qf = E_q log gbar_n - log sum_m E_q gbar_m exactly, and Monte
    Carlo confirms log Gamma - KL^qf <= E_q log(gbar_n / mean_m gbar_m) - log B."""
    B, T, K = 4, 3, 2
    gen = torch.Generator().manual_seed(11)
    chain = _chain(K, gen)
    factors = _factors(B, T, K, gen)
    post = _posterior(chain, factors)
    terms = free_energy_terms(post, factors, chain)
    lhs = terms.log_gamma[0] - terms.kl_qf[0]  # (B, T)
    Lam_g, h_g = factors[0]
    prior_means, prior_covs = prior_marginals(chain, T, 1)
    for t in range(T):
        mu_p, Sig_p = prior_means[0, t], prior_covs[0, t]
        Lam_p = torch.linalg.inv(Sig_p)
        h_p = Lam_p @ mu_p
        # log of the normaliser of p_t g_m: int p_t g_m = exp(A(p + g_m) - A(p))
        log_norm = log_normalizer(Lam_p + Lam_g[:, t], h_p + h_g[:, t]) - log_normalizer(Lam_p, h_p)
        for n in range(B):
            mu_q, S_q = post.means[n, t], post.covs[n, t]
            Lam_q, h_q = torch.linalg.inv(S_q), torch.linalg.solve(S_q, mu_q)
            e_log_g = expected_stats_inner(mu_q, S_q, Lam_g[n, t], h_g[n, t]) - log_norm[n]
            # E_q gbar_m = int q g_m / int p g_m
            log_e_gbar = (
                log_normalizer(Lam_q + Lam_g[:, t], h_q + h_g[:, t])
                - log_normalizer(Lam_q, h_q)
                - log_norm
            )
            rhs = e_log_g - torch.logsumexp(log_e_gbar, 0)
            torch.testing.assert_close(lhs[n, t], rhs, rtol=1e-10, atol=1e-10)
            # Monte Carlo for the Jensen bound.
            z = torch.distributions.MultivariateNormal(mu_q, S_q).sample((200000,))
            log_g = z @ h_g[:, t].mT - 0.5 * torch.einsum("si,mij,sj->sm", z, Lam_g[:, t], z)
            log_gbar = log_g - log_norm  # (S, B)
            bound = (log_gbar[:, n] - torch.logsumexp(log_gbar, 1) + math.log(B)).mean() - math.log(
                B
            )
            assert lhs[n, t] <= bound + 1e-2


def test_identical_factors_give_minus_log_B_and_loss_near_log_B():
    """Oracle 5: identical factors across the batch give log Gamma = -log B exactly."""
    B, T, K = 6, 4, 3
    gen = torch.Generator().manual_seed(12)
    chain = _chain(K, gen)
    Lam, h = _factors(1, T, K, gen)[0]
    factors = [(Lam.expand(B, T, K, K), h.expand(B, T, K))]
    post = _posterior(chain, factors)
    terms = free_energy_terms(post, factors, chain)
    torch.testing.assert_close(terms.log_gamma, torch.full((1, B, T), -math.log(B), dtype=f64))
    # Uninformative (zero) factors: q = p, every KL vanishes and the loss is exactly log B.
    zero = [(torch.zeros(B, T, K, K, dtype=f64), torch.zeros(B, T, K, dtype=f64))]
    fe = free_energy(_posterior(chain, zero), zero, chain)
    torch.testing.assert_close(fe.loss, torch.tensor(math.log(B), dtype=f64))
    assert abs(fe.kl_qf.item()) < 1e-12
    assert abs(fe.kl_qp.item()) < 1e-10


def test_softmax_rows_sum_to_one_and_permutation_equivariance():
    B, T, K = 5, 4, 2
    gen = torch.Generator().manual_seed(13)
    chain = _chain(K, gen)
    factors = _factors(B, T, K, gen)
    post = _posterior(chain, factors)
    # Recompute the score matrix to check the softmax rows.
    Lam_q, h_q, _ = posterior_natural(post.means, post.covs)
    pm, pc = moment_match(*prior_marginals(chain, T, B))
    Lam_p, h_p, _ = posterior_natural(pm, pc)
    Lam_g, h_g = factors[0]
    scores = (
        log_normalizer(Lam_q[:, None] + Lam_g[None], h_q[:, None] + h_g[None])
        - log_normalizer(Lam_p + Lam_g, h_p + h_g)[None]
    )
    torch.testing.assert_close(torch.softmax(scores, 1).sum(1), torch.ones(B, T, dtype=f64))
    terms = free_energy_terms(post, factors, chain)
    torch.testing.assert_close(
        terms.log_gamma[0], torch.diagonal(torch.log_softmax(scores, 1), dim1=0, dim2=1).mT
    )
    perm = torch.randperm(B, generator=gen)
    pfactors = [(Lam_g[perm], h_g[perm])]
    pterms = free_energy_terms(_posterior(chain, pfactors), pfactors, chain)
    torch.testing.assert_close(pterms.log_gamma, terms.log_gamma[:, perm])
    torch.testing.assert_close(pterms.kl_qf, terms.kl_qf[:, perm])
    torch.testing.assert_close(pterms.kl_qp, terms.kl_qp[perm])


def test_masked_steps_are_excluded():
    """Padded steps are neither rows nor negatives, and do not count in Z."""
    B, T, K = 4, 6, 2
    gen = torch.Generator().manual_seed(14)
    chain = _chain(K, gen)
    factors = _factors(B, T, K, gen)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 4:] = False
    mask[2, 5] = False
    masked_factors = [(f[0] * mask[..., None, None], f[1] * mask[..., None]) for f in factors]
    post = _posterior(chain, factors, mask)
    terms = free_energy_terms(post, masked_factors, chain, mask)
    assert (terms.log_gamma[:, ~mask] == 0).all()
    assert (terms.kl_qf[:, ~mask] == 0).all()
    # At t = 5 only sequences 1 and 3 are valid: their log Gamma equals a two-sequence batch's.
    t = 5
    idx = torch.tensor([1, 3])
    sub = [(masked_factors[0][0][idx], masked_factors[0][1][idx])]
    sub_terms = free_energy_terms(_posterior(chain, sub), sub, chain)
    torch.testing.assert_close(terms.log_gamma[0, idx, t], sub_terms.log_gamma[0, :, t])
    fe = free_energy(post, masked_factors, chain, mask)
    Z = mask.sum()
    expected = -(terms.log_gamma.sum() - terms.kl_qf.sum() - terms.kl_qp.sum()) / Z
    torch.testing.assert_close(fe.loss, expected)


def test_moment_matching_under_actions():
    """With per-sequence chains the score uses the moment-matched batch mixture."""
    B, T, K = 3, 4, 2
    gen = torch.Generator().manual_seed(15)
    chain = _chain(K, gen, B, T)
    means, covs = prior_marginals(chain, T, B)
    mu, Sig = moment_match(means, covs)
    # Monte Carlo of the mixture's moments at the last step.
    comps = torch.randint(0, B, (300000,), generator=gen)
    z = torch.distributions.MultivariateNormal(means[:, -1], covs[:, -1]).sample((300000,))
    z = z[torch.arange(300000), comps]
    torch.testing.assert_close(z.mean(0), mu[-1], atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), Sig[-1], atol=0.03, rtol=0)


def test_beta_weights_the_chain_kl_and_J_modalities_count_in_Z():
    B, T, K, J = 3, 4, 2, 2
    gen = torch.Generator().manual_seed(16)
    chain = _chain(K, gen)
    factors = _factors(B, T, K, gen, J)
    post = _posterior(chain, factors)
    fe1 = free_energy(post, factors, chain, beta=1.0)
    fe2 = free_energy(post, factors, chain, beta=0.25)
    torch.testing.assert_close(fe1.loss - fe2.loss, 0.75 * fe1.kl_qp)
    terms = free_energy_terms(post, factors, chain)
    assert terms.log_gamma.shape == (J, B, T)
    torch.testing.assert_close(fe1.log_gamma, terms.log_gamma.sum() / (J * B * T))
    torch.testing.assert_close(fe1.kl_qp, terms.kl_qp.sum() / (J * B * T))


def test_chain_kl_stable_form_agrees_and_is_unbiased_in_float32():
    """The determinant-lemma form (from the filter's covariances) equals the direct conditional
    form in float64, and in float32 at s_max(A) = 0.999 the KL of the prior to itself is ~0
    (the direct form's jitter biases it by about -0.04 nats per step there)."""
    B, T, K = 3, 6, 3
    gen = torch.Generator().manual_seed(17)
    chain = _chain(K, gen)
    factors = _factors(B, T, K, gen)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 4:] = False
    post = _posterior(chain, factors, mask)
    direct = chain_kl(post.means, post.covs, post.cross_covs, chain, mask)
    stable = chain_kl(
        post.means,
        post.covs,
        post.cross_covs,
        chain,
        mask,
        filtered_covs=post.filtered_covs,
        predicted_covs=post.predicted_covs,
    )
    torch.testing.assert_close(stable, direct, rtol=1e-10, atol=1e-10)
    # Invariant prior near the stability boundary, float32, q = p (no observations).
    B, T, K = 4, 100, 8
    U, _, Vh = torch.linalg.svd(torch.randn(K, K, generator=gen))
    A = (U * torch.linspace(0.5, 0.999, K)) @ Vh
    Q = torch.eye(K) - A @ A.mT
    p_chain = PriorChain(torch.zeros(K), torch.eye(K), A, torch.zeros(K), Q)
    zero = (torch.zeros(B, T, K, K), torch.zeros(B, T, K))
    q = kalman_smoother(*p_chain, *zero)
    kl = chain_kl(
        q.means,
        q.covs,
        q.cross_covs,
        p_chain,
        filtered_covs=q.filtered_covs,
        predicted_covs=q.predicted_covs,
    )
    assert kl.abs().max() / T < 2e-3


def test_em_chain_kl_gradient_treats_the_entropy_as_constant():
    """With q held fixed (EM), d KL / d theta = -d E_q log p / d theta: compare with autograd of
    the cross-entropy alone, written out from the spec (4.3)."""
    B, T, K = 2, 5, 2
    gen = torch.Generator().manual_seed(18)
    base = _chain(K, gen)
    A = base.A.clone().requires_grad_(True)
    Q = base.Q.clone().requires_grad_(True)
    chain = PriorChain(base.m1, base.Q1, A, base.b, Q)
    factors = _factors(B, T, K, gen)
    with torch.no_grad():
        q = _posterior(chain, factors)
    kl = chain_kl(
        q.means,
        q.covs,
        q.cross_covs,
        chain,
        filtered_covs=q.filtered_covs,
        predicted_covs=q.predicted_covs,
    ).sum()
    gA, gQ = torch.autograd.grad(kl, (A, Q))
    # -E_q log p(z_{t+1} | z_t) summed over t and sequences (the entropy does not depend on A, Q)
    r = q.means[:, 1:] - q.means[:, :-1] @ A.mT - base.b
    AX = A @ q.cross_covs.mT
    M = q.covs[:, 1:] - AX - AX.mT + A @ q.covs[:, :-1] @ A.mT + r.unsqueeze(-1) * r.unsqueeze(-2)
    cross_entropy = (
        0.5 * (torch.linalg.solve(Q, M).diagonal(dim1=-2, dim2=-1).sum(-1) + torch.logdet(Q)).sum()
    )
    eA, eQ = torch.autograd.grad(cross_entropy, (A, Q))
    torch.testing.assert_close(gA, eA)
    torch.testing.assert_close(gQ, eQ)
