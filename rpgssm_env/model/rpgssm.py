"""The RP-GSSM as one ``nn.Module``: a linear-Gaussian prior plus recognition networks.

>>> cfg = RPGSSMConfig(latent_dim=4, obs_shape=(6,), hidden=())
>>> model = RPGSSM(cfg).eval()
>>> post = model.posterior(torch.zeros(2, 5, 6))
>>> tuple(post.means.shape), tuple(post.covs.shape), tuple(post.cross_covs.shape)
((2, 5, 4), (2, 5, 4, 4), (2, 4, 4, 4))

Observations are (B, T, H, W, C) frames (uint8 in [0, 255] or float in [0, 1]) or (B, T, D)
vectors; with several modalities (J > 1), a sequence of J such tensors. Actions are
(B, T-1, A) float (continuous) or (B, T-1) integer (discrete), ``actions[:, i]`` driving
``z[i] -> z[i+1]``; mask (B, T) bool is ``False`` on padded steps.

Training (see :mod:`rpgssm_env.training.trainer`): :meth:`RPGSSM.loss` gives the free energy of
spec section 3, in ``"em"`` mode with the posterior held fixed (E-step without gradient) or in
``"direct"`` mode with gradients through the smoother.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rpgssm_env.model.inference import PriorChain, SmootherResult, kalman_smoother
from rpgssm_env.model.objective import FreeEnergy, free_energy
from rpgssm_env.model.prior import LinearGaussianPrior
from rpgssm_env.model.recognition import POOLS, Recognition, RecognitionNetwork

__all__ = ["RPGSSM", "ModalityConfig", "RPGSSMConfig", "resolve_device"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; anything else -> ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _tuple(x: Any) -> Any:
    return None if x is None else tuple(int(v) for v in x)


@dataclass
class ModalityConfig:
    """One observation modality (one recognition network).

    Attributes:
        obs_shape: ``(H, W, C)`` frames or ``(D,)`` vectors.
        head: ``"diagonal"``, ``"full"`` or ``"constant"`` (spec 1.4).
        channels: conv channels for frames (``None``: the default for the frame size).
        strides: conv strides (``None``: 1 then 2s).
        hidden: MLP hidden sizes for vectors (``()``: a linear network).
        pool: read-out of the conv trunk: ``"flatten"``, ``"keypoints"`` (a spatial softmax)
            or ``"flatten+keypoints"`` (both; see
            :class:`~rpgssm_env.model.recognition.ConvTrunk`).
    """

    obs_shape: tuple[int, ...]
    head: str = "diagonal"
    channels: tuple[int, ...] | None = None
    strides: tuple[int, ...] | None = None
    hidden: tuple[int, ...] = (256, 256)
    pool: str = "flatten"

    def __post_init__(self) -> None:
        self.obs_shape = _tuple(self.obs_shape)
        self.channels = _tuple(self.channels)
        self.strides = _tuple(self.strides)
        self.hidden = _tuple(self.hidden)
        if len(self.obs_shape) not in (1, 3) or min(self.obs_shape) < 1:
            raise ValueError(
                f"obs_shape must be (H, W, C) for frames or (D,) for vectors, got {self.obs_shape}"
            )
        if len(self.obs_shape) == 3:
            H, W, C = self.obs_shape
            if not (16 <= H <= 256 and 16 <= W <= 256) or C not in (1, 3, 4):
                raise ValueError(
                    "frames must be between 16 and 256 pixels per side with 1, 3 or 4 channels, "
                    f"got {self.obs_shape}"
                )
        if self.head not in ("diagonal", "full", "constant"):
            raise ValueError(f"head must be 'diagonal', 'full' or 'constant', got {self.head!r}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")

    @property
    def is_image(self) -> bool:
        return len(self.obs_shape) == 3


@dataclass
class RPGSSMConfig:
    """Everything needed to rebuild an :class:`RPGSSM` (saved in checkpoints).

    Attributes:
        latent_dim: K.
        obs_shape: ``(H, W, C)`` frames or ``(D,)`` vectors (single modality).
        head, channels, strides, hidden, pool: the single modality's network (see
            :class:`ModalityConfig`).
        modalities: J > 1 modalities; when given, replaces obs_shape/head/channels/hidden.
        prior: ``"invariant"`` (learn A; Q = I - A A^T) or ``"general"``.
        A_init: ``A_0 = A_init I``.
        A_param: ``"full"``, ``"diag_sigmoid"`` or ``"rotation"`` (the last two stable by
            construction; see :mod:`rpgssm_env.model.prior`).
        A_max_freq: the largest rotation frequency of ``A_param="rotation"`` (rad/step).
        Q_param: ``"diag"`` or ``"cholesky"`` (general prior).
        Q_init: initial ``Q = Q_init I`` (general prior; default ``max(1 - A_init^2, 0.1)``).
        learn_Q1: learn Q_1 (general prior).
        projection: ``"clip"``, ``"scale"`` or ``None`` (the stability projection of A).
        projection_eps: singular values of A are kept at most ``1 - projection_eps``.
        action_kind: ``None``, ``"continuous"`` or ``"discrete"``.
        action_dim: d_a (continuous). num_actions: n (discrete).
        action_mlp: hidden sizes of the continuous-action MLP (``()``: linear control only).
        action_matrix: action-dependent transition matrices.
        beta: weight of the chain KL in the loss.
        mode: ``"em"`` (E-step without gradient) or ``"direct"`` (gradients through the smoother).
        parallel: use the associative-scan smoother.
        dtype: ``"float32"`` or ``"float64"``.
        channels_last: channels-last memory format for convolutions.
        trunk_autocast: ``None`` (float32 throughout) or ``"bfloat16"``/``"float16"``: run the
            recognition trunks under ``torch.autocast`` (faster on CPUs with AVX-512 BF16 and on
            GPUs; heads, inference and the loss stay in ``dtype``).
        recognition_chunk: frames per activation-checkpointed chunk of the recognition networks
            during training (lower peak memory for one extra forward pass); ``None``: off.
        extra: free-form settings kept with the configuration.
    """

    latent_dim: int = 8
    obs_shape: tuple[int, ...] = (24, 24, 1)
    head: str = "diagonal"
    channels: tuple[int, ...] | None = None
    strides: tuple[int, ...] | None = None
    hidden: tuple[int, ...] = (256, 256)
    pool: str = "flatten"
    modalities: tuple[ModalityConfig, ...] | None = None
    prior: str = "invariant"
    A_init: float = 0.5
    A_param: str = "full"
    A_max_freq: float = math.pi / 2
    Q_param: str = "diag"
    Q_init: float | None = None
    learn_Q1: bool = False
    projection: str | None = "clip"
    projection_eps: float = 1e-3
    action_kind: str | None = None
    action_dim: int | None = None
    num_actions: int | None = None
    action_mlp: tuple[int, ...] = ()
    action_matrix: bool = False
    beta: float = 1.0
    mode: str = "em"
    parallel: bool = False
    dtype: str = "float32"
    channels_last: bool = True
    trunk_autocast: str | None = None
    recognition_chunk: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.obs_shape = _tuple(self.obs_shape)
        self.channels = _tuple(self.channels)
        self.strides = _tuple(self.strides)
        self.hidden = _tuple(self.hidden)
        self.action_mlp = _tuple(self.action_mlp)
        if self.modalities is not None:
            self.modalities = tuple(
                m if isinstance(m, ModalityConfig) else ModalityConfig(**m) for m in self.modalities
            )
            if len(self.modalities) < 1:
                raise ValueError("modalities must hold at least one ModalityConfig")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.mode not in ("em", "direct"):
            raise ValueError(f"mode must be 'em' or 'direct', got {self.mode!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if self.action_kind not in (None, "continuous", "discrete"):
            raise ValueError(
                f"action_kind must be None, 'continuous' or 'discrete', got {self.action_kind!r}"
            )
        if self.action_kind == "continuous" and not self.action_dim:
            raise ValueError("action_kind='continuous' needs action_dim")
        if self.action_kind == "discrete" and not self.num_actions:
            raise ValueError("action_kind='discrete' needs num_actions")
        if self.trunk_autocast not in (None, "bfloat16", "float16"):
            raise ValueError(
                f"trunk_autocast must be None, 'bfloat16' or 'float16', got {self.trunk_autocast!r}"
            )
        if self.recognition_chunk is not None and self.recognition_chunk < 1:
            raise ValueError(f"recognition_chunk must be >= 1, got {self.recognition_chunk}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        self.modality_configs()  # validates the single-modality fields

    def modality_configs(self) -> tuple[ModalityConfig, ...]:
        """The J modalities (one built from the single-modality fields when J = 1)."""
        if self.modalities is not None:
            return self.modalities
        return (
            ModalityConfig(
                self.obs_shape, self.head, self.channels, self.strides, self.hidden, self.pool
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types (JSON-compatible)."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        if d["modalities"] is not None:
            d["modalities"] = [
                {k: list(v) if isinstance(v, tuple) else v for k, v in m.items()}
                for m in d["modalities"]
            ]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RPGSSMConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown RPGSSMConfig keys: {unknown}")
        return cls(**d)


def check_actions(
    a: Tensor, kind: str, shape: tuple[int, ...], shape_name: str, num_actions: int | None
) -> None:
    """Raise a ValueError naming what was expected unless ``a`` is a valid batch of actions.

    Args:
        a: the actions. kind: ``"continuous"`` (finite floats) or ``"discrete"`` (integers in
            ``[0, num_actions)``).
        shape: the expected shape; shape_name: its symbolic name for the message, e.g.
            ``"(B, T-1, A)"``.
        num_actions: the number of discrete actions.
    """
    if tuple(a.shape) != shape:
        raise ValueError(
            f"{kind} actions must have shape {shape_name} = {shape}, got {tuple(a.shape)}"
        )
    if kind == "continuous":
        if not a.is_floating_point():
            raise ValueError(f"continuous actions must be float, got dtype {a.dtype}")
        if not bool(torch.isfinite(a).all()):
            raise ValueError("actions contain NaN or inf values; expected finite values")
        return
    if a.is_floating_point() or a.dtype == torch.bool or a.is_complex():
        raise ValueError(f"discrete actions must be integers, got dtype {a.dtype}")
    if a.numel() and (int(a.min()) < 0 or int(a.max()) >= num_actions):
        raise ValueError(
            f"discrete actions must be in [0, {num_actions}), got values in [{int(a.min())}, "
            f"{int(a.max())}]"
        )


class RPGSSM(nn.Module):
    """Recognition-parametrised Gaussian state space model.

    Args:
        config: the :class:`RPGSSMConfig`.

    Attributes:
        prior: :class:`~rpgssm_env.model.prior.LinearGaussianPrior`.
        recognition: :class:`~rpgssm_env.model.recognition.Recognition` (J networks).
    """

    def __init__(self, config: RPGSSMConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        if config is None:
            config = RPGSSMConfig(**kwargs)
        elif kwargs:
            config = dataclasses.replace(config, **kwargs)
        self.config = config
        K = config.latent_dim
        self.prior = LinearGaussianPrior(
            K,
            parametrization=config.prior,
            A_init=config.A_init,
            A_param=config.A_param,
            A_max_freq=config.A_max_freq,
            Q_param=config.Q_param,
            Q_init=config.Q_init,
            learn_Q1=config.learn_Q1,
            projection=config.projection,
            projection_eps=config.projection_eps,
            action_kind=config.action_kind,
            action_dim=config.action_dim,
            num_actions=config.num_actions,
            action_mlp=config.action_mlp,
            action_matrix=config.action_matrix,
        )
        self.modalities = config.modality_configs()
        self.recognition = Recognition(
            [
                RecognitionNetwork(
                    m.obs_shape,
                    K,
                    head=m.head,
                    channels=m.channels,
                    strides=m.strides,
                    hidden=m.hidden,
                    pool=m.pool,
                    channels_last=config.channels_last,
                    autocast_dtype=getattr(torch, config.trunk_autocast)
                    if config.trunk_autocast
                    else None,
                )
                for m in self.modalities
            ],
            chunk=config.recognition_chunk,
        )
        self.to(_DTYPES[config.dtype])

    # -- properties ------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_modalities(self) -> int:
        return len(self.modalities)

    @property
    def device(self) -> torch.device:
        return self.prior.A_raw.device

    @property
    def dtype(self) -> torch.dtype:
        return self.prior.A_raw.dtype

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"prior", "recognition", "actions"}`` -> parameters (for per-group learning rates)."""
        groups = self.prior.parameter_groups()
        return {
            "prior": groups["prior"],
            "recognition": list(self.recognition.parameters()),
            "actions": groups["actions"],
        }

    # -- input checks ----------------------------------------------------------------------
    def validate_inputs(
        self,
        obs: Tensor | np.ndarray | Sequence[Tensor | np.ndarray],
        actions: Tensor | np.ndarray | None = None,
        mask: Tensor | np.ndarray | None = None,
    ) -> tuple[list[Tensor], Tensor | None, Tensor | None]:
        """Check shapes, dtypes and values and move everything to the model's device.

        Returns:
            ``(obs_list, actions, mask)``: J observation tensors (B, T, ...), actions
            (B, T-1, A) in the model dtype or (B, T-1) int64 (or ``None``), mask (B, T) bool
            (or ``None``).

        Raises:
            ValueError: naming what was expected.
        """
        J = self.num_modalities
        if J == 1 and (isinstance(obs, (Tensor, np.ndarray))):
            obs_seq: list = [obs]
        elif isinstance(obs, (list, tuple)):
            obs_seq = list(obs)
        else:
            raise ValueError(
                f"obs must be a tensor (B, T, ...) for one modality or a sequence of {J} tensors, "
                f"got {type(obs).__name__}"
            )
        if len(obs_seq) != J:
            raise ValueError(f"expected {J} observation modalities, got {len(obs_seq)}")
        out: list[Tensor] = []
        BT: tuple[int, int] | None = None
        for j, (x, m) in enumerate(zip(obs_seq, self.modalities)):
            name = "obs" if J == 1 else f"obs[{j}]"
            x = torch.as_tensor(x)
            if m.is_image:
                expected = f"(B, T, {', '.join(map(str, m.obs_shape))})"
                if x.ndim != 5:
                    raise ValueError(
                        f"{name} must be frames of shape (B, T, H, W, C) = {expected}, "
                        f"got shape {tuple(x.shape)}"
                    )
                if tuple(x.shape[2:4]) != m.obs_shape[:2]:
                    raise ValueError(
                        f"{name} frames must be {m.obs_shape[0]}x{m.obs_shape[1]} pixels "
                        f"(shape {expected}), got {x.shape[2]}x{x.shape[3]}"
                    )
                if x.shape[4] != m.obs_shape[2]:
                    raise ValueError(
                        f"{name} frames must have {m.obs_shape[2]} channel(s), channels last "
                        f"(shape {expected}), got {x.shape[4]} in shape {tuple(x.shape)}"
                    )
                if x.dtype != torch.uint8 and not x.is_floating_point():
                    raise ValueError(
                        f"{name} frames must be uint8 in [0, 255] or float in [0, 1], "
                        f"got dtype {x.dtype}"
                    )
            else:
                if x.ndim != 3 or x.shape[2] != m.obs_shape[0]:
                    raise ValueError(
                        f"{name} must be vectors of shape (B, T, D) = (B, T, {m.obs_shape[0]}), "
                        f"got shape {tuple(x.shape)}"
                    )
                if not x.is_floating_point():
                    raise ValueError(f"{name} vectors must be float, got dtype {x.dtype}")
            if x.shape[0] < 1 or x.shape[1] < 1:
                raise ValueError(f"{name} must hold B >= 1 sequences of T >= 1 steps")
            if x.is_floating_point():
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(f"{name} contains NaN or inf values; expected finite values")
                if m.is_image:
                    lo, hi = float(x.min()), float(x.max())
                    if lo < -1e-3 or hi > 1.0 + 1e-3:
                        raise ValueError(
                            f"float {name} frames must be in [0, 1], got values in "
                            f"[{lo:.3g}, {hi:.3g}] (pass uint8 frames for [0, 255])"
                        )
            if BT is None:
                BT = (x.shape[0], x.shape[1])
            elif (x.shape[0], x.shape[1]) != BT:
                raise ValueError(
                    f"{name} has (B, T) = {tuple(x.shape[:2])} but obs[0] has (B, T) = {BT}"
                )
            if x.is_floating_point():
                x = x.to(self.dtype)
            out.append(x.to(self.device))
        assert BT is not None
        B, T = BT
        actions_t = self._validate_actions(actions, B, T)
        mask_t = None
        if mask is not None:
            mask_t = torch.as_tensor(mask)
            if tuple(mask_t.shape) != (B, T):
                raise ValueError(
                    f"mask must have shape (B, T) = ({B}, {T}) matching obs, "
                    f"got {tuple(mask_t.shape)}"
                )
            if mask_t.dtype != torch.bool:
                if mask_t.is_floating_point() or not bool(((mask_t == 0) | (mask_t == 1)).all()):
                    raise ValueError(f"mask must be bool (or 0/1 integers), got {mask_t.dtype}")
                mask_t = mask_t.bool()
            mask_t = mask_t.to(self.device)
        return out, actions_t, mask_t

    def _validate_actions(self, actions: Any, B: int, T: int) -> Tensor | None:
        kind = self.config.action_kind
        if actions is None:
            if kind is not None and T > 1:
                shape = "(B, T-1, A)" if kind == "continuous" else "(B, T-1)"
                raise ValueError(f"this model is action-conditioned ({kind}): pass actions {shape}")
            return None
        if kind is None:
            raise ValueError("this model has no action model (action_kind=None) but got actions")
        a = torch.as_tensor(actions)
        if kind == "continuous":
            d = self.config.action_dim
            if a.ndim == 2 and d == 1:
                a = a.unsqueeze(-1)
            check_actions(a, kind, (B, T - 1, d), "(B, T-1, A)", None)
            return a.to(self.device, self.dtype)
        n = self.config.num_actions
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a.squeeze(-1)
        check_actions(a, kind, (B, T - 1), "(B, T-1)", n)
        return a.to(self.device, torch.int64)

    # -- model -----------------------------------------------------------------------------
    def factors(
        self, obs: Tensor | Sequence[Tensor], *, validate: bool = True
    ) -> list[tuple[Tensor, Tensor]]:
        """Recognition potentials, one per modality: ``(Lam (B,T,K,K), h (B,T,K))``."""
        obs_list = self.validate_inputs(obs)[0] if validate else list(_as_list(obs))
        return self.recognition(obs_list)

    def chain(self, actions: Tensor | None, batch: int, T: int) -> PriorChain:
        """The prior chain(s) for a batch (see :meth:`LinearGaussianPrior.chain`)."""
        return self.prior.chain(actions, batch, T)

    def _smooth(
        self, factors: Sequence[tuple[Tensor, Tensor]], chain: PriorChain, mask: Tensor | None
    ) -> SmootherResult:
        precision = factors[0][0]
        pwm = factors[0][1]
        for Lam, h in factors[1:]:
            precision = precision + Lam
            pwm = pwm + h
        return kalman_smoother(
            chain.m1, chain.Q1, chain.A, chain.b, chain.Q, precision, pwm, mask,
            parallel=self.config.parallel,
        )  # fmt: skip

    def posterior(
        self,
        obs: Tensor | Sequence[Tensor],
        actions: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> SmootherResult:
        """Exact posterior marginals given observations (spec section 2).

        Under ``model.eval()`` it runs in ``torch.inference_mode`` (no graph); in training mode it
        follows the ambient grad mode (differentiable).

        Args:
            obs: (B, T, H, W, C) uint8 in [0, 255] or float in [0, 1], or (B, T, D) float, or a
                sequence of J such tensors.
            actions: (B, T-1, A) float, (B, T-1) int, or ``None``.
            mask: (B, T) bool, ``False`` on steps without an observation.

        Returns:
            :class:`~rpgssm_env.model.inference.SmootherResult`: ``means`` (B,T,K), ``covs``
            (B,T,K,K), ``cross_covs`` (B,T-1,K,K), ``filtered_means``, ``filtered_covs``, ...
        """
        obs_list, actions, mask = self.validate_inputs(obs, actions, mask)
        B, T = obs_list[0].shape[:2]
        if self.training:
            return self._smooth(self.recognition(obs_list), self.chain(actions, B, T), mask)
        with torch.inference_mode():
            return self._smooth(self.recognition(obs_list), self.chain(actions, B, T), mask)

    def loss(
        self,
        obs: Tensor | Sequence[Tensor],
        actions: Tensor | None = None,
        mask: Tensor | None = None,
        *,
        mode: str | None = None,
        beta: float | None = None,
    ) -> FreeEnergy:
        """The minibatch free-energy loss (to minimise) and its terms.

        Args:
            obs, actions, mask: as in :meth:`posterior`.
            mode: ``"em"`` (posterior computed without gradient: the M-step of EM) or
                ``"direct"`` (gradients through the smoother); default ``config.mode``.
            beta: weight of the chain KL; default ``config.beta``.

        Returns:
            :class:`~rpgssm_env.model.objective.FreeEnergy` (``loss``, ``log_gamma``, ``kl_qf``,
            ``kl_qp``: scalars).
        """
        mode = mode or self.config.mode
        if mode not in ("em", "direct"):
            raise ValueError(f"mode must be 'em' or 'direct', got {mode!r}")
        beta = self.config.beta if beta is None else beta
        obs_list, actions, mask = self.validate_inputs(obs, actions, mask)
        B, T = obs_list[0].shape[:2]
        factors = self.recognition(obs_list)
        chain = self.chain(actions, B, T)
        if mode == "em":
            with torch.no_grad():
                posterior = self._smooth(factors, chain, mask)
        else:
            posterior = self._smooth(factors, chain, mask)
        return free_energy(posterior, factors, chain, mask, beta)

    def project_(self) -> None:
        """Apply the prior's stability projection to A (after an optimiser step)."""
        self.prior.project_()

    def set_projection_eps_(self, eps: float, keep_A: bool = True) -> None:
        """Move A's stability cap to ``1 - eps`` in the prior and in :attr:`config` (which
        checkpoints record); see :meth:`LinearGaussianPrior.set_projection_eps_`."""
        self.prior.set_projection_eps_(eps, keep_A=keep_A)
        self.config.projection_eps = float(eps)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write config + weights atomically to ``path`` (a checkpoint without optimiser)."""
        from rpgssm_env.training.checkpoint import save_checkpoint

        save_checkpoint(path, self, metadata=metadata)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> RPGSSM:
        """Rebuild a model from a checkpoint or :meth:`save` file (in eval mode).

        Raises:
            rpgssm_env.training.checkpoint.CheckpointError: unreadable or invalid file.
        """
        from rpgssm_env.training.checkpoint import read_checkpoint

        ckpt = read_checkpoint(path)
        model = cls(RPGSSMConfig.from_dict(ckpt["config"]))
        model.load_state_dict(ckpt["model"])
        return model.to(resolve_device(device)).eval()


def _as_list(obs: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [obs] if isinstance(obs, Tensor) else list(obs)
