"""Train, save, load and evaluate Stable-Baselines3 agents on latents, pixels or true states.

A run folder (``out``) holds::

    config.json        how the run was made (env, algo, obs, distractor, hyperparameters, ...)
    agent.zip          the SB3 model (``model.save``)
    filter.pkl         obs="latent": the latent wrapper without its envs
                       (``VecLatentObservation.save``: filter weights and configuration)
    evaluations.json   periodic evaluations on separate eval envs (mean, std, every return)
    evaluations.npz    the same, as SB3's ``EvalCallback`` writes it
    online_em.json     obs="latent" with online EM: one entry per EM update
    best/              agent.zip (+ filter.pkl) of the best periodic evaluation so far (the
                       RL Zoo's ``best_model``), and best.json: its step and mean return
    checkpoints/       step_<n>/agent.zip (+ filter.pkl), every ``checkpoint_every`` steps
    tb/                TensorBoard logs (SB3's scalars, eval/*, online_em/*)

:func:`load_agent` rebuilds the envs and restores agent *and* filter, so that it acts exactly as
the saved agent did.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.logger import HumanOutputFormat, Logger
from stable_baselines3.common.vec_env import VecEnv

from rpgssm_env.agents.envs import (
    OBS_KINDS,
    make_agent_env,
    make_pixel_vec_env,
    model_frame_kwargs,
)
from rpgssm_env.agents.hyperparams import (
    ALGOS,
    base_env_id,
    default_hyperparams,
    resolve_hyperparams,
)
from rpgssm_env.agents.online_em import OnlineEM, OnlineEMCallback, find_latent_wrapper

__all__ = [
    "EVAL_SEED_OFFSET",
    "LoadedAgent",
    "TrainResult",
    "algo_class",
    "evaluate_agent",
    "evaluate_random",
    "load_agent",
    "probe_targets_for",
    "train_agent",
]

EVAL_SEED_OFFSET = 10_000
ONLINE_EM_DEFAULTS: dict[str, Any] = {
    "every_n_steps": 2000,
    "steps_per_update": 5,
    "max_seconds": 10.0,
    "window": 32,
    "batch_size": 16,
    "lr": 1e-4,
}


def algo_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 class of ``"SAC"``, ``"PPO"``, ``"TD3"``, ``"A2C"`` or ``"DQN"``."""
    import stable_baselines3 as sb3

    name = algo.upper()
    if name not in ALGOS:
        raise ValueError(f"algo must be one of {ALGOS}, got {algo!r}")
    return getattr(sb3, name)


def probe_targets_for(env_id: str) -> Any:
    """Probe targets of the true state: Pendulum's angle becomes (sin, cos); else the state."""
    if base_env_id(env_id) == "Pendulum-v1" or "Pendulum" in env_id:
        from rpgssm_env.training.probe import angle_to_sincos

        return _PendulumTargets(angle_to_sincos)
    return None


class _PendulumTargets:  # a picklable callable
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
        return self.fn(states, 0, ("theta", "omega"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return repr(value)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2))
    os.replace(tmp, path)


# -- callbacks -----------------------------------------------------------------------------------
class _ProgressCallback(BaseCallback):
    """A tqdm bar of env steps with the latest evaluation return."""

    def __init__(self, total: int, desc: str) -> None:
        super().__init__()
        self.total, self.desc = int(total), desc
        self.bar: Any = None
        self.eval_cb: EvalCallback | None = None

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc=self.desc, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        self.bar.n = min(self.num_timesteps, self.total)
        if self.n_calls % 50 == 0:
            post = {}
            ep = [e["r"] for e in self.model.ep_info_buffer] if self.model.ep_info_buffer else []
            if ep:
                post["train_R"] = f"{np.mean(ep[-10:]):.1f}"
            if self.eval_cb is not None and self.eval_cb.evaluations_results:
                post["eval_R"] = f"{np.mean(self.eval_cb.evaluations_results[-1]):.1f}"
            self.bar.set_postfix(post, refresh=False)
            self.bar.refresh()
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.n = min(self.num_timesteps, self.total)
            self.bar.close()


class _SaveCallback(BaseCallback):
    """Every ``every`` env steps: ``dir/step_<n>/agent.zip`` (+ ``filter.pkl`` for latents)."""

    def __init__(self, every: int, directory: Path) -> None:
        super().__init__()
        self.every, self.directory = int(every), Path(directory)
        self._last = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.every:
            self._last = self.num_timesteps
            _save_run(self.model, self.directory / f"step_{self.num_timesteps}")
        return True


class _SaveBest(BaseCallback):
    """On a new best mean evaluation return (``EvalCallback``'s ``callback_on_new_best``):
    ``dir/agent.zip`` (+ ``filter.pkl``) and ``dir/best.json`` (step, mean return)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)

    def _on_step(self) -> bool:
        cb = self.parent
        assert isinstance(cb, EvalCallback)
        _save_run(self.model, self.directory)
        best = {"timesteps": int(self.num_timesteps), "mean": float(cb.best_mean_reward)}
        _write_json(self.directory / "best.json", best)
        return True


class _EvalLog(BaseCallback):
    """After each evaluation: append it to ``evaluations.json`` and log ``eval/std_reward``."""

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.path = path
        self.records: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        cb = self.parent
        assert isinstance(cb, EvalCallback)
        returns = np.asarray(cb.evaluations_results[-1], dtype=float)
        rec = {
            "timesteps": int(self.num_timesteps),
            "mean": float(returns.mean()),
            "std": float(returns.std()),
            "returns": returns.tolist(),
            "wall_s": float(time.monotonic() - self._t0) if hasattr(self, "_t0") else None,
        }
        self.records.append(rec)
        self.logger.record("eval/std_reward", rec["std"])
        if self.path is not None:
            _write_json(self.path, self.records)
        return True

    def _on_training_start(self) -> None:
        self._t0 = time.monotonic()


def _save_run(model: BaseAlgorithm, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "agent.zip")
    env = model.get_env()
    if env is not None:
        try:
            wrapper = find_latent_wrapper(env)
        except ValueError:
            return
        wrapper.save(directory / "filter.pkl")


# -- results --------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`train_agent` returns.

    Attributes:
        model: the trained SB3 model (its env still open: call :meth:`close`).
        env: the training ``VecEnv``.
        out: the run folder (``None`` when nothing was saved).
        config: the run's configuration (as in ``config.json``).
        evaluations: periodic evaluations: dicts with ``timesteps``, ``mean``, ``std``,
            ``returns``.
        online_em: the online-EM updates (one dict each) when online EM ran.
        wall_s: training wall time in seconds.
        resumed: ``True`` when a finished run in ``out`` was loaded instead of trained.
    """

    model: BaseAlgorithm
    env: VecEnv
    out: Path | None
    config: dict[str, Any]
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    online_em: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    resumed: bool = False

    @property
    def final_eval(self) -> dict[str, Any] | None:
        """The last periodic evaluation."""
        return self.evaluations[-1] if self.evaluations else None

    def close(self) -> None:
        """Close the training envs."""
        self.env.close()


@dataclass
class LoadedAgent:
    """An agent restored by :func:`load_agent`: SB3 model, its env (filter included), config.

    Attributes:
        model: the SB3 model (``model.predict(obs, deterministic=True)``).
        env: a fresh ``VecEnv`` of the run's observation kind (the saved filter for latents).
        config: the run's ``config.json``.
    """

    model: BaseAlgorithm
    env: VecEnv
    config: dict[str, Any]

    def predict(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Actions for observations of :attr:`env`."""
        return self.model.predict(obs, deterministic=deterministic)[0]

    @property
    def latent_wrapper(self) -> Any:
        """The :class:`~rpgssm_env.wrappers.sb3.VecLatentObservation` (``None`` unless latent)."""
        try:
            return find_latent_wrapper(self.env)
        except ValueError:
            return None

    def close(self) -> None:
        """Close the env."""
        self.env.close()


# -- training -------------------------------------------------------------------------------------
#: Algorithms with a replay buffer and one gradient step per env step (SB3 defaults).
_OFF_POLICY = ("SAC", "TD3", "DQN")

#: Off-policy CnnPolicy updates per second on one CPU core at batch 256 (SAC, 64x64x9 frames,
#: NatureCNN; measured for the pixel row of ``bench.py``): about 2 env steps/s.
_CPU_PIXEL_STEPS_PER_S_AT_256 = 2.0


def _warn_slow_pixel_updates(algo: str, hp: dict[str, Any], steps: int, device: str) -> None:
    """Warn before an off-policy CnnPolicy run that would take hours on a CPU.

    One gradient step per env step at batch ``B`` costs roughly ``B / 256 * 0.5`` s on a CPU
    core, so SB3's default batch 256 gives ~2 env steps/s; the warning names the estimate and
    the two remedies (a GPU, or a smaller ``batch_size``).
    """
    if algo not in _OFF_POLICY:
        return
    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    batch = int(hp.get("batch_size", 256))
    if not on_cpu or batch < 128:
        return
    per_s = _CPU_PIXEL_STEPS_PER_S_AT_256 * 256 / batch
    hours = steps / per_s / 3600
    if hours < 0.25:
        return
    warnings.warn(
        f"obs='pixels' with {algo} at batch_size={batch} on a CPU runs about {per_s:.0f} env "
        f"steps/s: {steps} steps take ~{hours:.1f} h. Use device='cuda', or a smaller batch "
        "(hyperparams={'batch_size': 64}, `--hp batch_size=64`: ~4x faster).",
        UserWarning,
        stacklevel=3,
    )


def quiet_logger(verbose: int = 0) -> Logger:
    """An SB3 logger that writes no files: stdout when ``verbose >= 1``, else nothing.

    SB3 without ``tensorboard_log`` configures its logger with ``folder=None``, which creates an
    empty ``SB3-<date>`` folder in the system's temporary directory on every ``learn``; a model
    given this logger (``model.set_logger(quiet_logger())``) leaves nothing behind.
    """
    formats = [HumanOutputFormat(sys.stdout)] if verbose >= 1 else []
    return Logger(folder=None, output_formats=formats)


def train_agent(
    env_id: str,
    algo: str = "SAC",
    obs: str = "latent",
    checkpoint: Any = None,
    distractor: Any = None,
    steps: int | None = None,
    n_envs: int | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    hyperparams: dict[str, Any] | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 5,
    device: str = "auto",
    *,
    eval_distractor: Any = "same",
    env_kwargs: dict[str, Any] | None = None,
    vec: str = "auto",
    features: str = "mean",
    frame_stack: int = 3,
    latent_stack: int = 1,
    online_em: bool | dict[str, Any] = False,
    checkpoint_every: int | None = None,
    tensorboard: bool = True,
    progress: bool = True,
    resume: bool = True,
    threads: int | None = 1,
    verbose: int = 0,
) -> TrainResult:
    """Train an SB3 agent on ``env_id`` with latent, pixel or true-state observations.

    Args:
        env_id: a pixel env id (``"rpgssm/Pendulum-v0"``, ``"rpgssm/CartPole-v0"``, ...).
        algo: ``"SAC"``, ``"PPO"``, ``"TD3"``, ``"A2C"`` or ``"DQN"``.
        obs: ``"latent"`` (RP-GSSM beliefs; needs ``checkpoint``), ``"pixels"`` (``CnnPolicy``
            on ``frame_stack`` stacked frames) or ``"state"`` (the true state; see
            :mod:`rpgssm_env.agents.envs`).
        checkpoint: the RP-GSSM: a checkpoint path or an :class:`~rpgssm_env.model.RPGSSM`.
        distractor: background distractor of the pixel env (``None``: clean).
        steps: env steps (default the table's ``n_timesteps``).
        n_envs: parallel envs (default the table's ``n_envs``).
        seed: seeds the agent and the envs (eval envs use ``seed + 10000``).
        out: run folder (``None``: nothing saved, no TensorBoard).
        hyperparams: overrides of :func:`~rpgssm_env.agents.hyperparams.default_hyperparams`.
        eval_every: env steps between evaluations (default ``steps // 10``; 0: none).
        eval_episodes: episodes per evaluation.
        device: torch device of the agent and the filter (``"auto"``: CUDA if available).
        eval_distractor: distractor of the eval envs (``"same"``: the training one).
        env_kwargs: other kwargs of the pixel env (``size``, ``grayscale``, ...).
        vec: ``"auto"`` (subprocesses when ``n_envs > 1``), ``"subproc"`` or ``"dummy"``.
        features: the filter's features (``"mean"``, ``"mean+std"``, ``"mean+cov"``).
        frame_stack: stacked frames for ``obs="pixels"``.
        latent_stack: for ``obs="latent"``, the last ``latent_stack`` filter outputs stacked (1:
            the belief alone; 2-3 give the policy the recent motion of the latents directly).
        online_em: ``True`` or a dict of :class:`~rpgssm_env.agents.online_em.OnlineEMCallback`
            options (``every_n_steps``, ``steps_per_update``, ``max_seconds``, ``window``,
            ``batch_size``, ``lr``): fine-tune the filter on the agent's rollouts
            (``obs="latent"`` only; the wrapper's ``training`` flag is set).
        checkpoint_every: save ``checkpoints/step_<n>`` every so many env steps (default: never).
        tensorboard: write TensorBoard logs under ``out/tb``.
        progress: show a progress bar.
        resume: when ``out/config.json`` says the same run finished, load it instead of
            training again.
        threads: ``torch.set_num_threads`` for the run (1 is right for RL on 2 cores; ``None``
            leaves it).
        verbose: SB3 verbosity.

    Returns:
        :class:`TrainResult`.
    """
    if obs not in OBS_KINDS:
        raise ValueError(f"obs must be one of {OBS_KINDS}, got {obs!r}")
    algo = algo.upper()
    cls = algo_class(algo)
    if obs == "latent" and checkpoint is None:
        raise ValueError("obs='latent' needs checkpoint= (an RP-GSSM checkpoint path or model)")
    if online_em and obs != "latent":
        raise ValueError("online_em needs obs='latent'")
    if threads is not None:
        torch.set_num_threads(int(threads))
    hp = default_hyperparams(algo, env_id)
    hp.update(hyperparams or {})
    steps = int(steps if steps is not None else hp["n_timesteps"])
    n_envs = int(n_envs if n_envs is not None else hp.get("n_envs", 1))
    if eval_every is None:
        eval_every = max(steps // 10, 1)
    if obs == "pixels":
        hp["policy"] = "CnnPolicy"
        if "buffer_size" in hp or algo in _OFF_POLICY:
            hp["buffer_size"] = min(int(hp.get("buffer_size", 1_000_000)), max(steps, 1000))
        _warn_slow_pixel_updates(algo, hp, steps, device)
    em_opts: dict[str, Any] | None = None
    if online_em:
        em_opts = dict(ONLINE_EM_DEFAULTS)
        if isinstance(online_em, dict):
            em_opts.update(online_em)
    model_obj: Any = None
    env_kwargs = dict(env_kwargs or {})
    if obs == "latent":
        from rpgssm_env.model.online import load_model

        model_obj = load_model(checkpoint, "cpu")
        # render the frames the model takes unless told otherwise (stored for load_agent)
        env_kwargs = {**model_frame_kwargs(model_obj), **env_kwargs}
    ckpt_repr = checkpoint if isinstance(checkpoint, (str, os.PathLike)) else None
    config: dict[str, Any] = {
        "env_id": env_id,
        "algo": algo,
        "obs": obs,
        "checkpoint": None if ckpt_repr is None else os.fspath(ckpt_repr),
        "distractor": distractor,
        "eval_distractor": distractor if eval_distractor == "same" else eval_distractor,
        "steps": steps,
        "n_envs": n_envs,
        "seed": seed,
        "hyperparams": hp,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "env_kwargs": env_kwargs,
        "features": features,
        "frame_stack": frame_stack,
        "latent_stack": latent_stack,
        "online_em": em_opts,
    }
    out_path = Path(out) if out is not None else None
    if out_path is not None and resume:
        done = _finished_run(out_path, config)
        if done is not None:
            return done

    common = {
        "obs": obs,
        "model": model_obj,
        "env_kwargs": env_kwargs,
        "device": device,
        "features": features,
        "frame_stack": frame_stack,
        "latent_stack": latent_stack,
    }
    env = make_agent_env(
        env_id,
        n_envs=n_envs,
        distractor=distractor,
        seed=seed,
        vec=vec,
        training=bool(em_opts),
        **common,
    )
    eval_env = None
    callbacks: list[BaseCallback] = []
    try:
        if eval_every and eval_episodes:
            eval_env = make_agent_env(
                env_id,
                n_envs=1,
                distractor=config["eval_distractor"],
                seed=seed + EVAL_SEED_OFFSET,
                vec="dummy",
                **common,
            )
        if out_path is not None:
            out_path.mkdir(parents=True, exist_ok=True)
            _write_json(out_path / "config.json", {**config, "complete": False})
        action_dim = int(np.prod(env.action_space.shape)) if env.action_space.shape else None
        kwargs = resolve_hyperparams(hp, action_dim)
        policy = hp.get("policy", "MlpPolicy")
        tb = os.fspath(out_path / "tb") if (out_path is not None and tensorboard) else None
        model = cls(
            policy, env, seed=seed, device=device, tensorboard_log=tb, verbose=verbose, **kwargs
        )
        if tb is None:
            model.set_logger(quiet_logger(verbose))
        eval_log = _EvalLog(out_path / "evaluations.json" if out_path is not None else None)
        eval_cb = None
        if eval_env is not None:
            eval_cb = EvalCallback(
                eval_env,
                callback_after_eval=eval_log,
                callback_on_new_best=_SaveBest(out_path / "best") if out_path is not None else None,
                n_eval_episodes=eval_episodes,
                eval_freq=max(int(eval_every) // n_envs, 1),
                log_path=os.fspath(out_path) if out_path is not None else None,
                deterministic=True,
                verbose=0,
                warn=False,
            )
            callbacks.append(eval_cb)
        em_cb = None
        if em_opts is not None:
            opts = dict(em_opts)
            every = int(opts.pop("every_n_steps"))
            em_cb = OnlineEMCallback(
                every, probe_targets=probe_targets_for(env_id), seed=seed, verbose=verbose, **opts
            )
            callbacks.append(em_cb)
        if out_path is not None and checkpoint_every:
            callbacks.append(_SaveCallback(checkpoint_every, out_path / "checkpoints"))
        if progress:
            pcb = _ProgressCallback(steps, f"{algo} {obs} {env_id}")
            pcb.eval_cb = eval_cb
            callbacks.append(pcb)
        t0 = time.monotonic()
        model.learn(
            total_timesteps=steps, callback=CallbackList(callbacks), tb_log_name=f"{algo}_{obs}"
        )
        wall = time.monotonic() - t0
    except BaseException:
        env.close()
        if eval_env is not None:
            eval_env.close()
        raise
    if eval_env is not None:
        eval_env.close()
    em_hist = em_cb.em.history if (em_cb is not None and em_cb.em is not None) else []
    result = TrainResult(model, env, out_path, config, eval_log.records, em_hist, wall)
    if out_path is not None:
        _save_run(model, out_path)
        if em_hist:
            _write_json(out_path / "online_em.json", em_hist)
        _write_json(
            out_path / "config.json",
            {**config, "complete": True, "wall_s": wall, "fps": steps / max(wall, 1e-9)},
        )
    return result


def _same_config(saved: dict[str, Any], config: dict[str, Any]) -> bool:
    keys = (
        "env_id",
        "algo",
        "obs",
        "checkpoint",
        "distractor",
        "steps",
        "n_envs",
        "seed",
        "hyperparams",
        "env_kwargs",
        "features",
        "frame_stack",
        "latent_stack",
        "online_em",
    )
    now = _jsonable(config)
    return all(saved.get(k) == now.get(k) for k in keys)


def _finished_run(out: Path, config: dict[str, Any]) -> TrainResult | None:
    path = out / "config.json"
    if not path.is_file() or not (out / "agent.zip").is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not saved.get("complete") or not _same_config(saved, config):
        return None
    agent = load_agent(out, n_envs=config["n_envs"], seed=config["seed"])
    evals = []
    if (out / "evaluations.json").is_file():
        evals = json.loads((out / "evaluations.json").read_text())
    em = (
        json.loads((out / "online_em.json").read_text())
        if (out / "online_em.json").is_file()
        else []
    )
    return TrainResult(
        agent.model, agent.env, out, saved, evals, em, saved.get("wall_s", 0.0), resumed=True
    )


# -- loading ----------------------------------------------------------------------------------
def load_agent(
    path: str | os.PathLike,
    *,
    n_envs: int = 1,
    distractor: Any = "same",
    seed: int | None = None,
    vec: str = "dummy",
    device: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    agent_file: str = "agent.zip",
    filter_file: str = "filter.pkl",
) -> LoadedAgent:
    """Restore a run saved by :func:`train_agent` (agent and, for latents, its filter).

    Args:
        path: the run folder (or its ``best`` or a ``checkpoints/step_<n>`` folder).
        n_envs: envs of the rebuilt ``VecEnv``.
        distractor: the env's distractor (``"same"``: the training one).
        seed: seeds the rebuilt envs.
        vec: ``"dummy"`` (default) or ``"subproc"``.
        device: torch device.
        env_kwargs: overrides of the run's pixel-env kwargs.
        agent_file, filter_file: file names inside ``path``.

    Returns:
        :class:`LoadedAgent`; with the same observations it gives the same actions as the saved
        agent.
    """
    path = Path(path)
    cfg_path = path / "config.json"
    for run in (path.parent, path.parent.parent):  # a best or checkpoints/step_<n> folder
        if not cfg_path.is_file() and (run / "config.json").is_file():
            cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"no config.json in {path}: not a run folder of train_agent")
    config = json.loads(cfg_path.read_text())
    obs = config["obs"]
    d = config.get("distractor") if distractor == "same" else distractor
    kwargs = {**config.get("env_kwargs", {}), **(env_kwargs or {})}
    env = make_agent_env(
        config["env_id"],
        obs,
        n_envs=n_envs,
        distractor=d,
        seed=seed,
        env_kwargs=kwargs,
        vec=vec,
        device=device,
        features=config.get("features", "mean"),
        frame_stack=config.get("frame_stack", 3),
        latent_stack=config.get("latent_stack", 1),
        filter_path=(path / filter_file) if obs == "latent" else None,
    )
    try:
        model = algo_class(config["algo"]).load(path / agent_file, env=env, device=device)
    except BaseException:
        env.close()
        raise
    if seed is not None:  # SB3's load re-seeds the env with the training seed: seed it again
        env.seed(int(seed))
        env.action_space.seed(int(seed))
    return LoadedAgent(model, env, config)


# -- evaluation -------------------------------------------------------------------------------
def evaluate_agent(
    agent: str | os.PathLike | LoadedAgent | BaseAlgorithm,
    n_episodes: int = 10,
    *,
    env: VecEnv | None = None,
    distractor: Any = "same",
    seed: int = EVAL_SEED_OFFSET,
    deterministic: bool = True,
    online_em: bool | dict[str, Any] = False,
    record_frames: bool = False,
    max_record_steps: int = 200,
) -> dict[str, Any]:
    """Mean and standard deviation of the episode return of an agent.

    Args:
        agent: a run folder, a :class:`LoadedAgent` or an SB3 model (then ``env`` is needed,
            unless the model holds one).
        n_episodes: episodes.
        env: the ``VecEnv`` to evaluate on (default: a fresh one from the run folder, with
            ``distractor``).
        distractor: for a run folder: the eval distractor (``"same"``: the training one).
        seed: seeds the env.
        deterministic: deterministic actions.
        online_em: fine-tune the filter on the evaluation rollouts as they happen (test-time
            adaptation; latent agents only): ``True`` or a dict of
            :class:`~rpgssm_env.agents.online_em.OnlineEM` options plus ``every_n_steps``
            (default 400).
        record_frames: also return, for the first env, the frames (``info["pixels"]``), latent
            features and true states of the first ``max_record_steps`` steps.
        max_record_steps: see ``record_frames``.

    Returns:
        ``{"mean", "std", "returns", "lengths", "n_episodes"}`` (+ ``"online_em"`` updates,
        + ``"frames"``, ``"latents"``, ``"states"`` with ``record_frames``).
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    owned: LoadedAgent | None = None
    if isinstance(agent, (str, os.PathLike)):
        owned = load_agent(agent, distractor=distractor, seed=seed)
        model, venv = owned.model, owned.env
    elif isinstance(agent, LoadedAgent):
        model, venv = agent.model, agent.env
    else:
        model, venv = agent, None
    if env is not None:
        venv = env
    if venv is None:
        venv = model.get_env()
    if venv is None:
        raise ValueError("evaluate_agent needs an env for this model")
    wrapper = None
    try:
        wrapper = find_latent_wrapper(venv)
    except ValueError:
        if online_em:
            raise
    em = None
    every = 400
    saved_training = None
    if online_em and wrapper is not None:
        opts = dict(online_em) if isinstance(online_em, dict) else {}
        every = int(opts.pop("every_n_steps", 400))
        opts.setdefault("window", 32)
        opts.setdefault("batch_size", 8)
        opts.setdefault("max_seconds", 10.0)
        em = OnlineEM(wrapper, **opts)
        saved_training = wrapper.training
        wrapper.training = True
        if wrapper.recorder is not None:
            wrapper.recorder.clear()
    record: dict[str, list] = {"frames": [], "latents": [], "states": []}
    if record_frames and wrapper is not None:
        wrapper.pixels_in_info = True
    state = {"t": 0}
    feat_dim = wrapper.observation_space.shape[-1] if wrapper is not None else 0

    def callback(locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        state["t"] += 1
        if em is not None and state["t"] % every == 0:
            em.update()
        if record_frames and len(record["frames"]) < max_record_steps and locals_["i"] == 0:
            info = locals_["info"]
            if "pixels" in info:
                record["frames"].append(np.asarray(info["pixels"]))
            # the newest filter output (stacked observations put it last)
            newest = np.asarray(locals_["new_observations"][0])[-feat_dim:]
            record["latents"].append(newest.copy())
            if "state" in info:
                record["states"].append(np.asarray(info["state"]))

    venv.seed(seed)
    try:
        returns, lengths = evaluate_policy(
            model,
            venv,
            n_eval_episodes=n_episodes,
            deterministic=deterministic,
            callback=callback,
            return_episode_rewards=True,
            warn=False,
        )
    finally:
        if wrapper is not None:
            wrapper.pixels_in_info = False
            if saved_training is not None:
                wrapper.training = saved_training
        if owned is not None:
            owned.close()
    r = np.asarray(returns, dtype=float)
    result: dict[str, Any] = {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "returns": r.tolist(),
        "lengths": [int(x) for x in lengths],
        "n_episodes": int(n_episodes),
    }
    if em is not None:
        result["online_em"] = em.history
    if record_frames:
        result.update({k: np.asarray(v) for k, v in record.items() if v})
    return result


def evaluate_random(
    env_id: str, n_episodes: int = 100, seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return of the uniform random policy (on the state env: same dynamics and rewards as the
    pixel env, without rendering).

    Returns:
        ``{"mean", "std", "returns", "n_episodes"}``.
    """
    venv = make_pixel_vec_env(env_id, 1, "state", env_kwargs, "dummy")
    venv.seed(seed)
    venv.action_space.seed(seed)
    returns: list[float] = []
    try:
        venv.reset()
        total = 0.0
        while len(returns) < n_episodes:
            action = np.array([venv.action_space.sample()])
            _, reward, done, _ = venv.step(action)
            total += float(reward[0])
            if done[0]:
                returns.append(total)
                total = 0.0
    finally:
        venv.close()
    r = np.asarray(returns)
    return {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "returns": r.tolist(),
        "n_episodes": int(n_episodes),
    }
