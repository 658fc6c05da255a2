"""The latent prior of the RP-GSSM: a linear-Gaussian Markov chain (spec section 1.1-1.3).

    p(z_1) = N(m_1, Q_1),    p(z_{t+1} | z_t, a_t) = N(A_t z_t + b_t, Q)

Parametrisations:

* ``"invariant"`` (the paper's default for autonomous systems): ``m_1 = 0``, ``Q_1 = I``,
  ``Q = I - A A^T``, ``b = 0``; only ``A`` is learned and every prior marginal is N(0, I) while
  the largest singular value of ``A`` stays below 1 (see :meth:`LinearGaussianPrior.project_`).
* ``"general"``: ``Q`` through a positive-definite map (``"diag"``: ``diag(softplus(q)) + eps I``;
  ``"cholesky"``: ``L L^T + eps I`` with a softplus diagonal on ``L``), ``b`` and ``m_1`` learned,
  ``Q_1 = I`` or learned through the same positive-definite map.

``A`` is either a free ``(K, K)`` matrix (``A_param="full"``),
``(1 - projection_eps) diag(sigmoid(alpha))`` (``A_param="diag_sigmoid"``), or block-diagonal
damped rotations ``rho_i R(f_i)`` with ``rho_i = (1 - projection_eps) sigmoid(alpha_i)`` and
frequencies ``f_i = A_max_freq sigmoid(phi_i)`` in ``(0, A_max_freq)`` rad/step
(``A_param="rotation"``; an odd K adds one real eigenvalue). The last two are stable by
construction, even where float32 rounds ``sigmoid`` to 1 (no projection needed). The rotation
form is normal (``A A^T = diag(rho^2)``): every normal ``A`` is one orthogonal change of latent
basis away from it (which the recognition heads absorb), non-normal ones are not covered. It
keeps every mode's frequency below ``A_max_freq``: with a free ``A``, modes that stop carrying
information drift to period-2 or period-3 "flicker" (eigenvalue angles near pi).

Actions (with 0-based arrays, ``actions[:, i]`` drives ``z[i] -> z[i+1]``):

* continuous, ``a_t`` in R^{d_a}: ``b_t = b + B_u a_t`` (+ ``c(a_t)``) and
  ``A_t = A`` (+ ``C(a_t)``), where the optional MLP features ``u(a_t)`` feed ``c(a_t) = W_c u``
  and, with ``action_matrix=True``, ``C(a_t) = reshape(W_C u)``; both start near zero (scale 1e-2).
* discrete, ``a_t`` in {0..n-1}: ``b_t = b + c[a_t]`` (``c`` starts at 0) and, with
  ``action_matrix=True``, ``A_t = A C[a_t]`` (``C`` starts at I).

With actions the invariant parametrisation still uses ``Q = I - A A^T`` built from the *base*
``A``; the prior marginals then move away from N(0, I) when the actions act on the chain. Use the
general parametrisation when actions matter much.

Parameters that belong to the action pathway live in the sub-module ``actions`` (names start with
``actions.``), so a trainer can give them their own learning rate (:meth:`parameter_groups`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rpgssm_env.model.inference import PriorChain

__all__ = ["ActionModule", "LinearGaussianPrior", "softplus_inverse"]

ProjectionKind = Literal["clip", "scale"] | None


def softplus_inverse(y: float) -> float:
    """``x`` with ``softplus(x) = y`` (for ``y > 0``)."""
    if y <= 0:
        raise ValueError(f"softplus_inverse needs y > 0, got {y}")
    return y + math.log(-math.expm1(-y))


class _PDMatrix(nn.Module):
    """A learned positive-definite (K, K) matrix: ``"diag"`` or ``"cholesky"`` map, + eps I."""

    def __init__(self, dim: int, kind: str, init: float, eps: float) -> None:
        super().__init__()
        if kind not in ("diag", "cholesky"):
            raise ValueError(f"positive-definite map must be 'diag' or 'cholesky', got {kind!r}")
        if init <= eps:
            raise ValueError(f"initial value {init} must exceed eps={eps}")
        self.kind = kind
        self.eps = eps
        if kind == "diag":
            self.raw = nn.Parameter(torch.full((dim,), softplus_inverse(init - eps)))
        else:
            raw = torch.zeros(dim, dim)
            raw.diagonal().fill_(softplus_inverse(math.sqrt(init - eps)))
            self.raw = nn.Parameter(raw)

    def forward(self) -> Tensor:
        K = self.raw.shape[0]
        eye = torch.eye(K, dtype=self.raw.dtype, device=self.raw.device)
        if self.kind == "diag":
            return torch.diag_embed(F.softplus(self.raw)) + self.eps * eye
        L = torch.tril(self.raw, -1) + torch.diag_embed(F.softplus(self.raw.diagonal()))
        return L @ L.transpose(-1, -2) + self.eps * eye


def _logit(p: float) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError(f"expected a value in (0, 1), got {p}")
    return math.log(p / (1.0 - p))


def _small_linear(fan_in: int, fan_out: int, scale: float = 1e-2, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out, bias=bias)
    with torch.no_grad():
        layer.weight.uniform_(-scale, scale)
        if bias:
            layer.bias.zero_()
    return layer


class ActionModule(nn.Module):
    """How actions change the chain: per-transition offsets ``db_t`` and matrices ``A_t``.

    Args:
        latent_dim: K.
        kind: ``"continuous"`` or ``"discrete"``.
        action_dim: d_a (continuous).
        num_actions: n (discrete).
        mlp: hidden sizes of the optional MLP on continuous actions (``()``: none).
        matrix: learn an action-dependent matrix (``C(a)`` added to ``A`` for continuous actions,
            ``A C[a]`` for discrete ones).
    """

    def __init__(
        self,
        latent_dim: int,
        kind: str,
        action_dim: int | None = None,
        num_actions: int | None = None,
        mlp: Sequence[int] = (),
        matrix: bool = False,
    ) -> None:
        super().__init__()
        K = latent_dim
        self.kind = kind
        self.latent_dim = K
        self.matrix = matrix
        if kind == "continuous":
            if not action_dim or action_dim < 1:
                raise ValueError(f"continuous actions need action_dim >= 1, got {action_dim}")
            self.action_dim = int(action_dim)
            self.B_u = nn.Parameter(torch.zeros(K, self.action_dim))
            layers: list[nn.Module] = []
            width = self.action_dim
            for hidden in mlp:
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
            self.mlp = nn.Sequential(*layers) if layers else None
            self.c_head = _small_linear(width, K) if self.mlp is not None else None
            self.C_head = _small_linear(width, K * K, bias=False) if matrix else None
        elif kind == "discrete":
            if not num_actions or num_actions < 1:
                raise ValueError(f"discrete actions need num_actions >= 1, got {num_actions}")
            self.num_actions = int(num_actions)
            self.c_table = nn.Parameter(torch.zeros(self.num_actions, K))
            if matrix:
                self.C_table = nn.Parameter(torch.eye(K).repeat(self.num_actions, 1, 1))
            else:
                self.register_parameter("C_table", None)
        else:
            raise ValueError(f"action kind must be 'continuous' or 'discrete', got {kind!r}")

    def forward(self, actions: Tensor, A: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """Per-transition chain parameters.

        Args:
            actions: (B, T-1, d_a) float (continuous) or (B, T-1) integer (discrete).
            A: base transition (K, K).
            b: base offset (K,).

        Returns:
            ``A_t`` (B, T-1, K, K) and ``b_t`` (B, T-1, K).
        """
        K = self.latent_dim
        lead = actions.shape[:2]
        if self.kind == "continuous":
            a = actions.to(A.dtype)
            b_t = b + a @ self.B_u.transpose(0, 1)
            feats = a if self.mlp is None else self.mlp(a)
            if self.c_head is not None:
                b_t = b_t + self.c_head(feats)
            if self.C_head is not None:
                A_t = A + self.C_head(feats).reshape(*lead, K, K)
            else:
                A_t = A.expand(*lead, K, K)
        else:
            idx = actions.long()
            b_t = b + self.c_table[idx]
            A_t = A @ self.C_table[idx] if self.C_table is not None else A.expand(*lead, K, K)
        return A_t, b_t


class LinearGaussianPrior(nn.Module):
    """Linear-Gaussian Markov chain prior over latents z_t in R^K.

    Args:
        latent_dim: K.
        parametrization: ``"invariant"`` (learn A only; ``Q = I - A A^T``) or ``"general"``.
        A_init: ``A_0 = A_init * I`` (the paper: 0.5 for the pendulum, 1.0 for the walker).
        A_param: ``"full"`` (free matrix), ``"diag_sigmoid"`` (``diag(sigmoid(alpha))``) or
            ``"rotation"`` (block-diagonal damped rotations, see the module docstring; starts
            at ``rho = A_init`` and frequencies near 0).
        A_max_freq: the largest rotation frequency (rad/step) of ``A_param="rotation"``.
        Q_param: positive-definite map for Q (and a learned Q_1): ``"diag"`` or ``"cholesky"``.
        Q_init: initial ``Q = Q_init * I`` in the general parametrisation (default
            ``max(1 - A_init^2, 0.1)``).
        learn_Q1: learn Q_1 (general parametrisation), else Q_1 = I.
        pd_eps: the ``eps I`` added by the positive-definite maps.
        projection: ``"clip"``, ``"scale"`` or ``None``: the stability projection applied by
            :meth:`project_` (only for ``A_param="full"``).
        projection_eps: singular values are kept at most ``1 - projection_eps``.
        action_kind: ``None``, ``"continuous"`` or ``"discrete"``.
        action_dim: d_a for continuous actions.
        num_actions: n for discrete actions.
        action_mlp: hidden sizes of the continuous-action MLP (``()``: none).
        action_matrix: learn action-dependent transition matrices.
    """

    def __init__(
        self,
        latent_dim: int,
        *,
        parametrization: str = "invariant",
        A_init: float = 0.5,
        A_param: str = "full",
        A_max_freq: float = math.pi / 2,
        Q_param: str = "diag",
        Q_init: float | None = None,
        learn_Q1: bool = False,
        pd_eps: float = 1e-4,
        projection: ProjectionKind = "clip",
        projection_eps: float = 1e-3,
        action_kind: str | None = None,
        action_dim: int | None = None,
        num_actions: int | None = None,
        action_mlp: Sequence[int] = (),
        action_matrix: bool = False,
    ) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        if parametrization not in ("invariant", "general"):
            raise ValueError(
                f"parametrization must be 'invariant' or 'general', got {parametrization!r}"
            )
        if A_param not in ("full", "diag_sigmoid", "rotation"):
            raise ValueError(
                f"A_param must be 'full', 'diag_sigmoid' or 'rotation', got {A_param!r}"
            )
        if not 0.0 < A_max_freq <= math.pi:
            raise ValueError(f"A_max_freq must be in (0, pi] rad/step, got {A_max_freq}")
        if projection not in ("clip", "scale", None):
            raise ValueError(f"projection must be 'clip', 'scale' or None, got {projection!r}")
        if not 0.0 < projection_eps < 1.0:
            raise ValueError(f"projection_eps must be in (0, 1), got {projection_eps}")
        K = latent_dim
        self.latent_dim = K
        self.parametrization = parametrization
        self.A_param = A_param
        self.projection = projection
        self.projection_eps = projection_eps
        self.A_max_freq = float(A_max_freq)
        if A_param == "full":
            self.A_raw = nn.Parameter(A_init * torch.eye(K))
        else:
            if not 0.0 < A_init < 1.0 - projection_eps:
                raise ValueError(
                    f"A_param={A_param!r} needs 0 < A_init < 1 - projection_eps, got {A_init}"
                )
            raw = torch.full((K,), _logit(A_init / (1.0 - projection_eps)))
            if A_param == "rotation":  # (rho logits of the K // 2 blocks, their freq logits, ...)
                raw[K // 2 : 2 * (K // 2)] = _logit(0.01)
            self.A_raw = nn.Parameter(raw)
        if parametrization == "invariant":
            self.Q_map = None
            self.Q1_map = None
            self.register_parameter("b", None)
            self.register_parameter("m1", None)
        else:
            q0 = Q_init if Q_init is not None else max(1.0 - A_init**2, 0.1)
            self.Q_map = _PDMatrix(K, Q_param, q0, pd_eps)
            self.Q1_map = _PDMatrix(K, Q_param, 1.0, pd_eps) if learn_Q1 else None
            self.b = nn.Parameter(torch.zeros(K))
            self.m1 = nn.Parameter(torch.zeros(K))
        self.actions = (
            ActionModule(K, action_kind, action_dim, num_actions, action_mlp, action_matrix)
            if action_kind is not None
            else None
        )

    # -- chain parameters ------------------------------------------------------------------
    def _eye(self) -> Tensor:
        return torch.eye(self.latent_dim, dtype=self.A_raw.dtype, device=self.A_raw.device)

    @property
    def A(self) -> Tensor:
        """Base transition matrix (K, K)."""
        if self.A_param == "full":
            return self.A_raw
        if self.A_param == "diag_sigmoid":
            return torch.diag_embed((1.0 - self.projection_eps) * torch.sigmoid(self.A_raw))
        rho, freqs, real = self.rotation_params()
        c, s = rho * torch.cos(freqs), rho * torch.sin(freqs)
        blocks = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        return torch.block_diag(*blocks.unbind(0), *real.reshape(-1, 1, 1).unbind(0))

    def rotation_params(self) -> tuple[Tensor, Tensor, Tensor]:
        """``A_param="rotation"``: block radii ``rho`` (K // 2,), frequencies (K // 2,) in
        rad/step, and the real eigenvalue of an odd K (K % 2,)."""
        if self.A_param != "rotation":
            raise ValueError(f"rotation_params needs A_param='rotation', not {self.A_param!r}")
        n = self.latent_dim // 2
        scale = 1.0 - self.projection_eps
        rho = scale * torch.sigmoid(self.A_raw[:n])
        freqs = self.A_max_freq * torch.sigmoid(self.A_raw[n : 2 * n])
        return rho, freqs, scale * torch.sigmoid(self.A_raw[2 * n :])

    @torch.no_grad()
    def set_rotation_(self, rho: float, freqs: Sequence[float]) -> None:
        """``A_param="rotation"``: set every radius (and an odd K's real eigenvalue) to ``rho``
        and the K // 2 block frequencies to ``freqs`` (rad/step, in ``(0, A_max_freq)``)."""
        if self.A_param != "rotation":
            raise ValueError(f"set_rotation_ needs A_param='rotation', not {self.A_param!r}")
        n = self.latent_dim // 2
        if len(freqs) != n:
            raise ValueError(f"need {n} frequencies (K // 2), got {len(freqs)}")
        f = torch.as_tensor(list(freqs), dtype=torch.float64) / self.A_max_freq
        if not bool(((f > 0) & (f < 1)).all()):
            raise ValueError(f"frequencies must lie in (0, A_max_freq={self.A_max_freq:.3f})")
        raw = torch.full((self.latent_dim,), _logit(rho / (1.0 - self.projection_eps)))
        raw[n : 2 * n] = torch.logit(f)
        self.A_raw.copy_(raw.to(self.A_raw))

    @property
    def Q(self) -> Tensor:
        """Transition noise covariance (K, K)."""
        if self.Q_map is None:
            A = self.A
            Q = self._eye() - A @ A.T
            return 0.5 * (Q + Q.T)
        return self.Q_map()

    @property
    def Q1(self) -> Tensor:
        """Initial covariance (K, K)."""
        return self._eye() if self.Q1_map is None else self.Q1_map()

    @property
    def m1_vec(self) -> Tensor:
        """Initial mean (K,)."""
        if self.m1 is None:
            return torch.zeros(self.latent_dim, dtype=self.A_raw.dtype, device=self.A_raw.device)
        return self.m1

    @property
    def b_vec(self) -> Tensor:
        """Base offset (K,)."""
        if self.b is None:
            return torch.zeros(self.latent_dim, dtype=self.A_raw.dtype, device=self.A_raw.device)
        return self.b

    def chain(self, actions: Tensor | None = None, batch: int = 1, T: int = 2) -> PriorChain:
        """The prior chain for a batch.

        Args:
            actions: (B, T-1, d_a) float, (B, T-1) integer, or ``None`` (with an action model
                and no actions, the base chain: ``A``, ``b`` without action input).
            batch: B (used only to check ``actions``).
            T: number of time steps (used only to check ``actions``).

        Returns:
            :class:`PriorChain`: without actions ``m1`` (K,), ``Q1`` (K,K), ``A`` (K,K),
            ``b`` (K,), ``Q`` (K,K), shared by the batch; with actions ``A`` (B,T-1,K,K) and
            ``b`` (B,T-1,K), one chain per sequence.
        """
        A, b = self.A, self.b_vec
        if actions is not None:
            if self.actions is None:
                raise ValueError("this prior has no action model (action_kind=None); got actions")
            if tuple(actions.shape[:2]) != (batch, T - 1):
                raise ValueError(
                    f"actions must have leading shape (B, T-1) = ({batch}, {T - 1}), "
                    f"got {tuple(actions.shape)}"
                )
            A, b = self.actions(actions, A, b)
        return PriorChain(m1=self.m1_vec, Q1=self.Q1, A=A, b=b, Q=self.Q)

    # -- stability -------------------------------------------------------------------------
    @torch.no_grad()
    def project_(self) -> None:
        """Project ``A`` to ``s_max(A) <= 1 - projection_eps`` in place (spec section 1.2).

        ``"clip"`` clips every singular value; ``"scale"`` rescales ``A`` only when
        ``s_max(A) > 1 - eps``. Outside autodiff; the optimiser state is not touched. A no-op for
        ``A_param="diag_sigmoid"`` or ``"rotation"``, or ``projection=None``.
        """
        if self.A_param != "full" or self.projection is None:
            return
        A = self.A_raw
        cap = 1.0 - self.projection_eps
        if self.projection == "clip":
            U, s, Vh = torch.linalg.svd(A.double())
            if s.max() <= cap:
                return
            A.copy_(((U * s.clamp(0.0, cap)) @ Vh).to(A.dtype))
        else:
            s_max = torch.linalg.matrix_norm(A.double(), ord=2)
            A.mul_((cap / torch.clamp(s_max, min=cap)).to(A.dtype))

    @torch.no_grad()
    def set_projection_eps_(self, eps: float, keep_A: bool = True) -> None:
        """Move the stability cap to ``s_max(A) <= 1 - eps`` (e.g. relax it during training).

        With ``keep_A`` the transition matrix is unchanged where it fits under the new cap: the
        ``"diag_sigmoid"`` and ``"rotation"`` forms scale their radii by ``1 - eps``, so their
        logits are re-expressed; radii above a tightened cap are clipped to it (a ``"full"``
        ``A`` is projected at the next :meth:`project_`). ``keep_A=False`` only sets the value
        (the parameters are about to be loaded from a checkpoint made with ``eps``).
        """
        if not 0.0 < eps < 1.0:
            raise ValueError(f"projection_eps must be in (0, 1), got {eps}")
        if keep_A and self.A_param != "full":
            K, n = self.latent_dim, self.latent_dim // 2
            dev = self.A_raw.device
            idx = torch.arange(K, device=dev) if self.A_param == "diag_sigmoid" else (
                torch.cat([torch.arange(n, device=dev), torch.arange(2 * n, K, device=dev)])
            )  # the radius logits  # fmt: skip
            rho = (1.0 - self.projection_eps) * torch.sigmoid(self.A_raw[idx].double())
            frac = (rho / (1.0 - eps)).clamp(1e-7, 1.0 - 1e-7)
            self.A_raw[idx] = torch.logit(frac).to(self.A_raw)
        self.projection_eps = float(eps)

    def spectral_norm(self) -> float:
        """Largest singular value of the base ``A``."""
        with torch.no_grad():
            return float(torch.linalg.matrix_norm(self.A.double(), ord=2))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"prior": [...], "actions": [...]}`` for per-group learning rates."""
        action_ids = {id(p) for p in self.actions.parameters()} if self.actions else set()
        return {
            "prior": [p for p in self.parameters() if id(p) not in action_ids],
            "actions": list(self.actions.parameters()) if self.actions else [],
        }
