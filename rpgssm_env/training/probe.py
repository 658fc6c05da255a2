"""Probes: how much of the true state the learned latents hold (held-out R^2).

Decoders are fitted from posterior means to true states on the *training* sequences and scored
on *held-out* sequences (the paper's code scored in-sample on training minibatches; we do not).
Smoothed means (the model's training target) and filtered means (what an online wrapper reports)
are probed separately.

Decoders (scikit-learn): ``"linear"`` (ridge regression on standardised latents) and ``"kernel"``
(RBF kernel ridge on standardised latents, fitted on a random subset of at most
``max_kernel_samples`` training points: kernel ridge costs O(n^3)).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> z = rng.normal(size=(500, 2)); y = z @ np.array([[1.0], [2.0]])
>>> round(probe_r2(z[:400], y[:400], z[400:], y[400:])["y0"], 3)
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rpgssm_env.data.base import EpisodeSource

__all__ = [
    "angle_to_sincos",
    "encode",
    "encode_source",
    "evaluate_probe",
    "probe_r2",
]


def angle_to_sincos(
    states: np.ndarray,
    angle_index: int = 0,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Replace an angle column of ``states`` (..., S) by its sine and cosine.

    Args:
        states: (..., S) array; column ``angle_index`` is an angle in radians.
        angle_index: which column is the angle.
        names: names of the S columns (default ``s0..``).

    Returns:
        ``(targets (..., S+1), names)``: ``sin``, ``cos`` of the angle in place of it, e.g.
        ``(theta, omega) -> (sin theta, cos theta, omega)``.
    """
    states = np.asarray(states)
    S = states.shape[-1]
    names = list(names) if names is not None else [f"s{i}" for i in range(S)]
    if len(names) != S:
        raise ValueError(f"names must name {S} columns, got {len(names)}")
    theta = states[..., angle_index]
    cols = [states[..., i] for i in range(S)]
    cols[angle_index : angle_index + 1] = [np.sin(theta), np.cos(theta)]
    base = names[angle_index]
    new_names = [*names[:angle_index], f"sin_{base}", f"cos_{base}", *names[angle_index + 1 :]]
    return np.stack(cols, -1), new_names


def encode(
    model: Any,
    obs: np.ndarray | torch.Tensor | list,
    actions: np.ndarray | torch.Tensor | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means of whole sequences.

    Args:
        model: an :class:`~rpgssm_env.model.rpgssm.RPGSSM`.
        obs: (N, T, ...) observations, or a list of J such arrays (several modalities).
        actions: (N, T-1, ...) actions, or ``None``.
        batch_size: sequences per forward pass.

    Returns:
        ``(smoothed, filtered)`` means, (N, T, K) float64 arrays each.
    """
    was_training = model.training
    model.eval()
    smoothed, filtered = [], []
    multi = isinstance(obs, (list, tuple))
    n = len(obs[0]) if multi else len(obs)
    try:
        for i in range(0, n, batch_size):
            a = None if actions is None else actions[i : i + batch_size]
            o = [x[i : i + batch_size] for x in obs] if multi else obs[i : i + batch_size]
            post = model.posterior(o, a)
            smoothed.append(post.means.double().cpu().numpy())
            filtered.append(post.filtered_means.double().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(smoothed), np.concatenate(filtered)


def encode_source(
    model: Any, source: EpisodeSource, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior means and true states of every episode of a source (episode by episode when
    lengths differ).

    Returns:
        ``(smoothed (M, K), filtered (M, K), states (M, S))`` over all M frames.
    """
    if source.spec.state_dim is None:
        raise ValueError("the source holds no true states to probe against")
    lengths = source.lengths()
    groups: dict[int, list[int]] = {}
    for i, length in enumerate(lengths):
        groups.setdefault(int(length), []).append(i)
    sm, fi, st = [], [], []
    for idx in groups.values():
        for k in range(0, len(idx), batch_size):
            segs = [source.read(i) for i in idx[k : k + batch_size]]
            obs = np.stack([s.obs for s in segs])
            acts = None if segs[0].actions is None else np.stack([s.actions for s in segs])
            s, f = encode(model, obs, acts, batch_size)
            sm.append(s.reshape(-1, s.shape[-1]))
            fi.append(f.reshape(-1, f.shape[-1]))
            st.append(np.stack([seg.states for seg in segs]).reshape(-1, segs[0].states.shape[-1]))
    return np.concatenate(sm), np.concatenate(fi), np.concatenate(st)


def probe_r2(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    decoder: str = "linear",
    *,
    names: Sequence[str] | None = None,
    alpha: float | None = None,
    max_kernel_samples: int = 2000,
    seed: int = 0,
    adapt: str | None = None,
) -> dict[str, float]:
    """Fit a decoder on ``(train_x, train_y)``, return held-out R^2 per target column.

    Args:
        train_x: (N, K) features (e.g. posterior means), test_x: (M, K).
        train_y: (N, S) or (N,) targets, test_y: (M, S) or (M,).
        decoder: ``"linear"`` (ridge) or ``"kernel"`` (RBF kernel ridge).
        names: names of the S targets (default ``y0..``).
        alpha: ridge penalty (default 1e-6 linear, 1e-2 kernel).
        max_kernel_samples: training points for kernel ridge (random subset).
        seed: for that subset.
        adapt: ``None``: test features are standardised with the training statistics (the
            plain probe); ``"standardize"``: with their OWN per-feature mean and standard
            deviation (unsupervised test-time adaptation: it uses ``test_x`` but never
            ``test_y``, like ``VecNormalize`` statistics that keep updating in a new
            environment; it undoes a shift and per-dimension scaling of the latents, e.g. under
            a background never seen in training).

    Returns:
        ``{name: R^2}`` on the test set.
    """
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.preprocessing import StandardScaler

    train_x = np.asarray(train_x, dtype=np.float64).reshape(len(train_x), -1)
    test_x = np.asarray(test_x, dtype=np.float64).reshape(len(test_x), -1)
    train_y = np.asarray(train_y, dtype=np.float64).reshape(len(train_y), -1)
    test_y = np.asarray(test_y, dtype=np.float64).reshape(len(test_y), -1)
    S = train_y.shape[1]
    names = list(names) if names is not None else [f"y{i}" for i in range(S)]
    if len(names) != S:
        raise ValueError(f"names must name {S} targets, got {len(names)}")
    if adapt not in (None, "standardize"):
        raise ValueError(f"adapt must be None or 'standardize', got {adapt!r}")
    scaler = StandardScaler().fit(train_x)
    xtr = scaler.transform(train_x)
    xte = (StandardScaler().fit(test_x) if adapt else scaler).transform(test_x)
    if decoder == "linear":
        reg = Ridge(alpha=1e-6 if alpha is None else alpha).fit(xtr, train_y)
    elif decoder == "kernel":
        if len(xtr) > max_kernel_samples:
            pick = np.random.default_rng(seed).choice(len(xtr), max_kernel_samples, replace=False)
            xtr, train_y = xtr[pick], train_y[pick]
        reg = KernelRidge(
            alpha=1e-2 if alpha is None else alpha, kernel="rbf", gamma=1.0 / xtr.shape[1]
        ).fit(xtr, train_y)
    else:
        raise ValueError(f"decoder must be 'linear' or 'kernel', got {decoder!r}")
    pred = reg.predict(xte).reshape(len(xte), -1)
    scores = r2_score(test_y, pred, multioutput="raw_values")
    return {n: float(s) for n, s in zip(names, scores)}


def evaluate_probe(
    model: Any,
    train: EpisodeSource,
    test: EpisodeSource,
    *,
    decoders: Sequence[str] = ("linear", "kernel"),
    targets: Callable[[np.ndarray], tuple[np.ndarray, list[str]]] | None = None,
    batch_size: int = 64,
    max_kernel_samples: int = 2000,
) -> dict[str, dict[str, dict[str, float]]]:
    """Held-out R^2 of decoders from posterior means to true states.

    Args:
        model: an :class:`~rpgssm_env.model.rpgssm.RPGSSM`.
        train: episodes to fit the decoders on (with ``states``).
        test: held-out episodes to score on.
        decoders: any of ``"linear"``, ``"kernel"``.
        targets: maps states (M, S) to ``(targets (M, S'), names)``, e.g.
            ``lambda s: angle_to_sincos(s, 0, ("theta", "omega"))``; default the states with
            the source's ``state_names``.
        batch_size: sequences per forward pass.
        max_kernel_samples: training points for kernel ridge.

    Returns:
        ``{"smoothed" | "filtered": {decoder: {target: R^2}}}``.
    """
    sm_tr, fi_tr, st_tr = encode_source(model, train, batch_size)
    sm_te, fi_te, st_te = encode_source(model, test, batch_size)
    if targets is None:
        names = list(train.spec.state_names or [f"s{i}" for i in range(st_tr.shape[1])])
        y_tr, y_te = st_tr, st_te
    else:
        y_tr, names = targets(st_tr)
        y_te, _ = targets(st_te)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for kind, x_tr, x_te in (("smoothed", sm_tr, sm_te), ("filtered", fi_tr, fi_te)):
        report[kind] = {
            dec: probe_r2(
                x_tr, y_tr, x_te, y_te, dec, names=names, max_kernel_samples=max_kernel_samples
            )
            for dec in decoders
        }
    return report
