"""Online EM fine-tuning of the RP-GSSM from the agent's own rollouts.

While a :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` has ``training=True`` it hands every
frame, action and episode start to its recorder (per-env ring buffers). :class:`OnlineEM` turns
those streams into training windows and runs a *bounded* number of EM steps:

1. each env's stream is cut at its episode starts into episodes (fragments at the ends of the
   ring buffer included); ``actions[k]`` of a stream is the action that led to frame ``k``, so an
   episode ``[s, e)`` has the actions ``[s+1, e)`` (``actions[i]`` drives ``z[i] -> z[i+1]``);
2. a :class:`~rpgssm_env.data.windows.WindowBatcher` over those episodes draws batches of
   non-overlapping windows **never two from one episode in one batch** (a duplicate would be a
   false negative in the contrastive softmax), with ``B = min(batch_size, episodes)``;
3. a persistent :class:`~rpgssm_env.training.trainer.EMTrainer` on a *copy* of the filter's model
   (its Adam state lives across calls; NaN guard, gradient clipping and the A projection
   included) takes at most ``steps_per_update`` steps and at most ``max_seconds`` seconds;
4. the copy's weights go into the live filter in place (``filter.load_state_dict``): the next
   env step uses them; every filter that shares the model object (eval envs) sees them too.

Stale latents: an off-policy agent's replay buffer keeps beliefs computed with older weights.
A small learning rate (default 1e-4) keeps the drift per update small.

When ``training=False`` the wrapper records nothing and :class:`OnlineEMCallback` does nothing:
the filter stays frozen.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvWrapper

from rpgssm_env.data.base import DataSpec, EpisodeSource, Segment

__all__ = ["OnlineEM", "OnlineEMCallback", "RecordedEpisodes", "find_latent_wrapper"]

Targets = Callable[[np.ndarray], tuple[np.ndarray, list[str]]]


def find_latent_wrapper(venv: VecEnv) -> Any:
    """The :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` in a ``VecEnv`` stack.

    Raises:
        ValueError: there is none.
    """
    from rpgssm_env.wrappers.sb3 import VecLatentObservation

    env: Any = venv
    while True:
        if isinstance(env, VecLatentObservation):
            return env
        if not isinstance(env, VecEnvWrapper):
            break
        env = env.venv
    raise ValueError(f"no VecLatentObservation in the env stack of {type(venv).__name__}")


class RecordedEpisodes(EpisodeSource):
    """The episodes held by a recorder, as an in-memory :class:`EpisodeSource`.

    Args:
        recorder: a :class:`~rpgssm_env.model.online.RolloutRecorder` (or
            :class:`~rpgssm_env.agents.envs.StateRolloutRecorder`, whose states are kept).
        min_length: drop episodes shorter than this (e.g. the window length).
        max_frames: keep at most the newest ``max_frames`` frames per env.
    """

    def __init__(self, recorder: Any, min_length: int = 2, max_frames: int | None = None) -> None:
        self.episodes: list[dict[str, Any]] = []
        get_states = getattr(recorder, "states", None)
        for i in sorted(recorder._streams):
            frames, actions, firsts = recorder.stream(i)
            states = get_states(i) if get_states is not None else None
            if max_frames is not None and len(frames) > max_frames:
                cut = len(frames) - int(max_frames)
                frames, actions, firsts = frames[cut:], actions[cut:], firsts[cut:]
                states = None if states is None else states[cut:]
            starts = [0, *np.flatnonzero(firsts[1:]) + 1, len(frames)]
            for s, e in itertools.pairwise(starts):
                if e - s < max(2, int(min_length)):
                    continue
                self.episodes.append(
                    {
                        "obs": frames[s:e],
                        "actions": actions[s + 1 : e],
                        "states": None if states is None else states[s:e],
                        "env": i,
                    }
                )
        obs_shape: tuple[int, ...] = ()
        action_shape: tuple[int, ...] | None = None
        action_dtype = None
        state_dim = None
        if self.episodes:
            ep = self.episodes[0]
            obs_shape = tuple(ep["obs"].shape[1:])
            action_shape = tuple(ep["actions"].shape[1:])
            action_dtype = ep["actions"].dtype
            if all(e["states"] is not None for e in self.episodes):
                state_dim = int(ep["states"].shape[-1])
            else:
                for e in self.episodes:
                    e["states"] = None
        self.spec = DataSpec(
            obs_shape=obs_shape,
            obs_dtype=np.dtype(np.uint8),
            action_shape=action_shape,
            action_dtype=action_dtype,
            state_dim=state_dim,
        )

    def __len__(self) -> int:
        return len(self.episodes)

    def episode_length(self, index: int) -> int:
        return len(self.episodes[index]["obs"])

    def read(self, index: int, start: int = 0, stop: int | None = None) -> Segment:
        ep = self.episodes[index]
        stop = self.episode_length(index) if stop is None else stop
        states = ep["states"]
        return Segment(
            obs=ep["obs"][start:stop],
            actions=ep["actions"][start : stop - 1],
            states=None if states is None else states[start:stop],
            episode=index,
            start=start,
        )


def _model_actions(actions: np.ndarray, kind: str | None) -> np.ndarray | None:
    """Recorded env actions in the model's layout."""
    if kind is None:
        return None
    if kind == "discrete":
        return np.asarray(actions).reshape(len(actions), -1)[:, 0].astype(np.int64)
    return np.asarray(actions, np.float32).reshape(len(actions), -1)


class OnlineEM:
    """Bounded EM updates of a latent wrapper's filter from its recorded rollouts.

    Args:
        wrapper: the :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` (its ``recorder``
            is read; its ``filter`` is updated in place).
        steps_per_update: EM steps per :meth:`update` call (the bound on work per call).
        max_seconds: wall-clock bound per call (checked between steps).
        window: frames per training window.
        batch_size: windows per batch (capped by the number of recorded episodes).
        lr: Adam learning rate.
        grad_clip: gradient-norm clip.
        mode: ``"em"`` or ``"direct"`` (default the model's).
        max_frames: newest frames per env used for training.
        probe: compute probe R^2 of filtered means against true states when they are recorded.
        probe_targets: states (M, S) -> ``(targets, names)`` (e.g. the angle as sin and cos).
        seed: seed of the window batcher.
    """

    def __init__(
        self,
        wrapper: Any,
        *,
        steps_per_update: int = 5,
        max_seconds: float = 10.0,
        window: int = 32,
        batch_size: int = 16,
        lr: float = 1e-4,
        grad_clip: float | None = 10.0,
        mode: str | None = None,
        max_frames: int | None = None,
        probe: bool = True,
        probe_targets: Targets | None = None,
        seed: int = 0,
    ) -> None:
        if steps_per_update < 1:
            raise ValueError(f"steps_per_update must be >= 1, got {steps_per_update}")
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.wrapper = wrapper
        self.steps_per_update = int(steps_per_update)
        self.max_seconds = float(max_seconds)
        self.window = int(window)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.grad_clip = grad_clip
        self.mode = mode
        self.max_frames = max_frames
        self.probe = probe
        self.probe_targets = probe_targets
        self.seed = int(seed)
        self.updates = 0
        self.total_steps = 0
        self.history: list[dict[str, float]] = []
        self._trainer: Any = None
        self._model: Any = None

    # -- training ------------------------------------------------------------------------------
    def _ensure_trainer(self) -> Any:
        from rpgssm_env.training.trainer import EMTrainer

        live = self.wrapper.filter.model
        if self._trainer is None:
            self._model = copy.deepcopy(live)
            rng = torch.get_rng_state()  # EMTrainer seeds torch; keep the agent's RNG stream
            try:
                self._trainer = EMTrainer(
                    self._model,
                    [{}],
                    lr=self.lr,
                    decay_every=None,
                    steps=0,
                    grad_clip=self.grad_clip,
                    mode=self.mode,
                    device=self.wrapper.filter.device,
                    seed=self.seed,
                    progress=False,
                )
            finally:
                torch.set_rng_state(rng)
        else:  # follow any outside change of the live weights
            with torch.no_grad():
                self._model.load_state_dict(live.state_dict())
        return self._trainer

    def episodes(self) -> RecordedEpisodes | None:
        """The recorded episodes long enough for one window (``None``: nothing recorded)."""
        rec = getattr(self.wrapper, "recorder", None)
        if rec is None or not len(rec):
            return None
        return RecordedEpisodes(rec, self.window, self.max_frames)

    def update(self) -> dict[str, float] | None:
        """At most ``steps_per_update`` EM steps (and ``max_seconds``) on the recorded windows,
        then the new weights into the live filter.

        Returns:
            Mean loss terms (``loss``, ``log_gamma``, ``kl_qf``, ``kl_qp``), ``em_steps``,
            ``seconds``, ``episodes``, ``batch_size`` and probe R^2 (``r2_<target>``) when states
            are recorded; ``None`` when fewer than 2 recorded episodes hold a full window.
        """
        from rpgssm_env.data.windows import WindowBatcher

        t0 = time.perf_counter()
        source = self.episodes()
        if source is None or len(source) < 2:
            return None
        B = max(2, min(self.batch_size, len(source)))
        batcher = WindowBatcher(source, B, self.window, seed=self.seed + self.updates)
        trainer = self._ensure_trainer()
        kind = self.wrapper.filter.config.action_kind
        terms: list[dict[str, float]] = []
        it = batcher.infinite()
        with torch.enable_grad():
            for _ in range(self.steps_per_update):
                if terms and time.perf_counter() - t0 > self.max_seconds:
                    break
                batch = next(it)
                if kind is None:
                    batch["actions"] = None
                elif batch["actions"] is not None:
                    a = batch["actions"].numpy()
                    B_, W_ = a.shape[:2]
                    a = _model_actions(a.reshape(B_ * W_, -1), kind).reshape(B_, W_, -1)
                    if kind == "discrete":
                        a = a[..., 0]
                    batch["actions"] = torch.from_numpy(a)
                out = trainer.train_step(batch)
                if out is not None:
                    terms.append(out)
        self.total_steps += len(terms)
        self.updates += 1
        if terms:
            self.wrapper.filter.load_state_dict(self._model.state_dict())
        stats: dict[str, float] = (
            {
                k: float(np.mean([t[k] for t in terms]))
                for k in ("loss", "log_gamma", "kl_qf", "kl_qp")
            }
            if terms
            else {}
        )
        stats.update(
            em_steps=float(len(terms)),
            episodes=float(len(source)),
            batch_size=float(B),
            seconds=time.perf_counter() - t0,
        )
        if self.probe and source.spec.state_dim:
            stats.update({f"r2_{k}": v for k, v in self.probe_r2(source).items()})
        stats["total_seconds"] = time.perf_counter() - t0
        self.history.append({"update": float(self.updates), **stats})
        return stats

    # -- probe -----------------------------------------------------------------------------------
    def probe_r2(self, source: RecordedEpisodes) -> dict[str, float]:
        """Held-out R^2 of a linear probe from the live filter's filtered means to true states:
        fit on the even-numbered recorded episodes, score on the odd ones."""
        from rpgssm_env.training.probe import probe_r2

        if len(source) < 2:
            return {}
        model = self.wrapper.filter.model
        kind = self.wrapper.filter.config.action_kind
        feats, states = [], []
        was_training = model.training
        model.eval()
        try:
            for ep in source.episodes:
                acts = _model_actions(ep["actions"], kind)
                post = model.posterior(
                    torch.from_numpy(np.ascontiguousarray(ep["obs"][None])),
                    None if acts is None else torch.from_numpy(acts[None]),
                )
                feats.append(post.filtered_means[0].float().cpu().numpy())
                states.append(ep["states"])
        finally:
            model.train(was_training)
        if self.probe_targets is not None:
            ys = [self.probe_targets(s) for s in states]
            names = ys[0][1]
            ys = [y for y, _ in ys]
        else:
            ys, names = states, [f"s{i}" for i in range(states[0].shape[-1])]
        train = list(range(0, len(feats), 2))
        test = list(range(1, len(feats), 2))
        try:
            return probe_r2(
                np.concatenate([feats[i] for i in train]),
                np.concatenate([ys[i] for i in train]),
                np.concatenate([feats[i] for i in test]),
                np.concatenate([ys[i] for i in test]),
                names=names,
            )
        except ValueError:  # degenerate data (e.g. constant targets)
            return {}


class OnlineEMCallback(BaseCallback):
    """SB3 callback: every ``every_n_steps`` env steps, a bounded :class:`OnlineEM` update.

    Works only while the latent wrapper of the training env has ``training=True`` (then it logs
    ``online_em/*``: the loss terms, the EM steps and seconds of the update, and probe R^2 per
    target when true states are recorded). With ``training=False`` it does nothing and the
    filter stays frozen.

    :param every_n_steps: env steps (summed over envs) between updates.
    :param start_after: no update before this many env steps.
    :param em_kwargs: keyword arguments of :class:`OnlineEM` (``steps_per_update``,
        ``max_seconds``, ``window``, ``batch_size``, ``lr``, ``probe_targets``, ...).
    :param verbose: 1 prints one line per update.
    """

    def __init__(
        self,
        every_n_steps: int = 2000,
        *,
        start_after: int = 0,
        verbose: int = 0,
        **em_kwargs: Any,
    ) -> None:
        super().__init__(verbose)
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = int(every_n_steps)
        self.start_after = int(start_after)
        self.em_kwargs = em_kwargs
        self.em: OnlineEM | None = None
        self._last = 0

    def _init_callback(self) -> None:
        wrapper = find_latent_wrapper(self.training_env)
        self.em = OnlineEM(wrapper, **self.em_kwargs)
        self._last = self.num_timesteps

    def _on_step(self) -> bool:
        assert self.em is not None
        if self.num_timesteps - self._last < self.every_n_steps:
            return True
        if self.num_timesteps < self.start_after:
            return True
        self._last = self.num_timesteps
        if not self.em.wrapper.training:
            return True
        stats = self.em.update()
        if stats is None:
            return True
        for key, value in stats.items():
            self.logger.record(f"online_em/{key}", value)
        self.logger.record("online_em/updates", self.em.updates)
        if self.verbose:
            r2 = " ".join(f"{k}={v:.2f}" for k, v in stats.items() if k.startswith("r2_"))
            print(
                f"[online EM] t={self.num_timesteps} loss={stats.get('loss', float('nan')):.3f} "
                f"steps={int(stats['em_steps'])} {stats['seconds']:.1f}s {r2}"
            )
        return True
