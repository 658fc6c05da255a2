r"""Online RP-GSSM filtering: one belief per environment, updated frame by frame (spec section 6).

:class:`RPGSSMFilter` holds the filtered belief ``q(z_t | x_{1:t}, a_{1:t-1}) = N(mu_t, P_t)`` of
N environments at once, on one device::

    reset:   (mu-, P-) = (m_1, Q_1),                     then update with the first frame
    step(a): (mu-, P-) = (A(a) mu + b(a), A(a) P A(a)^T + Q), then update with the new frame

where the update adds the frame's summed recognition potential ``sum_j (Lam_j, h_j)``. The
prediction and the update are :func:`~rpgssm_env.model.inference.filter_predict` and
:func:`~rpgssm_env.model.inference.filter_update`, the very functions the batch filter
(:func:`~rpgssm_env.model.inference.kalman_filter`) uses, so the online beliefs equal the batch
filter's filtered marginals (``filtered_means``, ``filtered_covs``) step by step.

All N frames of a step go through the recognition networks in ONE forward pass, under
``torch.inference_mode``; the Kalman algebra is batched over N (no per-environment Python loop).

Observation features (float32 NumPy arrays, one row per environment):

* ``"mean"``: ``mu_t`` (K,);
* ``"mean+std"``: ``mu_t`` and ``sqrt(diag P_t)`` (2K,);
* ``"mean+cov"``: ``mu_t`` and the lower triangle of the Cholesky factor of ``P_t``, row by row
  (``torch.tril_indices`` order) (K + K(K+1)/2,).

This module is part of the core: it imports neither Gymnasium nor Stable-Baselines3. The wrappers
in :mod:`rpgssm_env.wrappers` build on it.

>>> from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig
>>> model = RPGSSM(RPGSSMConfig(latent_dim=3, obs_shape=(5,), hidden=()))
>>> filt = RPGSSMFilter(model, num_envs=2, features="mean+std", device="cpu")
>>> filt.reset(None, np.zeros((2, 5), np.float32)).shape
(2, 6)
>>> filt.step(np.ones((2, 5), np.float32), None).dtype
dtype('float32')
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from rpgssm_env.model.inference import PriorChain, filter_predict, filter_update
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig, check_actions, resolve_device

__all__ = [
    "FEATURES",
    "FilterPrediction",
    "RPGSSMFilter",
    "RolloutRecorder",
    "feature_dim",
    "load_model",
    "tune_malloc",
]

FEATURES = ("mean", "mean+std", "mean+cov")

ArrayLike = np.ndarray | Tensor
Frames = ArrayLike | Sequence[ArrayLike]
Indices = Sequence[int] | np.ndarray | slice | None


def feature_dim(features: str, latent_dim: int) -> int:
    """Length of one feature vector: K, 2K or K + K(K+1)/2."""
    K = int(latent_dim)
    if features == "mean":
        return K
    if features == "mean+std":
        return 2 * K
    if features == "mean+cov":
        return K + K * (K + 1) // 2
    raise ValueError(f"features must be one of {FEATURES}, got {features!r}")


_MALLOC_TUNED = False
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc keep freed tensor buffers instead of returning them to the OS (process-wide).

    PyTorch's CPU allocator is plain ``malloc``. With glibc's defaults, the few-MB activations of
    a CNN on a batch of frames are handed back to the OS after every forward pass and page-faulted
    in again at the next: on 64x64 frames this more than doubles the time of a filter step (batch
    8: 3.9 -> 1.8 ms; batch 64: 31 -> 13 ms, on this project's CPU). Raising ``M_MMAP_THRESHOLD``
    and ``M_TRIM_THRESHOLD`` keeps those buffers in the heap for reuse; the price is that up to
    ``trim_threshold`` bytes of freed memory stay with the process. Applied once per process;
    a no-op (returning ``False``) where the C library is not glibc.

    Returns:
        Whether the settings are in effect.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    except (OSError, AttributeError):  # pragma: no cover - exotic C libraries
        return False
    _MALLOC_TUNED = ok
    return ok


_tune_malloc = tune_malloc  # (the filter's argument of the same name shadows it)


def load_model(model: RPGSSM | str | os.PathLike, device: str | torch.device = "auto") -> RPGSSM:
    """An :class:`RPGSSM` as given, or loaded from a checkpoint path (in eval mode)."""
    if isinstance(model, RPGSSM):
        return model
    if isinstance(model, (str, os.PathLike)):
        return RPGSSM.load(model, device=device)
    raise TypeError(
        f"model must be an RPGSSM or a checkpoint path (str or os.PathLike), "
        f"got {type(model).__name__}"
    )


class FilterPrediction(NamedTuple):
    """k-step prediction of future latents (see :meth:`RPGSSMFilter.predict`).

    Attributes:
        means: (N, k, K), ``E[z_{t+i} | x_{1:t}, a_{t:t+i-1}]`` for i = 1..k.
        covs: (N, k, K, K).
    """

    means: Tensor
    covs: Tensor


class RPGSSMFilter:
    """Batched online filter of an :class:`RPGSSM` for N environments.

    The filter shares the model: in-place changes of its parameters (an optimiser step of an
    online fine-tuning loop, :meth:`load_state_dict`) take effect at the next step, without
    rebuilding anything. The model is moved to ``device`` (in place).

    Args:
        model: an :class:`RPGSSM` or a checkpoint path.
        num_envs: N, the number of environments (beliefs).
        features: ``"mean"``, ``"mean+std"`` or ``"mean+cov"`` (see the module docstring).
        device: ``"auto"`` (CUDA when available, else CPU), or any ``torch.device``.
        validate: check frames and actions at every call (a few microseconds; switch off only
            when the inputs are known to be right).
        tune_malloc: on a CPU device, call :func:`tune_malloc` (process-wide glibc settings that
            make CNN forward passes on frame batches about 2x faster).

    Attributes:
        model: the :class:`RPGSSM`.
        mean: filtered means (N, K), model dtype, on ``device``.
        cov: filtered covariances (N, K, K).
        started: (N,) bool, ``True`` once an environment's belief has been reset.

    Raises:
        ValueError: unknown ``features`` or ``num_envs < 1``.
    """

    def __init__(
        self,
        model: RPGSSM | str | os.PathLike,
        num_envs: int = 1,
        *,
        features: str = "mean",
        device: str | torch.device = "auto",
        validate: bool = True,
        tune_malloc: bool = True,
    ) -> None:
        self._device_arg = str(device)
        self.device = resolve_device(device)
        self.tune_malloc = bool(tune_malloc)
        if self.tune_malloc and self.device.type == "cpu":
            _tune_malloc()
        self.model = load_model(model, self.device).to(self.device)
        self.features = features
        self.feature_dim = feature_dim(features, self.model.latent_dim)
        self.validate = validate
        self._allocate(num_envs)

    # -- set-up ------------------------------------------------------------------------------
    def _allocate(self, num_envs: int) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = int(num_envs)
        K = self.latent_dim
        dtype = self.model.dtype
        self.mean = torch.zeros(self.num_envs, K, dtype=dtype, device=self.device)
        self.cov = torch.eye(K, dtype=dtype, device=self.device).repeat(self.num_envs, 1, 1)
        self.started = np.zeros(self.num_envs, dtype=bool)
        rows, cols = torch.tril_indices(K, K, device=self.device)
        self._tril = (rows, cols)
        self._bounds = self.feature_bounds()

    def set_num_envs(self, num_envs: int) -> None:
        """Change N (e.g. for another vector env); every belief must be reset again."""
        self._allocate(num_envs)

    @property
    def config(self) -> RPGSSMConfig:
        """The model's :class:`RPGSSMConfig`."""
        return self.model.config

    @property
    def latent_dim(self) -> int:
        """K."""
        return self.model.latent_dim

    @property
    def dtype(self) -> torch.dtype:
        """The model's dtype (float32 or float64)."""
        return self.model.dtype

    @property
    def obs_shapes(self) -> tuple[tuple[int, ...], ...]:
        """One observation shape per modality: ``(H, W, C)`` frames or ``(D,)`` vectors."""
        return tuple(m.obs_shape for m in self.model.modalities)

    @property
    def action_kind(self) -> str | None:
        """``None``, ``"continuous"`` or ``"discrete"`` (from the model config)."""
        return self.config.action_kind

    def feature_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds ``(low, high)`` (F,) float32 of the feature vectors.

        Means are unbounded (``-inf, inf``). Standard deviations are ``>= 0``; the Cholesky
        diagonal too. Upper bounds are finite where they hold for every weight setting: with the
        invariant prior and action-independent ``A_t = A`` the filtered covariance never exceeds
        the prior marginal ``I``, so standard deviations and Cholesky diagonals lie in [0, 1] and
        Cholesky off-diagonals in [-1, 1]; otherwise ``inf``.
        """
        K = self.latent_dim
        bounded = self.config.prior == "invariant" and not self.config.action_matrix
        big = 1.0 if bounded else np.inf
        low = np.full(self.feature_dim, -np.inf, dtype=np.float32)
        high = np.full(self.feature_dim, np.inf, dtype=np.float32)
        if self.features == "mean+std":
            low[K:], high[K:] = 0.0, big
        elif self.features == "mean+cov":
            rows, cols = (t.cpu().numpy() for t in self._tril)
            diag = rows == cols
            low[K:] = np.where(diag, 0.0, -big)
            high[K:] = big
        return low, high

    # -- weights -------------------------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Copy new weights into the model in place (beliefs are kept; shapes must match)."""
        with torch.no_grad():
            self.model.load_state_dict(state_dict, strict=strict)

    def state_dict(self) -> dict[str, Tensor]:
        """The model's weights."""
        return self.model.state_dict()

    def set_model(self, model: RPGSSM | str | os.PathLike) -> None:
        """Swap in another model with the same latent dimension, observations and actions.

        Raises:
            ValueError: the new model's K, observation shapes or action spec differ.
        """
        new = load_model(model, self.device).to(self.device)
        old_c, new_c = self.config, new.config
        for name, a, b in (
            ("latent_dim", old_c.latent_dim, new_c.latent_dim),
            ("observation shapes", self.obs_shapes, tuple(m.obs_shape for m in new.modalities)),
            ("action_kind", old_c.action_kind, new_c.action_kind),
            ("action_dim", old_c.action_dim, new_c.action_dim),
            ("num_actions", old_c.num_actions, new_c.num_actions),
        ):
            if a != b:
                raise ValueError(f"the new model's {name} is {b!r}; this filter needs {a!r}")
        if new.dtype != self.model.dtype:
            self.mean = self.mean.to(new.dtype)
            self.cov = self.cov.to(new.dtype)
        self.model = new
        self._bounds = self.feature_bounds()

    # -- input checks ----------------------------------------------------------------------------
    def _frames(self, frames: Frames, n: int, what: str = "frames") -> list[Tensor]:
        """Validate (n, *obs_shape_j) per modality and move to the device."""
        shapes = self.obs_shapes
        J = len(shapes)
        if J == 1 and isinstance(frames, (np.ndarray, Tensor)):
            seq: list[Any] = [frames]
        elif J == 1 and isinstance(frames, (list, tuple)) and len(frames) == n:
            seq = [np.stack([np.asarray(f) for f in frames]) if n else np.asarray(frames)]
        elif isinstance(frames, (list, tuple)) and J > 1:
            seq = list(frames)
            if len(seq) != J:
                raise ValueError(f"{what}: expected {J} modalities, got {len(seq)}")
        else:
            raise ValueError(
                f"{what} must be an array of shape (N, {', '.join(map(str, shapes[0]))})"
                if J == 1
                else f"{what} must be a sequence of {J} arrays, one per modality"
            )
        out = []
        for j, (x, shape) in enumerate(zip(seq, shapes)):
            name = what if J == 1 else f"{what}[{j}]"
            if not isinstance(x, (np.ndarray, Tensor)):
                x = np.asarray(x)
            if self.validate:
                self._check_frames(x, n, shape, name)
            if isinstance(x, np.ndarray):
                x = torch.from_numpy(np.ascontiguousarray(x))
            out.append(x.to(self.device, non_blocking=True))
        return out

    @staticmethod
    def _check_frames(x: np.ndarray | Tensor, n: int, shape: tuple[int, ...], name: str) -> None:
        expected = (n, *shape)
        image = len(shape) == 3
        if tuple(x.shape) != expected:
            if image and x.ndim == 4 and x.shape[0] == n:
                H, W, C = shape
                raise ValueError(
                    f"{name} must be {H}x{W} frames with {C} channel(s), channels last, shape "
                    f"{expected}; got shape {tuple(x.shape)} ({x.shape[1]}x{x.shape[2]} pixels, "
                    f"{x.shape[3]} channel(s))"
                )
            raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
        if isinstance(x, np.ndarray):
            is_uint8 = x.dtype == np.uint8
            is_float = np.issubdtype(x.dtype, np.floating)
        else:
            is_uint8 = x.dtype == torch.uint8
            is_float = x.is_floating_point()
        if image and not (is_uint8 or is_float):
            raise ValueError(
                f"{name} must be uint8 in [0, 255] or float in [0, 1], got dtype {x.dtype}"
            )
        if not image and not is_float:
            raise ValueError(f"{name} must be float vectors, got dtype {x.dtype}")
        if is_float:
            finite = np.isfinite(x).all() if isinstance(x, np.ndarray) else torch.isfinite(x).all()
            if not bool(finite):
                raise ValueError(f"{name} contain NaN or inf values; expected finite values")

    def _actions(self, actions: ArrayLike | None, n: int) -> Tensor | None:
        """Validate actions (n, A) float or (n,) int against the model and move to the device."""
        kind = self.action_kind
        if kind is None:
            return None
        if actions is None:
            shape = f"({n}, {self.config.action_dim})" if kind == "continuous" else f"({n},)"
            raise ValueError(f"this model is action-conditioned ({kind}): pass actions {shape}")
        if isinstance(actions, np.ndarray):
            a = torch.from_numpy(np.ascontiguousarray(actions))
        elif isinstance(actions, Tensor):
            a = actions
        else:
            a = torch.as_tensor(np.asarray(actions))
        if kind == "continuous":
            d = int(self.config.action_dim)
            if a.ndim == 1 and d == 1 and a.shape[0] == n:
                a = a[:, None]
            if self.validate:
                check_actions(a, kind, (n, d), "(N, A)", None)
            return a.to(self.device, self.dtype)
        num = int(self.config.num_actions)
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if self.validate:
            check_actions(a, kind, (n,), "(N,)", num)
        return a.to(self.device, torch.int64)

    def _indices(self, indices: Indices) -> np.ndarray:
        if indices is None:
            return np.arange(self.num_envs)
        if isinstance(indices, slice):
            return np.arange(self.num_envs)[indices]
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (self.num_envs,):
                raise ValueError(
                    f"a boolean index mask must have shape ({self.num_envs},), got {idx.shape}"
                )
            return np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_envs):
            raise ValueError(f"env indices must be in [0, {self.num_envs}), got {idx.tolist()}")
        return idx

    def _dones(self, dones: ArrayLike | None) -> np.ndarray:
        if dones is None:
            return np.zeros(self.num_envs, dtype=bool)
        d = np.asarray(dones.cpu() if isinstance(dones, Tensor) else dones)
        if d.shape != (self.num_envs,):
            raise ValueError(f"dones must have shape (N,) = ({self.num_envs},), got {d.shape}")
        return d.astype(bool)

    # -- model pieces --------------------------------------------------------------------------
    def potentials(self, frames: Frames, n: int | None = None) -> tuple[Tensor, Tensor]:
        """Summed recognition potential of each frame, in one forward pass per modality.

        Args:
            frames: (M, *obs_shape) per modality (uint8 or float frames, float vectors).
            n: expected M (default: the leading size of the frames).

        Returns:
            ``Lam`` (M, K, K) and ``h`` (M, K), model dtype, on the device.
        """
        if n is None:
            first = frames if isinstance(frames, (np.ndarray, Tensor)) else frames[0]
            n = int(first.shape[0])
        xs = self._frames(frames, n)
        with torch.inference_mode():
            return self._potentials(xs)

    def _potentials(self, xs: list[Tensor]) -> tuple[Tensor, Tensor]:
        factors = self.model.factors([x.unsqueeze(1) for x in xs], validate=False)
        Lam, h = factors[0]
        for L2, h2 in factors[1:]:
            Lam = Lam + L2
            h = h + h2
        return Lam[:, 0], h[:, 0]

    def _transition(self, actions: Tensor | None, n: int) -> PriorChain:
        """The prior for one transition: ``A_t`` (n, K, K) or (K, K), ``b_t`` (n, K) or (K,),
        and ``m1``, ``Q1``, ``Q`` as in :meth:`RPGSSM.chain`."""
        if actions is None:
            return self.model.chain(None, n, 2)
        chain = self.model.chain(actions.unsqueeze(1), n, 2)
        return chain._replace(A=chain.A[:, 0], b=chain.b[:, 0])

    # -- filtering -----------------------------------------------------------------------------
    def reset(self, indices: Indices, frames: Frames) -> np.ndarray:
        """Start the beliefs of some environments: prior ``(m_1, Q_1)`` updated with a first frame.

        Args:
            indices: which environments (a list of M indices, a boolean (N,) mask, a slice, or
                ``None`` for all N).
            frames: their first frames, (M, *obs_shape) (per modality).

        Returns:
            The features of those environments, (M, F) float32.
        """
        idx = self._indices(indices)
        xs = self._frames(frames, len(idx))
        if len(idx) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        with torch.inference_mode():
            Lam, h = self._potentials(xs)
            chain = self.model.chain(None, len(idx), 1)
            K = self.latent_dim
            m1 = chain.m1.expand(len(idx), K)
            Q1 = chain.Q1.expand(len(idx), K, K)
            mean, cov = filter_update(m1, Q1, Lam, h)
            ti = torch.as_tensor(idx, device=self.device)
            self.mean[ti] = mean
            self.cov[ti] = cov
            feats = self._features(mean, cov)
        self.started[idx] = True
        return feats

    def step(
        self, frames: Frames, actions: ArrayLike | None, dones: ArrayLike | None = None
    ) -> np.ndarray:
        """Advance every belief by one environment step.

        Environment i predicts with the prior under ``actions[i]`` (the action that produced
        ``frames[i]``) and updates with ``frames[i]``. Where ``dones[i]`` is true, ``frames[i]``
        is instead the FIRST frame of a new episode (as in SB3's VecEnv, whose ``done`` step
        returns the reset observation, or the step after ``done`` in Gymnasium's NEXT_STEP
        autoreset): that belief restarts from the prior and ``actions[i]`` is ignored.

        Args:
            frames: (N, *obs_shape) per modality.
            actions: (N, A) float (continuous; (N,) allowed when A = 1), (N,) int (discrete), or
                ``None`` for a model without actions.
            dones: (N,) bool, or ``None`` (no episode starts).

        Returns:
            Features (N, F) float32.
        """
        return self.step_autoreset(frames, actions, dones, None)[0]

    def step_autoreset(
        self,
        frames: Frames,
        actions: ArrayLike | None,
        dones: ArrayLike | None,
        final_frames: Frames | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`step` that also filters the terminal frames of the episodes that just ended.

        With same-step autoreset (SB3 VecEnv, Gymnasium SAME_STEP), a done env returns the reset
        frame of its new episode and keeps the terminal frame aside
        (``info["terminal_observation"]``, ``info["final_obs"]``). Here every env is predicted
        under its action; a done env is updated with its terminal frame (its final belief) and
        then restarts from the prior with the reset frame. All N + D frames go through the
        network in one forward pass.

        Args:
            frames: (N, *obs_shape): new frames (reset frames for done envs).
            actions: as in :meth:`step`.
            dones: (N,) bool.
            final_frames: (D, *obs_shape) terminal frames of the D done envs, in env order, or
                ``None`` (then done envs just restart, as in :meth:`step`).

        Returns:
            ``(features (N, F), final_features (D, F))`` float32 (``final_features`` has zero
            rows when ``final_frames`` is ``None``).
        """
        N = self.num_envs
        done = self._dones(dones)
        done_idx = np.flatnonzero(done)
        D = len(done_idx) if final_frames is not None else 0
        xs = self._frames(frames, N)
        if final_frames is not None:
            fx = self._frames(final_frames, len(done_idx), "final_frames")
            xs = [torch.cat([x, f]) for x, f in zip(xs, fx)]
        a = self._actions(actions, N)
        waiting = ~self.started & ~done
        if waiting.any():
            raise RuntimeError(
                f"step() before reset() for env(s) {np.flatnonzero(waiting).tolist()}: call "
                "reset(indices, first_frames) first"
            )
        with torch.inference_mode():
            Lam, h = self._potentials(xs)
            chain = self._transition(a, N)
            pm, pc = filter_predict(self.mean, self.cov, chain.A, chain.b, chain.Q)
            if len(done_idx):
                ti = torch.as_tensor(done_idx, device=self.device)
                # the predictions of the D terminal frames, then the restarts from the prior
                pm = torch.cat([pm.index_copy(0, ti, chain.m1.expand(len(ti), -1)), pm[ti][:D]])
                pc = torch.cat([pc.index_copy(0, ti, chain.Q1.expand(len(ti), -1, -1)), pc[ti][:D]])
            mean, cov = filter_update(pm, pc, Lam, h)
            self.mean = mean[:N]
            self.cov = cov[:N]
            feats = self._features(mean, cov)
        self.started[done_idx] = True
        return feats[:N], feats[N:]

    # -- outputs -------------------------------------------------------------------------------
    def _features(self, mean: Tensor, cov: Tensor) -> np.ndarray:
        if self.features == "mean":
            out = mean
        elif self.features == "mean+std":
            out = torch.cat([mean, torch.diagonal(cov, dim1=-2, dim2=-1).clamp_min(0).sqrt()], -1)
        else:
            L = torch.linalg.cholesky(cov)
            out = torch.cat([mean, L[:, self._tril[0], self._tril[1]]], -1)
        feats = out.to(torch.float32).cpu().numpy()
        if self.features != "mean":
            low, high = self._bounds
            np.clip(feats, low, high, out=feats)  # round-off only: the bounds hold exactly
        return feats

    def get_features(self, indices: Indices = None) -> np.ndarray:
        """Current features of some environments (default all), (M, F) float32."""
        idx = torch.as_tensor(self._indices(indices), device=self.device)
        with torch.inference_mode():
            return self._features(self.mean[idx], self.cov[idx])

    def predict(
        self,
        actions: ArrayLike | None = None,
        steps: int | None = None,
        indices: Indices = None,
    ) -> FilterPrediction:
        """k-step prediction of future latents from the current beliefs, under planned actions.

        Runs the prior recursion ``mu <- A(a) mu + b(a)``, ``P <- A(a) P A(a)^T + Q`` from
        ``(mu_t, P_t)``; the beliefs themselves are not changed.

        Args:
            actions: (M, k, A) float or (M, k) int planned actions (``actions[:, i]`` drives
                ``z_{t+i} -> z_{t+i+1}``), or ``None`` for a model without actions.
            steps: k when ``actions`` is ``None``.
            indices: which environments (default all N); M of them.

        Returns:
            :class:`FilterPrediction` with means (M, k, K) and covs (M, k, K, K) on the device.
        """
        idx = self._indices(indices)
        M = len(idx)
        if actions is None:
            if self.action_kind is not None:
                raise ValueError(f"this model is action-conditioned ({self.action_kind}): pass "
                                 "planned actions (M, k, ...)")  # fmt: skip
            if steps is None or int(steps) < 1:
                raise ValueError(f"pass steps >= 1 when actions is None, got {steps}")
            k = int(steps)
            a_seq = None
        else:
            a_np = actions.cpu() if isinstance(actions, Tensor) else np.asarray(actions)
            if a_np.ndim < 2 or a_np.shape[0] != M:
                raise ValueError(
                    f"planned actions must have shape (M, k, ...) with M = {M}, "
                    f"got {tuple(a_np.shape)}"
                )
            k = int(a_np.shape[1])
            if steps is not None and int(steps) != k:
                raise ValueError(f"steps={steps} but actions hold k={k} steps")
            a_seq = [self._actions(a_np[:, i], M) for i in range(k)]
        ti = torch.as_tensor(idx, device=self.device)
        means, covs = [], []
        with torch.inference_mode():
            m, P = self.mean[ti], self.cov[ti]
            for i in range(k):
                chain = self._transition(None if a_seq is None else a_seq[i], M)
                m, P = filter_predict(m, P, chain.A, chain.b, chain.Q)
                means.append(m)
                covs.append(P)
            if k == 0:
                K = self.latent_dim
                return FilterPrediction(m.new_zeros(M, 0, K), P.new_zeros(M, 0, K, K))
            return FilterPrediction(torch.stack(means, 1), torch.stack(covs, 1))

    # -- pickling (weights travel; beliefs do not) ------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "weights": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "features": self.features,
            "device": self._device_arg,
            "validate": self.validate,
            "tune_malloc": self.tune_malloc,
            "num_envs": self.num_envs,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        model = RPGSSM(RPGSSMConfig.from_dict(state["config"]))
        model.load_state_dict(state["weights"])
        self.__init__(  # type: ignore[misc]
            model.eval(),
            state["num_envs"],
            features=state["features"],
            device=state["device"],
            validate=state["validate"],
            tune_malloc=state.get("tune_malloc", True),
        )


class RolloutRecorder:
    """A ring buffer of what the filter saw, one stream per environment (for online fine-tuning).

    Each stream holds, in time order, the frames of one environment, the action that led to each
    frame (zeros at a first frame) and a flag marking first frames of episodes; terminal frames of
    episodes that ended under autoreset are recorded before the next episode's first frame, so a
    stream splits into whole episodes at its ``firsts``. The latent wrappers call :meth:`reset` and
    :meth:`step` with the arguments they give the filter (only while their ``training`` flag is
    set).

    Args:
        capacity: frames kept per environment (the oldest are dropped).
    """

    def __init__(self, capacity: int = 1000) -> None:
        if int(capacity) < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._streams: dict[int, deque] = {}

    def _push(self, i: int, frame: Any, action: Any, first: bool) -> None:
        stream = self._streams.setdefault(int(i), deque(maxlen=self.capacity))
        stream.append((np.array(frame, copy=True), np.array(action, copy=True), bool(first)))

    def reset(self, indices: Sequence[int] | np.ndarray, frames: np.ndarray) -> None:
        """Record first frames of the given environments."""
        for i, f in zip(np.asarray(indices).reshape(-1), frames):
            self._push(i, f, self._zero_action(i), True)

    def step(
        self,
        frames: np.ndarray,
        actions: np.ndarray | None,
        dones: np.ndarray | None = None,
        final_frames: np.ndarray | None = None,
    ) -> None:
        """Record one step of N environments (same arguments as :meth:`RPGSSMFilter.step` /
        :meth:`RPGSSMFilter.step_autoreset`)."""
        n = len(frames)
        acts = np.zeros(n) if actions is None else np.asarray(actions)
        done = np.zeros(n, bool) if dones is None else np.asarray(dones, bool)
        k = 0
        for i in range(n):
            if done[i]:
                if final_frames is not None:
                    self._push(i, final_frames[k], acts[i], False)
                    k += 1
                self._push(i, frames[i], np.zeros_like(acts[i]), True)
            else:
                self._push(i, frames[i], acts[i], False)

    def _zero_action(self, i: int) -> Any:
        stream = self._streams.get(int(i))
        return np.zeros_like(stream[-1][1]) if stream else np.zeros(())

    @property
    def num_envs(self) -> int:
        """Number of environments recorded so far."""
        return len(self._streams)

    def __len__(self) -> int:
        return sum(len(s) for s in self._streams.values())

    def stream(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Environment i's stream: frames (L, ...), actions (L, ...) (the action that led to each
        frame), firsts (L,) bool."""
        s = self._streams.get(int(i))
        if not s:
            raise KeyError(f"nothing recorded for env {i}")
        frames, actions, firsts = zip(*s)
        shape = np.broadcast_shapes(*(np.shape(a) for a in actions))
        acts = np.stack([np.broadcast_to(a, shape) for a in actions])
        return np.stack(frames), acts, np.asarray(firsts, bool)

    def clear(self) -> None:
        """Drop everything."""
        self._streams.clear()
