"""Training the RP-GSSM by (generalised) EM or by direct gradients (spec section 3).

Each step reads one minibatch of windows, computes the free energy with
:meth:`RPGSSM.loss <rpgssm_env.model.rpgssm.RPGSSM.loss>` (``"em"``: the E-step posterior is exact
and computed without gradient, the M-step is one Adam step on the loss with the posterior held
fixed; ``"direct"``: gradients flow through the smoother), clips the gradient norm, steps the
optimiser and the learning-rate schedule, and projects A back to stability.

A guard skips any step whose batch, loss or gradients hold NaN/inf, keeps (or restores) the last
good parameters and warns. Runs are repeatable on CPU given the seed, and a checkpoint written by
:meth:`EMTrainer.save` resumes the same run (same batches, same losses).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rpgssm_env.data.base import EpisodeSource
from rpgssm_env.data.windows import ShiftingBins, WindowBatcher
from rpgssm_env.model.rpgssm import RPGSSM, resolve_device
from rpgssm_env.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

__all__ = ["EMTrainer", "NonFiniteStepWarning", "linear_beta"]

Batch = dict[str, Any]
EvalFn = Callable[[RPGSSM, int], dict[str, float]]


class NonFiniteStepWarning(RuntimeWarning):
    """A training step was skipped because its batch, loss or gradients were not finite."""


def linear_beta(start: float, end: float, first: int, last: int) -> Callable[[int], float]:
    """A chain-KL weight schedule: ``start`` until step ``first``, then linear to ``end`` at step
    ``last``, then ``end``. Picklable (a ``functools.partial``)."""
    if last < first:
        raise ValueError(f"linear_beta needs first <= last, got {first} > {last}")
    return partial(_linear, float(start), float(end), int(first), int(last))


def _linear(start: float, end: float, first: int, last: int, step: int) -> float:
    if step <= first:
        return start
    if step >= last:
        return end
    return start + (end - start) * (step - first) / (last - first)


def _check_eps_schedule(
    schedule: Sequence[tuple[int, float]] | None,
) -> list[tuple[int, float]]:
    """``[(step, eps), ...]`` sorted by step, validated."""
    out: list[tuple[int, float]] = []
    for entry in schedule or ():
        try:
            step, eps = entry
        except (TypeError, ValueError):
            raise ValueError(
                f"projection_eps_schedule entries must be (step, eps) pairs, got {entry!r}"
            ) from None
        if int(step) < 0 or not 0.0 < float(eps) < 1.0:
            raise ValueError(
                f"projection_eps_schedule needs step >= 0 and 0 < eps < 1, got {entry!r}"
            )
        out.append((int(step), float(eps)))
    return sorted(out)


class EMTrainer:
    """Adam on the RP-GSSM free energy with a step-decay schedule, A projection and a NaN guard.

    Args:
        model: the model (moved to ``device``).
        data: an :class:`~rpgssm_env.data.base.EpisodeSource` (windows are drawn by a
            :class:`~rpgssm_env.data.windows.WindowBatcher` of ``batch_size`` x ``window``), a
            ``WindowBatcher``, or any iterable of batch dicts (``obs``, optional ``actions``,
            ``mask``) that the trainer cycles through.
        lr: base learning rate (the paper: 1e-3 for the pendulum, 1e-4 for the walker).
        lr_prior, lr_recognition, lr_actions: per-group learning rates (default ``lr``).
        decay: multiply the learning rates by ``decay`` every ``decay_every`` steps (0.2, 5000).
        decay_every: see ``decay``; ``0`` or ``None`` disables the schedule.
        steps: total number of steps :meth:`fit` runs to.
        batch_size: B (only when ``data`` is an episode source).
        window: frames per window (only for an episode source; default its shortest episode).
        windows_per_episode: non-overlapping windows of one episode per batch (episode source
            only; see :class:`~rpgssm_env.data.windows.WindowBatcher`).
        episode_groups: (N,) integer group per episode, or
            :class:`~rpgssm_env.data.windows.ShiftingBins`: a batch holds windows of one group
            only (episode source only; see
            :func:`~rpgssm_env.data.windows.start_state_groups`).
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        mode: ``"em"`` or ``"direct"`` (default ``model.config.mode``).
        beta: weight of the chain KL (default ``model.config.beta``), or a schedule: a callable
            ``step -> beta`` (e.g. :func:`linear_beta`).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ...
        seed: seeds torch and the batcher (repeatable CPU runs).
        log_dir: TensorBoard scalars go there (``None``: no TensorBoard).
        eval_every: call ``eval_fn(model, step)`` every so many steps (0: never).
        eval_fn: evaluation hook returning a dict of floats (logged and kept in the history).
        checkpoint_every: write ``checkpoint_path`` every so many steps (0: only at the end when
            a path is given).
        checkpoint_path: the checkpoint file.
        progress: show a tqdm progress bar with the loss terms.
        time_budget_min: stop :meth:`fit` after this many minutes of wall-clock time.
        max_bad_steps: raise after this many consecutive skipped steps.
        augment: applied to every training batch's frames ``(B, T, H, W, C)`` (never to
            vectors, never in evaluation), e.g.
            :class:`~rpgssm_env.training.augment.IntensityJitter`; ``None``: off.
        projection_eps_schedule: ``[(step, eps), ...]``: from training step ``step`` on, keep
            ``s_max(A) <= 1 - eps`` (before the first entry: the model's own
            ``projection_eps``). The change keeps ``A`` (see
            :meth:`~rpgssm_env.model.rpgssm.RPGSSM.set_projection_eps_`), and checkpoints
            record the cap in force, so a resumed run continues on the schedule.
    """

    def __init__(
        self,
        model: RPGSSM,
        data: EpisodeSource | WindowBatcher | Iterable[Batch],
        *,
        lr: float = 1e-3,
        lr_prior: float | None = None,
        lr_recognition: float | None = None,
        lr_actions: float | None = None,
        decay: float = 0.2,
        decay_every: int | None = 5000,
        steps: int = 10_000,
        batch_size: int = 32,
        window: int | None = None,
        windows_per_episode: int = 1,
        episode_groups: np.ndarray | ShiftingBins | None = None,
        grad_clip: float | None = 10.0,
        mode: str | None = None,
        beta: float | Callable[[int], float] | None = None,
        device: str | torch.device = "auto",
        seed: int = 0,
        log_dir: str | os.PathLike | None = None,
        eval_every: int = 0,
        eval_fn: EvalFn | None = None,
        checkpoint_every: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        progress: bool = True,
        time_budget_min: float | None = None,
        max_bad_steps: int = 50,
        augment: Callable[[Tensor], Tensor] | None = None,
        projection_eps_schedule: Sequence[tuple[int, float]] | None = None,
    ) -> None:
        mode = mode or model.config.mode
        if mode not in ("em", "direct"):
            raise ValueError(f"mode must be 'em' or 'direct', got {mode!r}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if checkpoint_every and checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path")
        if eval_every and eval_fn is None:
            raise ValueError("eval_every needs an eval_fn")
        torch.manual_seed(seed)
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.mode = mode
        self.beta = beta
        self.steps = int(steps)
        self.grad_clip = grad_clip
        self.seed = seed
        self.eval_every = int(eval_every)
        self.eval_fn = eval_fn
        self.checkpoint_every = int(checkpoint_every)
        self.checkpoint_path = checkpoint_path
        self.progress = progress
        self.time_budget_min = time_budget_min
        self.max_bad_steps = max_bad_steps
        self.augment = augment
        self.log_dir = log_dir
        self._eps_schedule = _check_eps_schedule(projection_eps_schedule)
        self._eps_start = float(model.config.projection_eps)
        if isinstance(data, EpisodeSource):
            if window is None:
                window = int(data.lengths().min())
            data = WindowBatcher(
                data,
                batch_size,
                window,
                seed=seed,
                windows_per_episode=windows_per_episode,
                episode_groups=episode_groups,
            )
        self.data = data
        self._iterator: Iterator[Batch] | None = None

        groups = model.parameter_groups()
        rates = {
            "prior": lr if lr_prior is None else lr_prior,
            "recognition": lr if lr_recognition is None else lr_recognition,
            "actions": lr if lr_actions is None else lr_actions,
        }
        param_groups = [
            {"params": params, "lr": rates[name], "name": name}
            for name, params in groups.items()
            if params
        ]
        self.optimizer = torch.optim.Adam(param_groups)
        self.scheduler = (
            torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=decay_every, gamma=decay)
            if decay_every
            else None
        )
        self.step = 0
        self.history: dict[str, list] = {
            "step": [],
            "loss": [],
            "log_gamma": [],
            "kl_qf": [],
            "kl_qp": [],
            "grad_norm": [],
            "lr": [],
            "s_max": [],
            "skipped": [],
            "eval": [],
        }
        self._bad_streak = 0
        self._good_params = self._snapshot()
        self._writer: Any = None

    # -- data ------------------------------------------------------------------------------
    def _batches(self) -> Iterator[Batch]:
        if isinstance(self.data, WindowBatcher):
            return self.data.infinite()

        def cycle() -> Iterator[Batch]:
            while True:
                empty = True
                for batch in self.data:
                    empty = False
                    yield batch
                if empty:
                    raise ValueError("the data iterable yielded no batch")

        return cycle()

    def next_batch(self) -> Batch:
        """The next training batch (epochs roll over forever)."""
        if self._iterator is None:
            self._iterator = self._batches()
        return next(self._iterator)

    def current_beta(self) -> float | None:
        """The chain-KL weight of the next step (``None``: the model's ``config.beta``)."""
        return self.beta(self.step) if callable(self.beta) else self.beta

    # -- guard -----------------------------------------------------------------------------
    def _params(self) -> list[torch.nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _snapshot(self) -> list[Tensor]:
        return [p.detach().clone() for p in self.model.parameters()]

    def _restore(self) -> None:
        with torch.no_grad():
            for p, good in zip(self.model.parameters(), self._good_params):
                p.copy_(good)

    def _skip(self, reason: str) -> None:
        """Drop this step's gradients, put back the last good parameters, warn."""
        self.optimizer.zero_grad(set_to_none=True)
        self._restore()
        self.history["skipped"].append(self.step)
        self._bad_streak += 1
        warnings.warn(
            f"step {self.step}: {reason}; step skipped, last good parameters kept",
            NonFiniteStepWarning,
            stacklevel=3,
        )
        if self._bad_streak >= self.max_bad_steps:
            raise RuntimeError(
                f"{self._bad_streak} consecutive training steps were non-finite; stopping"
            )

    @staticmethod
    def _batch_finite(batch: Batch) -> bool:
        for key in ("obs", "actions"):
            value = batch.get(key)
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if isinstance(v, Tensor) and v.is_floating_point() and not torch.isfinite(v).all():
                    return False
        return True

    def _augmented(self, obs: Tensor | list[Tensor]) -> Tensor | list[Tensor]:
        """``obs`` with :attr:`augment` applied to every frame modality (B, T, H, W, C)."""
        if self.augment is None:
            return obs
        if isinstance(obs, (list, tuple)):
            return [self.augment(o) if o.ndim == 5 else o for o in obs]
        return self.augment(obs) if obs.ndim == 5 else obs

    # -- one step --------------------------------------------------------------------------
    def scheduled_projection_eps(self, step: int | None = None) -> float:
        """The ``projection_eps`` the schedule sets at ``step`` (default: the current step)."""
        step = self.step if step is None else int(step)
        eps = self._eps_start
        for first, value in self._eps_schedule:
            if step >= first:
                eps = value
        return eps

    def _apply_eps_schedule(self) -> None:
        if not self._eps_schedule:  # no schedule: never touch the model's own cap
            return
        eps = self.scheduled_projection_eps()
        if eps != self.model.config.projection_eps:
            self.model.set_projection_eps_(eps)
            self._good_params = self._snapshot()  # a skipped step restores the new logits

    def train_step(self, batch: Batch) -> dict[str, float] | None:
        """One optimiser step on ``batch``; returns the loss terms, or ``None`` when skipped."""
        self.model.train()
        self._apply_eps_schedule()
        if not self._batch_finite(batch):
            self._skip("the batch holds NaN/inf values")
            return None
        self.optimizer.zero_grad(set_to_none=True)
        try:
            fe = self.model.loss(
                self._augmented(batch["obs"]),
                batch.get("actions"),
                batch.get("mask"),
                mode=self.mode,
                beta=self.current_beta(),
            )
            if not torch.isfinite(fe.loss):
                self._skip(f"the loss is {float(fe.loss.detach())}")
                return None
            fe.loss.backward()
        except torch.linalg.LinAlgError as exc:  # a Cholesky factorisation met NaN/indefinite
            self._skip(f"a numerical failure ({exc.__class__.__name__}: {exc})")
            return None
        params = [p for p in self._params() if p.grad is not None]
        max_norm = self.grad_clip if self.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if not torch.isfinite(grad_norm):
            self._skip("the gradients are not finite")
            return None
        self.optimizer.step()
        self.model.project_()
        if not all(torch.isfinite(p).all() for p in params):
            self.optimizer.state.clear()
            self._skip("the parameters became non-finite (optimiser state reset)")
            return None
        self._bad_streak = 0
        self._good_params = self._snapshot()
        return {
            "loss": float(fe.loss.detach()),
            "log_gamma": float(fe.log_gamma.detach()),
            "kl_qf": float(fe.kl_qf.detach()),
            "kl_qp": float(fe.kl_qp.detach()),
            "grad_norm": float(grad_norm),
        }

    # -- loop ------------------------------------------------------------------------------
    def fit(self, steps: int | None = None) -> dict[str, list]:
        """Train until ``steps`` (default the constructor's ``steps``) or the time budget.

        Returns:
            The history: lists ``step``, ``loss``, ``log_gamma``, ``kl_qf``, ``kl_qp``,
            ``grad_norm``, ``lr``, ``s_max`` (one entry per completed step), ``skipped`` (steps
            skipped by the guard) and ``eval`` (dicts with ``step`` and the hook's values).
        """
        from tqdm.auto import tqdm

        target = self.steps if steps is None else int(steps)
        start_time = time.monotonic()
        budget_s = None if self.time_budget_min is None else 60.0 * self.time_budget_min
        if self.log_dir is not None and self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(os.fspath(self.log_dir))
        bar = tqdm(
            total=target, initial=self.step, disable=not self.progress, desc="rpgssm", leave=False
        )
        try:
            while self.step < target:
                if budget_s is not None and time.monotonic() - start_time > budget_s:
                    break
                batch = self.next_batch()
                t0 = time.perf_counter()
                terms = self.train_step(batch)
                elapsed = time.perf_counter() - t0
                if self.scheduler is not None:
                    self.scheduler.step()
                self.step += 1
                bar.update(1)
                if terms is not None:
                    self._record(terms, elapsed)
                    if self.step % 10 == 0 or self.step == target:
                        bar.set_postfix(
                            loss=f"{terms['loss']:.3f}",
                            lg=f"{terms['log_gamma']:.3f}",
                            qf=f"{terms['kl_qf']:.3f}",
                            qp=f"{terms['kl_qp']:.3f}",
                        )
                if self.eval_every and self.step % self.eval_every == 0:
                    self.evaluate()
                if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save(self.checkpoint_path)
        finally:
            bar.close()
            if self._writer is not None:
                self._writer.flush()
        if self.checkpoint_path is not None:
            self.save(self.checkpoint_path)
        return self.history

    def _record(self, terms: dict[str, float], elapsed: float) -> None:
        lr = self.optimizer.param_groups[0]["lr"]
        s_max = self.model.prior.spectral_norm()
        self.history["step"].append(self.step)
        for key, value in terms.items():
            self.history[key].append(value)
        self.history["lr"].append(lr)
        self.history["s_max"].append(s_max)
        if self._writer is not None:
            for key, value in terms.items():
                self._writer.add_scalar(f"train/{key}", value, self.step)
            self._writer.add_scalar("train/lr", lr, self.step)
            self._writer.add_scalar("train/s_max_A", s_max, self.step)
            if callable(self.beta):
                self._writer.add_scalar("train/beta", self.current_beta(), self.step)
            self._writer.add_scalar("train/step_time_s", elapsed, self.step)

    def evaluate(self) -> dict[str, float]:
        """Run the evaluation hook now (in eval mode) and log its values."""
        if self.eval_fn is None:
            return {}
        self.model.eval()
        try:
            values = dict(self.eval_fn(self.model, self.step))
        finally:
            self.model.train()
        self.history["eval"].append({"step": self.step, **values})
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"eval/{key}", float(value), self.step)
        return values

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- checkpoints -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write a checkpoint that :meth:`resume` continues exactly."""
        path = path if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path given")
        extra: dict[str, Any] = {"history": self.history, "mode": self.mode}
        if isinstance(self.data, WindowBatcher):
            extra["batcher"] = self.data.state_dict()
        save_checkpoint(
            path,
            self.model,
            self.optimizer,
            self.scheduler,
            self.step,
            extra=extra,
            metadata={"seed": self.seed, "steps": self.steps},
        )

    def resume(self, path: str | os.PathLike | None = None) -> int:
        """Load a checkpoint written by :meth:`save` (model, optimiser, schedule, step, RNG
        states, batcher position, history); returns the step reached.

        Raises:
            rpgssm_env.training.checkpoint.CheckpointError: unreadable file or another model
                configuration.
        """
        path = path if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path given")
        if self._eps_schedule:  # the checkpoint's parameters belong to the cap then in force
            saved = read_checkpoint(path)["config"].get("projection_eps")
            if saved is not None:
                self.model.set_projection_eps_(float(saved), keep_A=False)
        ckpt = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.step = int(ckpt["step"])
        extra = ckpt.get("extra", {})
        if "history" in extra:
            self.history = {k: list(v) for k, v in extra["history"].items()}
        if isinstance(self.data, WindowBatcher) and "batcher" in extra:
            self.data.load_state_dict(extra["batcher"])
        self._iterator = None
        self._good_params = self._snapshot()
        self._bad_streak = 0
        return self.step
