"""Recognition networks: one frame -> one Gaussian potential ``g(z) = exp(h^T z - 1/2 z^T Lam z)``
(spec section 1.4).

Each network is ``trunk(x) -> Linear(d_out) -> head``:

* trunks: :class:`ConvTrunk` for frames (H, W, C) of 24 to 128 pixels (grey or colour; uint8
  frames in [0, 255] are scaled to [0, 1] inside, float frames in [0, 1] are taken as they are),
  its feature map flattened or read out as keypoints (:class:`SpatialSoftmax`), and
  :class:`MLPTrunk` for vectors (D,) (``hidden=()`` makes the whole network linear);
* heads (:class:`DiagonalHead`, :class:`FullHead`, :class:`ConstantHead`) map the trunk features
  to ``(Lam (N, K, K), h (N, K))``.

The last Linear layer starts small (variance scaling 0.1, fan-in; bias 0), so at the start
``h ~ 0`` and ``Lam ~ softplus(0) I = 0.693 I``.

:class:`Recognition` holds one network per modality (J of them) and maps a batch of sequences
(B, T, ...) to a list of J potentials ``(Lam (B, T, K, K), h (B, T, K))``. Networks see single
frames: no temporal context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ConstantHead",
    "ConvTrunk",
    "DiagonalHead",
    "FullHead",
    "MLPTrunk",
    "Recognition",
    "RecognitionNetwork",
    "SpatialSoftmax",
    "default_conv_layout",
    "make_head",
]

PRECISION_FLOOR = 1e-4
#: Read-outs of a conv trunk's last feature map (see :class:`ConvTrunk`).
POOLS = ("flatten", "keypoints", "flatten+keypoints")
FULL_JITTER = 1e-3


def default_conv_layout(height: int, width: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Conv channels and strides generalising the paper's trunks to any frame size.

    The number of stride-2 convolutions brings the smaller side down to about 4-6 pixels:
    24x24 -> (32, 64, 32) with strides (1, 2, 2) (the paper's pendulum trunk); 64x64 ->
    (16, 16, 32, 32, 32) with strides (1, 2, 2, 2, 2) (the paper's walker trunk).

    Returns:
        ``(channels, strides)``.
    """
    side = min(height, width)
    n_down = max(1, round(math.log2(side / 5.0)))
    small = (32, *([64] * (n_down - 1)), 32)
    large = (16, 16, *([32] * (n_down - 1)))
    channels = small if side < 48 else large
    strides = (1, *([2] * n_down))
    return channels, strides


def _init_small(layer: nn.Linear, scale: float = 0.1) -> nn.Linear:
    """Variance scaling (``scale``, fan-in, truncated normal) for the weights, zero bias."""
    # std of the normal before truncation at 2 sigma, so that the truncated one has variance
    # scale / fan_in (as in variance-scaling initialisers)
    std = math.sqrt(scale / layer.in_features) / 0.87962566
    with torch.no_grad():
        nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


class SpatialSoftmax(nn.Module):
    """Feature maps (N, C, h, w) -> keypoints (N, 2C): per channel, the expected column and row
    (each in [-1, 1], left/top = -1) under a softmax over the h*w positions of the map divided
    by a learned temperature (one per channel, starting at 1).

    Where a feature sits in the frame becomes a number that moves linearly with it, wherever it
    is (a flattened map gives every position its own weights, so positions never seen in
    training read out anything): Levine, Finn et al. 2016's spatial softmax.
    """

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(channels))
        cols = torch.linspace(-1.0, 1.0, width) if width > 1 else torch.zeros(1)
        rows = torch.linspace(-1.0, 1.0, height) if height > 1 else torch.zeros(1)
        grid_rows, grid_cols = torch.meshgrid(rows, cols, indexing="ij")
        self.register_buffer("_cols", grid_cols.reshape(-1), persistent=False)
        self.register_buffer("_rows", grid_rows.reshape(-1), persistent=False)

    def forward(self, maps: Tensor) -> Tensor:
        """(N, C, h, w) -> (N, 2C): ``(col_1, ..., col_C, row_1, ..., row_C)``."""
        N, C = maps.shape[:2]
        logits = maps.reshape(N, C, -1) * torch.exp(-self.log_temperature)[:, None]
        if logits.dtype not in (torch.float32, torch.float64):  # under autocast: softmax in fp32
            logits = logits.float()
        weights = torch.softmax(logits, dim=-1).to(maps.dtype)
        cols, rows = self._cols.to(maps.dtype), self._rows.to(maps.dtype)
        return torch.cat([weights @ cols, weights @ rows], dim=1)


class ConvTrunk(nn.Module):
    """Convolutional trunk on channels-last frames.

    3x3 convolutions with "same" padding, ReLU after each, then the feature map flattened
    (``pool="flatten"``, ``C h w`` features), read out as keypoints (``pool="keypoints"``:
    :class:`SpatialSoftmax`, ``2 C`` features), or both side by side
    (``pool="flatten+keypoints"``: ``C h w + 2 C`` features, the flattened map first).

    Args:
        obs_shape: ``(H, W, C)``.
        channels: output channels per convolution (default :func:`default_conv_layout`).
        strides: stride per convolution (same length as ``channels``).
        channels_last: run the convolutions in ``torch.channels_last`` memory format.
        pool: ``"flatten"``, ``"keypoints"`` or ``"flatten+keypoints"``.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        channels: Sequence[int] | None = None,
        strides: Sequence[int] | None = None,
        channels_last: bool = True,
        pool: str = "flatten",
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if len(obs_shape) != 3:
            raise ValueError(f"ConvTrunk needs obs_shape (H, W, C), got {tuple(obs_shape)}")
        H, W, C = (int(s) for s in obs_shape)
        if channels is None:
            channels, default_strides = default_conv_layout(H, W)
            strides = strides if strides is not None else default_strides
        if strides is None:
            strides = (1, *([2] * (len(channels) - 1)))
        if len(strides) != len(channels):
            raise ValueError(
                f"channels {tuple(channels)} and strides {tuple(strides)} differ in length"
            )
        self.obs_shape = (H, W, C)
        self.channels_last = channels_last
        layers: list[nn.Module] = []
        c_in = C
        h, w = H, W
        for c_out, s in zip(channels, strides):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=s, padding=1), nn.ReLU(inplace=True)]
            c_in = c_out
            h, w = (h - 1) // s + 1, (w - 1) // s + 1
        self.net = nn.Sequential(*layers)
        self.flatten = pool != "keypoints"
        self.keypoints = SpatialSoftmax(c_in, h, w) if "keypoints" in pool else None
        n_keypoints = 2 * c_in if self.keypoints is not None else 0
        self.out_features = (c_in * h * w if self.flatten else 0) + n_keypoints
        if channels_last:
            self.net.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        """Frames (N, H, W, C) (already float in [0, 1]) -> features (N, out_features)."""
        x = x.permute(0, 3, 1, 2)  # NCHW view of channels-last data (no copy)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        maps = self.net(x.contiguous(memory_format=fmt))
        if self.keypoints is None:
            return maps.flatten(1)
        if not self.flatten:
            return self.keypoints(maps)
        return torch.cat([maps.flatten(1), self.keypoints(maps)], dim=1)


class MLPTrunk(nn.Module):
    """MLP trunk on vectors (N, D) -> (N, hidden[-1]) (identity when ``hidden=()``)."""

    def __init__(self, in_dim: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = int(in_dim)
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            width = int(size)
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class DiagonalHead(nn.Module):
    """``Linear(2K)``: ``h = v[:K]``, ``Lam = diag(softplus(v[K:]) + 1e-4)``."""

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.linear = _init_small(nn.Linear(in_features, 2 * latent_dim))

    def forward(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """(N, F) -> ``Lam`` (N, K, K), ``h`` (N, K)."""
        v = self.linear(feats)
        K = self.latent_dim
        return torch.diag_embed(F.softplus(v[..., K:]) + PRECISION_FLOOR), v[..., :K]


class FullHead(nn.Module):
    """``Linear(K + K(K+1)/2)``: ``h = v[:K]``, strict lower triangle of ``L`` next, then
    ``diag(L) = softplus(.)``; ``Lam = L L^T + 1e-3 I``."""

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        K = latent_dim
        self.latent_dim = K
        self.linear = _init_small(nn.Linear(in_features, K + K * (K + 1) // 2))
        rows, cols = torch.tril_indices(K, K, -1)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)

    def forward(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """(N, F) -> ``Lam`` (N, K, K), ``h`` (N, K)."""
        K = self.latent_dim
        v = self.linear(feats)
        n_off = K * (K - 1) // 2
        h, off, diag = v[..., :K], v[..., K : K + n_off], v[..., K + n_off :]
        L = torch.diag_embed(F.softplus(diag))
        if n_off:
            lower = v.new_zeros(*v.shape[:-1], K, K)
            lower[..., self._rows, self._cols] = off
            L = L + lower
        eye = torch.eye(K, dtype=v.dtype, device=v.device)
        return L @ L.transpose(-1, -2) + FULL_JITTER * eye, h


class ConstantHead(nn.Module):
    """``Linear(K)`` for ``h``; ``Lam = L L^T + 1e-3 I`` from one learned lower-triangular ``L``
    shared by all frames (softplus diagonal), initialised so that ``Lam = 0.7 I`` (never
    ``L = 0``, where the gradient of ``L L^T`` vanishes)."""

    def __init__(self, in_features: int, latent_dim: int, init: float = 0.7) -> None:
        super().__init__()
        K = latent_dim
        self.latent_dim = K
        self.linear = _init_small(nn.Linear(in_features, K))
        d = math.sqrt(init - FULL_JITTER)
        raw = torch.zeros(K, K)
        raw.diagonal().fill_(d + math.log(-math.expm1(-d)))  # softplus^{-1}(d)
        self.L_raw = nn.Parameter(raw)

    def precision(self) -> Tensor:
        """The shared precision (K, K)."""
        L = torch.tril(self.L_raw, -1) + torch.diag_embed(F.softplus(self.L_raw.diagonal()))
        eye = torch.eye(self.latent_dim, dtype=L.dtype, device=L.device)
        return L @ L.T + FULL_JITTER * eye

    def forward(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """(N, F) -> ``Lam`` (N, K, K) (an expanded view), ``h`` (N, K)."""
        h = self.linear(feats)
        K = self.latent_dim
        return self.precision().expand(*h.shape[:-1], K, K), h


def make_head(kind: str, in_features: int, latent_dim: int) -> nn.Module:
    """Head by name: ``"diagonal"``, ``"full"`` or ``"constant"``."""
    if kind == "diagonal":
        return DiagonalHead(in_features, latent_dim)
    if kind == "full":
        return FullHead(in_features, latent_dim)
    if kind == "constant":
        return ConstantHead(in_features, latent_dim)
    raise ValueError(f"head must be 'diagonal', 'full' or 'constant', got {kind!r}")


class RecognitionNetwork(nn.Module):
    """One modality's network: single observations -> Gaussian potentials.

    Args:
        obs_shape: ``(H, W, C)`` for frames or ``(D,)`` for vectors.
        latent_dim: K.
        head: ``"diagonal"``, ``"full"`` or ``"constant"``.
        channels, strides: conv layout for frames (default :func:`default_conv_layout`).
        hidden: MLP hidden sizes for vectors (``()``: linear).
        channels_last: channels-last memory format for the convolutions.
        pool: read-out of the conv trunk for frames: ``"flatten"`` or ``"keypoints"`` (see
            :class:`ConvTrunk`).
        autocast_dtype: run the trunk under ``torch.autocast`` in this dtype (e.g.
            ``torch.bfloat16``: about 2x faster convolutions on CPUs with AVX-512 BF16, at
            bfloat16 precision); the head always runs in the model's dtype. ``None``: off.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        latent_dim: int,
        head: str = "diagonal",
        channels: Sequence[int] | None = None,
        strides: Sequence[int] | None = None,
        hidden: Sequence[int] = (256, 256),
        channels_last: bool = True,
        autocast_dtype: torch.dtype | None = None,
        pool: str = "flatten",
    ) -> None:
        super().__init__()
        self.autocast_dtype = autocast_dtype
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.is_image = len(self.obs_shape) == 3
        if self.is_image:
            self.trunk: nn.Module = ConvTrunk(
                self.obs_shape, channels, strides, channels_last, pool=pool
            )
        elif len(self.obs_shape) == 1:
            self.trunk = MLPTrunk(self.obs_shape[0], hidden)
        else:
            raise ValueError(
                f"obs_shape must be (H, W, C) for frames or (D,) for vectors, got {obs_shape}"
            )
        self.head = make_head(head, self.trunk.out_features, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Observations (N, *obs_shape) -> ``Lam`` (N, K, K), ``h`` (N, K).

        uint8 input is scaled by 1/255; float input is used as given (frames in [0, 1]).
        """
        dtype = self.head.linear.weight.dtype
        x = x.to(dtype) / 255.0 if x.dtype == torch.uint8 else x.to(dtype)
        if self.autocast_dtype is None:
            return self.head(self.trunk(x))
        with torch.autocast(device_type=x.device.type, dtype=self.autocast_dtype):
            feats = self.trunk(x)
        return self.head(feats.to(dtype))


class Recognition(nn.Module):
    """J recognition networks, one per modality.

    Args:
        networks: one :class:`RecognitionNetwork` per modality.
        chunk: when gradients are on, run the networks on chunks of this many frames under
            activation checkpointing (``torch.utils.checkpoint``): the backward pass recomputes
            one chunk at a time, so peak memory holds one chunk's activations instead of the
            whole batch's, for one extra forward pass. ``None``: off.
    """

    def __init__(self, networks: Sequence[RecognitionNetwork], chunk: int | None = None) -> None:
        super().__init__()
        if len(networks) < 1:
            raise ValueError("Recognition needs at least one network")
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be >= 1 frames, got {chunk}")
        self.networks = nn.ModuleList(networks)
        self.chunk = chunk

    def _run(self, net: RecognitionNetwork, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.chunk is None or not torch.is_grad_enabled() or x.shape[0] <= self.chunk:
            return net(x)
        from torch.utils.checkpoint import checkpoint

        parts = [checkpoint(net, xc, use_reentrant=False) for xc in x.split(self.chunk)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def __len__(self) -> int:
        return len(self.networks)

    def forward(self, obs: Sequence[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """One batch of sequences per modality -> one potential per modality.

        Args:
            obs: J tensors (B, T, *obs_shape_j).

        Returns:
            J pairs ``(Lam (B, T, K, K), h (B, T, K))``.
        """
        if len(obs) != len(self.networks):
            raise ValueError(f"expected {len(self.networks)} modalities, got {len(obs)}")
        out = []
        for net, x in zip(self.networks, obs):
            B, T = x.shape[:2]
            Lam, h = self._run(net, x.reshape(B * T, *x.shape[2:]))
            out.append((Lam.reshape(B, T, *Lam.shape[1:]), h.reshape(B, T, -1)))
        return out
