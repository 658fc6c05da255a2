"""The pretraining pipeline: data set in, checkpoint + JSON summary + plots out.

:func:`pretrain` opens a data set (``.npz``, rpgssm HDF5 or Minari; or an
:class:`~rpgssm_env.data.base.EpisodeSource`), splits off held-out episodes, builds an
:class:`~rpgssm_env.model.rpgssm.RPGSSM` from a preset and explicit options, and trains it with
:class:`~rpgssm_env.training.trainer.EMTrainer`. Every ``probe_every`` steps it

* computes the held-out free energy (fixed batches of held-out windows) and keeps the
  checkpoint with the lowest one (``<out stem>.best.pt``);
* when the data carry true states, fits a linear probe from posterior means to the states on
  training episodes and scores it on held-out episodes (smoothed and filtered means; angles as
  sin and cos).

At the end it writes ``<out stem>.summary.json`` (steps, wall time, final loss terms, held-out
R^2 per target for filtered and smoothed means, for the final and the best checkpoint) and plots
(``<out stem>.plots/``: loss curves, R^2 curves, latent trajectories).

Files for ``out = runs/pend/model.pt``::

    runs/pend/model.pt               final checkpoint (resumable: optimiser, step, RNG, batcher)
    runs/pend/model.best.pt          lowest held-out free energy
    runs/pend/model.summary.json     the summary returned by pretrain()
    runs/pend/model.plots/*.png      loss.png, r2.png, latents.png

Everything here is PyTorch/NumPy/scikit-learn/matplotlib: no Gymnasium or SB3.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rpgssm_env.data.base import EpisodeSource, Segment
from rpgssm_env.data.cache import MemoryCachedEpisodes
from rpgssm_env.data.windows import (
    ShiftingBins,
    WindowBatcher,
    start_state_bins,
    start_state_groups,
)
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig, resolve_device
from rpgssm_env.training.augment import make_augment
from rpgssm_env.training.checkpoint import read_checkpoint, save_checkpoint
from rpgssm_env.training.presets import DEFAULTS, get_preset
from rpgssm_env.training.probe import angle_to_sincos, encode_source, probe_r2
from rpgssm_env.training.trainer import EMTrainer, linear_beta

__all__ = [
    "EpisodeSubset",
    "held_out_loss",
    "init_transition",
    "output_paths",
    "pretrain",
    "probe_model",
    "resolve_settings",
    "rotation_blocks",
    "split_source",
    "spread_frequencies",
    "state_targets",
]


# -- data --------------------------------------------------------------------------------------
class EpisodeSubset(EpisodeSource):
    """A view of some episodes of another source.

    Args:
        source: the full source.
        indices: which episodes (in this order).
    """

    def __init__(self, source: EpisodeSource, indices: Sequence[int]) -> None:
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0:
            raise ValueError("an episode subset needs at least one episode")
        self.spec = source.spec

    def __len__(self) -> int:
        return len(self.indices)

    def episode_length(self, index: int) -> int:
        return self.source.episode_length(int(self.indices[index]))

    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        seg = self.source.read(int(self.indices[index]), start, stop)
        seg.episode = int(index)
        return seg


def _open(data: str | os.PathLike | EpisodeSource) -> EpisodeSource:
    if isinstance(data, EpisodeSource):
        return data
    from rpgssm_env.data.io import open_dataset

    return open_dataset(data)


def split_source(
    source: EpisodeSource,
    val: float | str | os.PathLike | EpisodeSource | None,
    seed: int = 0,
) -> tuple[EpisodeSource, EpisodeSource | None]:
    """Training and held-out episodes.

    Args:
        source: all training data.
        val: a fraction in (0, 1) of ``source``'s episodes held out (chosen at random with
            ``seed``), a separate data set (path or source), or ``None``/``0`` (no held-out set).

    Returns:
        ``(train, held_out)``; ``held_out`` is ``None`` without a validation set.
    """
    if val is None or (isinstance(val, (int, float)) and float(val) == 0.0):
        return source, None
    if isinstance(val, (int, float)):
        frac = float(val)
        if not 0.0 < frac < 1.0:
            raise ValueError(f"val as a fraction must be in (0, 1), got {val}")
        n = len(source)
        n_val = max(1, round(frac * n))
        if n_val >= n:
            raise ValueError(f"val={val} leaves no training episode out of {n}")
        perm = np.random.default_rng(seed).permutation(n)
        return EpisodeSubset(source, np.sort(perm[n_val:])), EpisodeSubset(
            source, np.sort(perm[:n_val])
        )
    held = _open(val)
    if tuple(held.spec.obs_shape) != tuple(source.spec.obs_shape):
        raise ValueError(
            f"validation data have observations {held.spec.obs_shape}, training data "
            f"{source.spec.obs_shape}"
        )
    return source, held


# -- targets -----------------------------------------------------------------------------------
def state_targets(
    states: np.ndarray, angles: Sequence[int] = (), names: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Probe targets from true states (M, S): each angle column becomes its sin and cos.

    Returns:
        ``(targets (M, S + len(angles)), names)``.
    """
    S = states.shape[-1]
    names = list(names) if names is not None else [f"s{i}" for i in range(S)]
    out, out_names = states, names
    for idx in sorted(angles, reverse=True):  # right to left keeps earlier indices valid
        out, out_names = angle_to_sincos(out, int(idx), out_names)
    return out, out_names


def _batch_groups(
    source: EpisodeSource, spec: Sequence[Any] | None
) -> np.ndarray | ShiftingBins | None:
    """The ``batch_groups`` setting ``(state, bin_width[, "shifting"])`` as episode groups of
    ``source``: fixed bins, or bins whose edges shift every epoch."""
    if spec is None:
        return None
    if len(spec) not in (2, 3) or (len(spec) == 3 and spec[2] not in ("fixed", "shifting")):
        raise ValueError(f"batch_groups must be (state, bin_width[, 'shifting']), got {spec!r}")
    state, width = spec[0], float(spec[1])
    if len(spec) == 3 and spec[2] == "shifting":
        return start_state_bins(source, state, width)
    return start_state_groups(source, state, width)


def _default_angles(source: EpisodeSource) -> tuple[int, ...]:
    """State columns named like an angle that sweep more than a half turn (a full pendulum
    angle, not a cart pole's small tilt)."""
    names = source.spec.state_names
    if not names:
        return ()
    picks = [i for i, n in enumerate(names) if n.lower() in ("theta", "angle", "theta1", "theta2")]
    if not picks:
        return ()
    states = np.concatenate([source.read(i).states for i in range(min(len(source), 50))])
    return tuple(i for i in picks if np.ptp(states[:, i]) > np.pi)


# -- model set-up ------------------------------------------------------------------------------
def spread_frequencies(n: int, freqs: Sequence[float]) -> np.ndarray:
    """``n`` rotation frequencies (rad/step): spread evenly over ``freqs = (lo, hi)`` (``n = 1``:
    their mean), or ``freqs`` itself when it lists ``n`` values (``n > 2``)."""
    freqs = tuple(float(f) for f in freqs)
    if n > 2 and len(freqs) == n:
        return np.array(freqs)
    if len(freqs) != 2:
        raise ValueError(f"A_freqs must be (lo, hi) or {n} frequencies, got {freqs}")
    return np.linspace(freqs[0], freqs[1], n) if n > 1 else np.array([np.mean(freqs)])


def rotation_blocks(
    K: int, rho: float = 0.97, freqs: Sequence[float] = (0.05, 0.4)
) -> torch.Tensor:
    """Block-diagonal ``A`` (K, K) of 2x2 damped rotations ``rho R(f_i)``.

    The ``K // 2`` frequencies ``f_i`` (rad/step) come from :func:`spread_frequencies`; an odd K
    gets a last diagonal entry ``rho``. Every singular value is ``rho``.
    """
    A = torch.zeros(K, K)
    for i, f in enumerate(spread_frequencies(K // 2, freqs)):
        c, s = math.cos(f), math.sin(f)
        A[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = rho * torch.tensor([[c, -s], [s, c]])
    if K % 2:
        A[-1, -1] = rho
    return A


@torch.no_grad()
def init_transition(model: RPGSSM, kind: str, rho: float, freqs: Sequence[float]) -> None:
    """Initialise the prior's ``A`` in place: ``"identity"`` keeps ``A_init I``; ``"rotation"``
    sets :func:`rotation_blocks` (``A_param="full"``) or the same radii and frequencies in the
    rotation parametrisation (``A_param="rotation"``)."""
    if kind == "identity":
        return
    if kind != "rotation":
        raise ValueError(f"A_init_kind must be 'identity' or 'rotation', got {kind!r}")
    prior = model.prior
    if prior.A_param == "rotation":
        prior.set_rotation_(rho, spread_frequencies(prior.latent_dim // 2, freqs))
        return
    if prior.A_param != "full":
        raise ValueError("A_init_kind='rotation' needs A_param='full' or 'rotation'")
    prior.A_raw.copy_(rotation_blocks(prior.latent_dim, rho, freqs).to(prior.A_raw))
    prior.project_()


_MODEL_KEYS = (
    "latent_dim", "prior", "head", "channels", "strides", "hidden", "A_param", "Q_param", "Q_init",
    "A_max_freq", "projection", "projection_eps", "action_mlp", "beta", "A_init", "mode", "pool",
)  # fmt: skip


def resolve_settings(preset: str | None = None, **overrides: Any) -> dict[str, Any]:
    """:data:`~rpgssm_env.training.presets.DEFAULTS`, updated by the preset, updated by every
    override that is not ``None``."""
    settings = dict(DEFAULTS)
    if preset:
        settings.update(get_preset(preset))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown settings: {unknown}")
    return settings


def beta_schedule(settings: dict[str, Any]) -> float | Callable[[int], float]:
    """The trainer's chain-KL weight: ``settings["beta"]``, or a linear ramp to ``beta_final``."""
    if settings.get("beta_final") is None:
        return float(settings["beta"])
    first, last = (int(x) for x in settings["beta_ramp"])
    return linear_beta(settings["beta"], settings["beta_final"], first, last)


def _action_config(spec: Any) -> dict[str, Any]:
    """The :class:`RPGSSMConfig` action fields for a data set's spec (empty without actions)."""
    if not spec.has_actions:
        return {}
    if spec.discrete_actions:
        return {"action_kind": "discrete", "num_actions": int(spec.num_actions)}
    return {"action_kind": "continuous", "action_dim": int(np.prod(spec.action_shape))}


def build_model(source: EpisodeSource, settings: dict[str, Any]) -> RPGSSM:
    """An :class:`RPGSSM` for ``source``'s observations and actions, from ``settings``."""
    spec = source.spec
    kw = {k: settings[k] for k in _MODEL_KEYS}
    if settings.get("beta_final") is not None:
        kw["beta"] = settings["beta_final"]
    if kw["channels"] is None:
        kw.pop("channels")
        kw.pop("strides")
    kw.update(_action_config(spec))
    kw["extra"] = {
        "A_init_kind": settings["A_init_kind"],
        "A_rho": settings["A_rho"],
        "A_freqs": list(settings["A_freqs"]),
    }
    model = RPGSSM(RPGSSMConfig(obs_shape=tuple(spec.obs_shape), **kw))
    init_transition(model, settings["A_init_kind"], settings["A_rho"], tuple(settings["A_freqs"]))
    scale = float(settings["head_init_scale"])
    if scale != 1.0:
        with torch.no_grad():
            for net in model.recognition.networks:
                net.head.linear.weight.mul_(scale)
    return model


def init_model(path: str | os.PathLike, source: EpisodeSource) -> RPGSSM:
    """The model of checkpoint ``path`` (in training mode, on the CPU) to fine-tune on
    ``source``.

    Raises:
        ValueError: the data's observations or actions are not the model's.
    """
    model = RPGSSM.load(path, device="cpu").train()
    spec, config = source.spec, model.config
    if tuple(spec.obs_shape) != tuple(config.obs_shape):
        raise ValueError(
            f"init checkpoint {path} takes observations {tuple(config.obs_shape)}, the data "
            f"holds {tuple(spec.obs_shape)}"
        )
    data_actions = _action_config(spec)
    size = {"discrete": "num_actions", "continuous": "action_dim"}.get(config.action_kind)
    model_actions = {"action_kind": config.action_kind, size: getattr(config, size)} if size else {}
    if data_actions != model_actions:
        raise ValueError(
            f"init checkpoint {path} was trained with action inputs {model_actions or None}, the "
            f"data has {data_actions or None}"
        )
    return model


# -- evaluation --------------------------------------------------------------------------------
def _val_batches(
    held_out: EpisodeSource, batch_size: int, window: int, max_batches: int
) -> list[dict[str, Any]]:
    B = min(batch_size, int((held_out.lengths() >= window).sum()))
    if B < 2:
        return []
    batcher = WindowBatcher(held_out, B, window, seed=0, shuffle=False)
    out = []
    for batch in batcher:
        out.append(batch)
        if len(out) >= max_batches:
            break
    return out


@torch.no_grad()
def held_out_loss(model: RPGSSM, batches: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean free-energy terms over fixed held-out batches (posterior exact, no gradient)."""
    if not batches:
        return {}
    was = model.training
    model.eval()
    sums: dict[str, float] = {}
    try:
        for batch in batches:
            fe = model.loss(batch["obs"], batch.get("actions"), mode="em")
            for k, v in fe._asdict().items():
                sums[k] = sums.get(k, 0.0) + float(v)
    finally:
        model.train(was)
    return {k: v / len(batches) for k, v in sums.items()}


def probe_model(
    model: RPGSSM,
    train: EpisodeSource,
    held_out: EpisodeSource,
    angles: Sequence[int] = (),
    *,
    decoder: str = "linear",
    max_train_episodes: int | None = 200,
    batch_size: int = 50,
    return_predictions: bool = False,
    adapt: str | None = None,
) -> dict[str, Any]:
    """Held-out R^2 of a probe from posterior means to true states.

    Fits on (at most ``max_train_episodes``) training episodes, scores on held-out episodes, for
    smoothed and for filtered means. Angles are probed as sin and cos. ``adapt="standardize"``
    standardises the held-out means with their own statistics (see
    :func:`~rpgssm_env.training.probe.probe_r2`; not applied to ``return_predictions``).

    Returns:
        ``{"smoothed": {target: R^2}, "filtered": {...}, "targets": [...]}`` (+ with
        ``return_predictions``: ``"predictions"`` ``{"smoothed"|"filtered": (M, S') array}``,
        ``"truth"`` (M, S') and ``"lengths"`` of the held-out episodes).
    """
    if train.spec.state_dim is None or held_out.spec.state_dim is None:
        raise ValueError("probing needs true states in the data set (no 'states' array found)")
    if max_train_episodes is not None and len(train) > max_train_episodes:
        train = EpisodeSubset(train, np.arange(max_train_episodes))
    sm_tr, fi_tr, st_tr = encode_source(model, train, batch_size)
    sm_te, fi_te, st_te = encode_source(model, held_out, batch_size)
    names = train.spec.state_names
    y_tr, target_names = state_targets(st_tr, angles, names)
    y_te, _ = state_targets(st_te, angles, names)
    report: dict[str, Any] = {"targets": target_names}
    preds: dict[str, np.ndarray] = {}
    for kind, x_tr, x_te in (("smoothed", sm_tr, sm_te), ("filtered", fi_tr, fi_te)):
        report[kind] = probe_r2(x_tr, y_tr, x_te, y_te, decoder, names=target_names, adapt=adapt)
        if return_predictions:
            preds[kind] = _ridge_predict(x_tr, y_tr, x_te)
    if return_predictions:
        report["predictions"] = preds
        report["truth"] = y_te
        report["lengths"] = _grouped_lengths(held_out)
    return report


def _ridge_predict(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_tr)
    reg = Ridge(alpha=1e-6).fit(scaler.transform(x_tr), y_tr)
    return reg.predict(scaler.transform(x_te)).reshape(len(x_te), -1)


def _grouped_lengths(source: EpisodeSource) -> list[int]:
    """Episode lengths in the order :func:`encode_source` concatenates them (grouped by
    length, first-seen order)."""
    groups: dict[int, list[int]] = {}
    for length in source.lengths():
        groups.setdefault(int(length), []).append(int(length))
    return [n for g in groups.values() for n in g]


# -- paths -------------------------------------------------------------------------------------
def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """``{"final", "best", "summary", "plots", "tensorboard"}`` for checkpoint path ``out``."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix else out
    return {
        "final": out,
        "best": stem.with_name(stem.name + ".best.pt"),
        "summary": stem.with_name(stem.name + ".summary.json"),
        "plots": stem.with_name(stem.name + ".plots"),
        "tensorboard": stem.with_name(stem.name + ".tb"),
    }


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# -- the pipeline ------------------------------------------------------------------------------
def pretrain(
    data: str | os.PathLike | EpisodeSource,
    out: str | os.PathLike,
    *,
    preset: str | None = None,
    latent_dim: int | None = None,
    prior: str | None = None,
    head: str | None = None,
    mode: str | None = None,
    batch_size: int | None = None,
    window: int | None = None,
    lr: float | None = None,
    steps: int | None = None,
    val: float | str | os.PathLike | EpisodeSource | None = 0.2,
    minutes: float | None = None,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    log_dir: str | os.PathLike | None = None,
    probe_every: int = 250,
    probe_train_episodes: int | None = 200,
    val_batches: int = 4,
    resume: bool = False,
    plots: bool = True,
    progress: bool = True,
    checkpoint_every: int = 0,
    cache_gb: float = 2.0,
    init: str | os.PathLike | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train an RP-GSSM on a data set and evaluate it on held-out episodes.

    Args:
        data: a data set path (``.npz``, rpgssm HDF5, Minari) or an ``EpisodeSource``.
        out: final checkpoint file (``.pt``); the best checkpoint, summary and plots go beside
            it (see :func:`output_paths`).
        preset: a name from :mod:`rpgssm_env.training.presets` (e.g. ``"pendulum24"``).
        latent_dim: K. prior: ``"invariant"`` or ``"general"``. head: ``"diagonal"``,
            ``"full"`` or ``"constant"``. mode: ``"em"`` or ``"direct"``.
        batch_size: B sequences per batch. window: frames per training window (default the
            shortest episode). lr: base learning rate. steps: training steps.
            (``None``: the preset's value, else :data:`~rpgssm_env.training.presets.DEFAULTS`.)
        val: held-out fraction of ``data``'s episodes, or a held-out data set, or ``None``.
        minutes: wall-clock budget for training (evaluations included); ``None``: none.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the model, the batches and the split.
        threads: ``torch.set_num_threads`` (``None``: leave as is).
        log_dir: TensorBoard directory (``None``: none).
        probe_every: evaluate (held-out free energy, probe R^2, best checkpoint) every so many
            steps (0: only at the end).
        probe_train_episodes: training episodes the probe is fitted on during training (the
            final probe also uses at most this many; ``None``: all).
        val_batches: held-out batches for the held-out free energy.
        resume: continue from ``out`` when it exists (same settings expected).
        plots: write the PNG plots.
        progress: tqdm progress bar.
        checkpoint_every: also write ``out`` every so many steps (0: at evaluations and the end).
        cache_gb: keep up to this many GB of decoded episodes in memory after their first read
            (windows are then slices instead of decompressed HDF5 chunks); 0: read every window
            from the data set.
        init: fine-tune: start from this checkpoint's model (its configuration and weights;
            the model settings of ``preset`` and ``options`` are then unused, the training
            settings apply) instead of a new one.
        **options: any key of :data:`~rpgssm_env.training.presets.DEFAULTS` (``latent_dim``,
            ``prior``, ``head``, ``channels``, ``strides``, ``mode``, ``batch_size``,
            ``window``, ``lr``, ``lr_prior``, ``lr_recognition``, ``lr_actions``, ``steps``,
            ``decay``, ``decay_every``, ``A_init``, ``A_init_kind``, ``A_rho``, ``A_freqs``,
            ``angles``, ...); ``None`` values fall back to the preset, then the defaults.

    Returns:
        The summary dict (also written as JSON): ``steps``, ``wall_time_s``, ``steps_per_s``,
        ``final_loss`` (mean terms over the last 20 steps), ``held_out_loss``, ``r2`` (final
        model: ``{"smoothed"|"filtered": {target: R^2}}``), ``best`` (step, held-out loss and
        R^2 of the best checkpoint), ``settings``, ``paths``, ``history`` of evaluations.
    """
    from rpgssm_env.model.online import tune_malloc

    t_start = time.monotonic()
    if threads is not None:
        torch.set_num_threads(int(threads))
    tune_malloc()
    explicit = {
        "latent_dim": latent_dim, "prior": prior, "head": head, "mode": mode,
        "batch_size": batch_size, "window": window, "lr": lr, "steps": steps,
    }  # fmt: skip
    settings = resolve_settings(preset, **explicit, **options)
    augment = make_augment(settings["augment"])
    settings["augment"] = dataclasses.asdict(augment) if augment else None  # JSON summary
    paths = output_paths(out)
    source = _open(data)
    if cache_gb > 0:
        source = MemoryCachedEpisodes(source, max_bytes=int(cache_gb * 1e9))
    train, held_out = split_source(source, val, seed)
    has_states = train.spec.state_dim is not None and (
        held_out is None or held_out.spec.state_dim is not None
    )
    angles = settings["angles"]
    if angles is None:
        angles = _default_angles(train) if has_states else ()
    settings["angles"] = tuple(int(a) for a in angles)
    window = settings["window"] or int(train.lengths().min())
    settings["window"] = int(window)

    torch.manual_seed(seed)
    model = build_model(train, settings) if init is None else init_model(init, train)
    settings["init"] = None if init is None else str(init)
    trainer_kw = {
        k: settings[k]
        for k in ("lr", "lr_prior", "lr_recognition", "lr_actions", "decay", "grad_clip", "mode")
    }
    trainer = EMTrainer(
        model,
        train,
        steps=int(settings["steps"]),
        batch_size=int(settings["batch_size"]),
        window=window,
        windows_per_episode=int(settings["windows_per_episode"]),
        episode_groups=_batch_groups(train, settings["batch_groups"]),
        decay_every=settings["decay_every"] or None,
        beta=beta_schedule(settings),
        device=device,
        seed=seed,
        log_dir=log_dir,
        checkpoint_path=paths["final"],
        checkpoint_every=checkpoint_every,
        progress=progress,
        time_budget_min=minutes,
        augment=augment,
        projection_eps_schedule=settings["projection_eps_schedule"],
        **trainer_kw,
    )
    device_t = resolve_device(device)
    start_step = 0
    best: dict[str, Any] = {"step": None, "val_loss": math.inf}
    if resume and paths["final"].exists():
        start_step = trainer.resume(paths["final"])
        if paths["best"].exists():
            meta = read_checkpoint(paths["best"]).get("metadata", {})
            best = {"step": meta.get("step"), "val_loss": float(meta.get("val_loss", math.inf))}

    val_b = (
        _val_batches(held_out, int(settings["batch_size"]), window, val_batches)
        if (held_out is not None)
        else []
    )
    val_b = [
        {k: (v.to(device_t) if torch.is_tensor(v) else v) for k, v in b.items()} for b in val_b
    ]

    def evaluate(m: RPGSSM, step: int) -> dict[str, float]:
        values: dict[str, float] = {}
        vl = held_out_loss(m, val_b)
        if vl:
            values["val_loss"] = vl["loss"]
            if vl["loss"] < best["val_loss"]:
                best.update(step=step, val_loss=vl["loss"])
                save_checkpoint(
                    paths["best"], m, step=step, rng=False,
                    metadata={"step": step, "val_loss": vl["loss"], "source": "pretrain"},
                )  # fmt: skip
        if has_states and held_out is not None:
            rep = probe_model(m, train, held_out, settings["angles"],
                              max_train_episodes=probe_train_episodes)  # fmt: skip
            for kind in ("smoothed", "filtered"):
                for name, r2 in rep[kind].items():
                    values[f"r2_{kind}/{name}"] = r2
        if progress and values:
            shown = {k.replace("r2_", "").replace("smoothed", "s").replace("filtered", "f"): v
                     for k, v in values.items()}  # fmt: skip
            print(
                f"[step {step}] " + " ".join(f"{k}={v:.3f}" for k, v in shown.items()), flush=True
            )
        return values

    trainer.eval_fn = evaluate
    trainer.eval_every = int(probe_every) if probe_every else 0
    setup_s = time.monotonic() - t_start
    t_train = time.monotonic()
    try:
        warmup = int(settings["em_warmup"])
        if warmup and trainer.step < warmup and settings["mode"] == "direct":
            trainer.mode = "em"  # EM warm-up: cheap steps that learn the frame features
            trainer.fit(steps=min(warmup, trainer.steps))
            trainer.mode = "direct"
            if minutes is not None:
                trainer.time_budget_min = max(minutes - (time.monotonic() - t_train) / 60, 0.0)
        trainer.fit()
        if not trainer.history["eval"] or trainer.history["eval"][-1]["step"] != trainer.step:
            trainer.evaluate()
            trainer.save(paths["final"])
    finally:
        trainer.close()
    train_s = time.monotonic() - t_train
    history = trainer.history

    # -- final report ----------------------------------------------------------------------
    last = slice(-20, None)
    final_loss = {
        k: float(np.mean(history[k][last])) for k in ("loss", "log_gamma", "kl_qf", "kl_qp")
        if history[k]
    }  # fmt: skip
    summary: dict[str, Any] = {
        "data": str(data) if not isinstance(data, EpisodeSource) else type(data).__name__,
        "preset": preset,
        "steps": trainer.step,
        "steps_this_run": trainer.step - start_step,
        "wall_time_s": round(train_s, 2),
        "setup_time_s": round(setup_s, 2),
        "steps_per_s": round((trainer.step - start_step) / max(train_s, 1e-9), 3),
        "threads": torch.get_num_threads(),
        "device": str(device_t),
        "train_episodes": len(train),
        "held_out_episodes": 0 if held_out is None else len(held_out),
        "final_loss": final_loss,
        "held_out_loss": held_out_loss(model, val_b),
        "s_max_A": model.prior.spectral_norm(),
        "settings": settings,
        "paths": {k: str(v) for k, v in paths.items()},
        "evaluations": history["eval"],
        "skipped_steps": list(history["skipped"]),
    }
    report = None
    if has_states and held_out is not None:
        report = probe_model(
            model,
            train,
            held_out,
            settings["angles"],
            max_train_episodes=probe_train_episodes,
            return_predictions=True,
        )
        summary["r2"] = {"smoothed": report["smoothed"], "filtered": report["filtered"]}
        summary["targets"] = report["targets"]
    if best["step"] is not None and paths["best"].exists():
        summary["best"] = dict(best)
        if has_states and held_out is not None and best["step"] != trainer.step:
            best_model = RPGSSM.load(paths["best"], device=device_t)
            rep = probe_model(best_model, train, held_out, settings["angles"],
                              max_train_episodes=probe_train_episodes)  # fmt: skip
            summary["best"]["r2"] = {"smoothed": rep["smoothed"], "filtered": rep["filtered"]}
        elif "r2" in summary:
            summary["best"]["r2"] = summary["r2"]
    if plots:
        from rpgssm_env.training.plots import write_plots

        summary["plots"] = [str(p) for p in write_plots(paths["plots"], history, report)]
    summary = _jsonable(summary)
    paths["summary"].parent.mkdir(parents=True, exist_ok=True)
    tmp = paths["summary"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, paths["summary"])
    return summary
