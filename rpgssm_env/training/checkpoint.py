"""Checkpoints: one file holding everything needed to rebuild a model and resume its training.

Contents (a dict written with ``torch.save``): ``format`` and ``version`` tags, the model's
``config`` (:meth:`RPGSSMConfig.to_dict`), ``model`` weights, and optionally ``optimizer`` and
``scheduler`` state, ``step``, ``rng`` (Python, NumPy, torch CPU and CUDA generator states),
``extra`` trainer state (e.g. the batcher's position) and free-form ``metadata``.

Files are written atomically: to a temporary file in the same directory, flushed and fsync'ed,
then moved over the target with ``os.replace``. A crash mid-write leaves the previous checkpoint
intact. Files are read with ``torch.load(weights_only=True)`` (no arbitrary code on load).

Every failure to read or apply a checkpoint raises :class:`CheckpointError` (a ``ValueError``)
that says what is wrong: not a checkpoint, truncated or corrupted, or made for a model of another
configuration (naming the differing configuration keys).
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from rpgssm_env.model.rpgssm import RPGSSM

__all__ = [
    "CheckpointError",
    "capture_rng_state",
    "load_checkpoint",
    "read_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

FORMAT = "rpgssm-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model it is loaded into."""


# -- RNG state ---------------------------------------------------------------------------------
def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (global) and torch (CPU, CUDA) generator states, in loadable types."""
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002 - the global state
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"]).astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002 - the global state
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- writing -----------------------------------------------------------------------------------
def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def save_checkpoint(
    path: str | os.PathLike,
    model: RPGSSM,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    step: int = 0,
    *,
    rng: bool = True,
    extra: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: target file (its directory is created).
        model: the :class:`~rpgssm_env.model.rpgssm.RPGSSM` (its ``config`` is stored).
        optimizer: optimiser whose state to store.
        scheduler: learning-rate scheduler whose state to store.
        step: training step count.
        rng: store the global generator states (for exact resumption).
        extra: more trainer state (plain types and tensors).
        metadata: free-form information (plain types and tensors).

    Returns:
        The path written.
    """
    path = Path(path)
    obj: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "step": int(step),
        "metadata": dict(metadata or {}),
    }
    if optimizer is not None:
        obj["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        obj["scheduler"] = scheduler.state_dict()
    if rng:
        obj["rng"] = capture_rng_state()
    if extra:
        obj["extra"] = extra
    _atomic_torch_save(obj, path)
    return path


# -- reading -----------------------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint file.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a checkpoint of this library, or truncated/corrupted.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types on truncated or foreign files
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is truncated, corrupted or not a "
            f"checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rpgssm-env checkpoint (no {FORMAT!r} tag)")
    if int(obj.get("version", -1)) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {obj.get('version')}, newer than this "
            f"library's {VERSION}"
        )
    for key in ("config", "model", "step"):
        if key not in obj:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    return obj


def _config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [
        f"{k} (checkpoint {saved.get(k, '<missing>')!r}, model {current.get(k, '<missing>')!r})"
        for k in keys
        if saved.get(k, "<missing>") != current.get(k, "<missing>")
    ]


def load_checkpoint(
    path: str | os.PathLike,
    model: RPGSSM,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    restore_rng: bool = True,
    check_config: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint into an existing model (and optimiser, scheduler).

    Args:
        path: the file.
        model: a model built with the same configuration.
        optimizer, scheduler: restored when given and stored in the file.
        restore_rng: restore the global generator states stored in the file.
        check_config: refuse a checkpoint whose configuration differs from ``model.config``.

    Returns:
        The checkpoint dict (``step``, ``metadata``, ``extra``, ...).

    Raises:
        CheckpointError: unreadable file, configuration mismatch (naming the differing keys),
            or weights that do not fit.
    """
    ckpt = read_checkpoint(path, map_location=model.device)
    if check_config:
        diffs = _config_differences(ckpt["config"], model.config.to_dict())
        if diffs:
            raise CheckpointError(
                f"checkpoint {path} was made for a model of another configuration; differing "
                f"keys: {'; '.join(diffs)}"
            )
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit the model: {exc}") from exc
    if optimizer is not None:
        if "optimizer" not in ckpt:
            raise CheckpointError(f"checkpoint {path} holds no optimiser state")
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"optimiser state in {path} does not fit: {exc}") from exc
    if scheduler is not None and "scheduler" in ckpt:
        scheduler.load_state_dict(ckpt["scheduler"])
    if restore_rng and "rng" in ckpt:
        restore_rng_state(ckpt["rng"])
    return ckpt
