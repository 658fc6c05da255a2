r"""The RP-GSSM free energy (spec, section 3): a contrastive-like bound with no reconstruction.

For a minibatch of ``B`` sequences with posterior marginals ``q_nt``, recognition potentials
``eta_jtm`` (modality ``j``, step ``t``, sequence ``m``) and prior marginals ``p_t``::

    s_jt(n, m)      = A(eta_q(nt) + eta_jtm) - A(eta_p(t) + eta_jtm)
    log Gamma_jtn   = s_jt(n, n) - logsumexp_m s_jt(n, m)          (negatives: other sequences)
    KL^qf_jtn       = KL(q_nt || q_nt + eta_jtn)
    KL^qp_n         = KL(q_n(z_{1:T}) || p_n(z_{1:T}))              (whole Markov chains)
    loss            = -(1/Z) [sum log Gamma - sum KL^qf - beta sum KL^qp],   Z = J x valid steps

The loss is minimised; it starts near ``log B`` when the potentials are uninformative. With
actions, ``p_t`` in the score is one Gaussian per step, moment-matched to the batch mixture of the
sequences' own prior marginals, while KL^qp uses each sequence's own chain.

Padded steps (``mask = False``) are excluded as rows and as negatives, from KL^qf and from ``Z``;
the chain KL weights its pair terms by ``mask_t mask_{t+1}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from rpgssm_env.model.gaussian import (
    chol_logdet,
    cholesky,
    expected_stats_inner,
    log_normalizer,
    symmetrize,
)
from rpgssm_env.model.inference import PriorChain, SmootherResult, prior_marginals

__all__ = [
    "FreeEnergy",
    "FreeEnergyTerms",
    "chain_kl",
    "free_energy",
    "free_energy_terms",
    "moment_match",
    "posterior_natural",
]

Factor = tuple[Tensor, Tensor]


class FreeEnergyTerms(NamedTuple):
    """Per-element terms of the free energy.

    Attributes:
        log_gamma: (J, B, T), zero where masked.
        kl_qf: (J, B, T), zero where masked.
        kl_qp: (B,), the chain KL of each sequence.
        valid: (B, T) bool, the steps that count.
    """

    log_gamma: Tensor
    kl_qf: Tensor
    kl_qp: Tensor
    valid: Tensor


class FreeEnergy(NamedTuple):
    """The minibatch loss and its terms (scalars).

    Attributes:
        loss: ``-(1/Z)[sum log Gamma - sum KL^qf - beta sum KL^qp]``, to minimise.
        log_gamma: mean log Gamma per valid (j, t, n); ``-log B`` for uninformative factors.
        kl_qf: mean KL^qf per valid (j, t, n).
        kl_qp: ``sum_n KL^qp_n / Z``.
    """

    loss: Tensor
    log_gamma: Tensor
    kl_qf: Tensor
    kl_qp: Tensor


def _jitter(dtype: torch.dtype) -> float:
    return 1e-5 if dtype in (torch.float32, torch.float16, torch.bfloat16) else 0.0


def posterior_natural(means: Tensor, covs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Natural parameters and log-normaliser of Gaussian marginals.

    Args:
        means: (..., K). covs: (..., K, K).

    Returns:
        ``(Lam, h, A)``: precision (..., K, K), precision-weighted mean (..., K) and the
        log-normaliser ``A = 1/2 mu^T h + 1/2 log det Sig`` (...).
    """
    L = cholesky(covs, _jitter(covs.dtype))
    Lam = symmetrize(torch.cholesky_inverse(L))
    h = torch.cholesky_solve(means.unsqueeze(-1), L).squeeze(-1)
    A = 0.5 * (means * h).sum(-1) + 0.5 * chol_logdet(L)
    return Lam, h, A


def moment_match(means: Tensor, covs: Tensor) -> tuple[Tensor, Tensor]:
    """One Gaussian per step matched to the batch mixture of per-sequence marginals.

    Args:
        means: (B, T, K). covs: (B, T, K, K).

    Returns:
        ``mu~`` (T, K) and ``Sig~ = mean_n (Sig_n + d_n d_n^T)`` (T, K, K), ``d_n = mu_n - mu~``.
    """
    mu = means.mean(0)
    d = means - mu
    Sig = (covs + d.unsqueeze(-1) * d.unsqueeze(-2)).mean(0)
    return mu, symmetrize(Sig)


def chain_kl(
    means: Tensor,
    covs: Tensor,
    cross_covs: Tensor,
    chain: PriorChain,
    mask: Tensor | None = None,
    *,
    filtered_covs: Tensor | None = None,
    predicted_covs: Tensor | None = None,
) -> Tensor:
    """``KL(q(z_{1:T}) || p(z_{1:T}))`` between two Gaussian Markov chains (spec 4.3), in the
    K x K conditional form.

    The entropy needs ``log|S_{t+1} - X_t S_t^{-1} X_t^T|``, the covariance of ``z_{t+1}`` given
    ``z_t`` under q. Computed as written, that difference cancels catastrophically in float32
    when the chain is nearly deterministic (``s_max(A)`` near 1, where ``Q = I - A A^T`` has
    eigenvalues of about 2e-3), and the jitter it then needs biases the KL downwards by a few
    hundredths of a nat per step, a bias that direct training exploits by pushing ``A`` to the
    boundary. When q is the exact posterior of a Kalman smoother, pass its ``filtered_covs``
    ``P_t`` and ``predicted_covs`` ``P-_t``: the same log-determinant then follows from
    well-conditioned matrices only, by the determinant lemma applied to the smoother's backward
    conditional ``Cov(z_t | z_{t+1}) = (P_t^{-1} + A_t^T Q^{-1} A_t)^{-1}``::

        log|Cov(z_{t+1} | z_t)| = log|S_{t+1}| - log|S_t| + log|P_t| + log|Q| - log|P-_{t+1}|

    Args:
        means: (B, T, K), covs: (B, T, K, K), cross_covs: (B, T-1, K, K) = ``Cov_q(z_{t+1}, z_t)``.
        chain: the prior chain, broadcastable to B sequences.
        mask: (B, T) bool; pair terms are weighted by ``mask_t mask_{t+1}`` and the initial term
            by ``mask_1``.
        filtered_covs: (B, T, K, K), the filter's ``P_t`` for q (optional, see above).
        predicted_covs: (B, T, K, K), the filter's ``P-_t`` for q (optional, with the former).

    Returns:
        (B,) the KL of each sequence.
    """
    B, T, K = means.shape
    jit = _jitter(covs.dtype)
    m1 = chain.m1.expand(B, K)
    Q1 = chain.Q1.expand(B, K, K)
    # Initial term: KL(q(z_1) || p(z_1)) = -H[q_1] - E log p(z_1); the 2 pi e constants of the
    # entropy and of log p cancel to the -K below.
    S1 = covs[:, 0]
    L1 = cholesky(S1, jit)
    LQ1 = cholesky(Q1)
    d = means[:, 0] - m1
    second1 = S1 + d.unsqueeze(-1) * d.unsqueeze(-2)
    tr1 = torch.diagonal(torch.cholesky_solve(second1, LQ1), dim1=-2, dim2=-1).sum(-1)
    kl_first = 0.5 * (tr1 + chol_logdet(LQ1) - chol_logdet(L1) - K)
    if T == 1:
        return kl_first if mask is None else kl_first * mask[:, 0].to(kl_first.dtype)
    # Pair terms: -H[q(z_{t+1} | z_t)] - E_q log p(z_{t+1} | z_t)
    A = chain.A.expand(B, T - 1, K, K)
    b = chain.b.expand(B, T - 1, K)
    LQ = cholesky(chain.Q.expand(B, K, K)).unsqueeze(1)
    S_t, S_next, X = covs[:, :-1], covs[:, 1:], cross_covs
    if (filtered_covs is None) != (predicted_covs is None):
        raise ValueError("pass both filtered_covs and predicted_covs, or neither")
    if filtered_covs is not None:
        logdet_S = chol_logdet(cholesky(covs, jit))  # (B, T)
        # The Q here is the one q was computed with: held fixed (no gradient) when q is (EM).
        logdet_Q = chol_logdet(LQ)
        if not filtered_covs.requires_grad:
            logdet_Q = logdet_Q.detach()
        logdet_cond = (
            logdet_S[:, 1:]
            - logdet_S[:, :-1]
            + chol_logdet(cholesky(filtered_covs[:, :-1]))
            + logdet_Q
            - chol_logdet(cholesky(predicted_covs[:, 1:]))
        )
    else:
        Lt = cholesky(S_t, jit)
        W = torch.linalg.solve_triangular(Lt, X.mT, upper=False)  # L_t^{-1} X_t^T
        logdet_cond = chol_logdet(cholesky(S_next - W.mT @ W, jit))
    r = means[:, 1:] - (A @ means[:, :-1].unsqueeze(-1)).squeeze(-1) - b
    AXt = A @ X.mT
    M = S_next - AXt - AXt.mT + A @ S_t @ A.mT + r.unsqueeze(-1) * r.unsqueeze(-2)
    trQ = torch.diagonal(torch.cholesky_solve(symmetrize(M), LQ), dim1=-2, dim2=-1).sum(-1)
    kl_pairs = 0.5 * (trQ + chol_logdet(LQ) - logdet_cond - K)
    if mask is not None:
        w = mask.to(kl_pairs.dtype)
        kl_first = kl_first * w[:, 0]
        kl_pairs = kl_pairs * (w[:, :-1] * w[:, 1:])
    return kl_first + kl_pairs.sum(1)


def free_energy_terms(
    posterior: SmootherResult,
    factors: Sequence[Factor],
    chain: PriorChain,
    mask: Tensor | None = None,
) -> FreeEnergyTerms:
    """Per-element terms of the free energy (see the module docstring).

    Args:
        posterior: smoothed marginals from :func:`~rpgssm_env.model.inference.kalman_smoother`
            run with the sum of ``factors`` (detach it for EM).
        factors: one ``(precision (B, T, K, K), pwm (B, T, K))`` per modality.
        chain: the prior chain (shared or per sequence).
        mask: (B, T) bool, ``False`` on padded steps.

    Returns:
        A :class:`FreeEnergyTerms`.
    """
    means, covs = posterior.means, posterior.covs
    B, T, K = means.shape
    if len(factors) == 0:
        raise ValueError("free_energy needs at least one recognition factor (modality)")
    valid = torch.ones(B, T, dtype=torch.bool, device=means.device) if mask is None else mask.bool()
    if valid.shape != (B, T):
        raise ValueError(f"mask must have shape (B, T) = {(B, T)}, got {tuple(valid.shape)}")
    Lam_q, h_q, A_q = posterior_natural(means, covs)  # (B,T,K,K), (B,T,K), (B,T)
    prior_means, prior_covs = prior_marginals(chain, T, B)
    mu_p, Sig_p = moment_match(prior_means, prior_covs)  # (T,K), (T,K,K)
    Lam_p, h_p, _ = posterior_natural(mu_p, Sig_p)
    neg_inf = torch.finfo(means.dtype).min
    log_gammas, kl_qfs = [], []
    for Lam_g, h_g in factors:
        if Lam_g.shape != (B, T, K, K) or h_g.shape != (B, T, K):
            raise ValueError(
                f"each factor must be (precision (B, T, K, K), pwm (B, T, K)) = "
                f"{((B, T, K, K), (B, T, K))}, got {(tuple(Lam_g.shape), tuple(h_g.shape))}"
            )
        # s(n, m) = A(q_n + g_m) - A(p + g_m): rows n (posteriors), columns m (factors)
        A_qg = log_normalizer(
            Lam_q.unsqueeze(1) + Lam_g.unsqueeze(0), h_q.unsqueeze(1) + h_g.unsqueeze(0)
        )  # (B, B, T)
        A_pg = log_normalizer(Lam_p + Lam_g, h_p + h_g)  # (B, T): factor m at t
        scores = A_qg - A_pg.unsqueeze(0)
        scores = scores.masked_fill(~valid.unsqueeze(0), neg_inf)  # drop padded negatives
        diag = torch.diagonal(scores, dim1=0, dim2=1).mT  # (B, T): s(n, n)
        log_gamma = diag - torch.logsumexp(scores, dim=1)
        log_gammas.append(torch.where(valid, log_gamma, torch.zeros_like(log_gamma)))
        # KL(q || q + g) = -<E_q T, eta_g> - A(q) + A(q + g)
        A_qg_diag = torch.diagonal(A_qg, dim1=0, dim2=1).mT
        kl = -expected_stats_inner(means, covs, Lam_g, h_g) - A_q + A_qg_diag
        kl_qfs.append(torch.where(valid, kl, torch.zeros_like(kl)))
    kl_qp = chain_kl(
        means,
        covs,
        posterior.cross_covs,
        chain,
        mask,
        filtered_covs=posterior.filtered_covs,
        predicted_covs=posterior.predicted_covs,
    )
    return FreeEnergyTerms(torch.stack(log_gammas), torch.stack(kl_qfs), kl_qp, valid)


def free_energy(
    posterior: SmootherResult,
    factors: Sequence[Factor],
    chain: PriorChain,
    mask: Tensor | None = None,
    beta: float = 1.0,
) -> FreeEnergy:
    """The minibatch loss ``-(1/Z)[sum log Gamma - sum KL^qf - beta sum KL^qp]``.

    Args:
        posterior: smoothed marginals (``means``, ``covs``, ``cross_covs``) computed with the sum
            of ``factors``; pass one computed under ``torch.no_grad()`` for EM (the M-step holds
            the posterior fixed), or with gradients for the direct mode.
        factors: one ``(precision (B, T, K, K), pwm (B, T, K))`` per modality ``j``.
        chain: the prior chain; per-sequence chains (with actions) are moment-matched inside the
            contrastive score and used as they are in the chain KL.
        mask: (B, T) bool, ``False`` on padded steps.
        beta: weight of the chain KL (1 gives the maximum-likelihood bound).

    Returns:
        A :class:`FreeEnergy` of scalars.
    """
    terms = free_energy_terms(posterior, factors, chain, mask)
    J = terms.log_gamma.shape[0]
    Z = J * terms.valid.sum().clamp_min(1).to(terms.log_gamma.dtype)
    sum_gamma = terms.log_gamma.sum()
    sum_qf = terms.kl_qf.sum()
    sum_qp = terms.kl_qp.sum()
    loss = -(sum_gamma - sum_qf - beta * sum_qp) / Z
    return FreeEnergy(loss, sum_gamma / Z, sum_qf / Z, sum_qp / Z)
