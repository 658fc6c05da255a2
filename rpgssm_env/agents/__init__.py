"""Stable-Baselines3 agents on RP-GSSM latents, pixels or true states.

* :func:`train_agent` / :func:`load_agent` / :func:`evaluate_agent` / :func:`evaluate_random`
  (:mod:`rpgssm_env.agents.core`): train with the RL Zoo's tuned defaults
  (:mod:`rpgssm_env.agents.hyperparams`), periodic evaluation on separate eval envs, TensorBoard,
  checkpoints; the agent is saved beside its filter and restored together.
* :class:`OnlineEMCallback` / :class:`OnlineEM` (:mod:`rpgssm_env.agents.online_em`): online EM
  fine-tuning of the filter from the agent's own rollouts, bounded work per call.
* :func:`make_agent_env` (:mod:`rpgssm_env.agents.envs`): the ``VecEnv`` of each observation kind.

>>> from rpgssm_env.agents import train_agent  # doctest: +SKIP
>>> run = train_agent("rpgssm/Pendulum-v0", "SAC", obs="latent", checkpoint="model.pt",
...                   distractor="video", steps=20_000, out="runs/sac")  # doctest: +SKIP
>>> run.final_eval["mean"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "HYPERPARAMS",
    "LoadedAgent",
    "OnlineEM",
    "OnlineEMCallback",
    "TrainResult",
    "default_hyperparams",
    "evaluate_agent",
    "evaluate_random",
    "load_agent",
    "make_agent_env",
    "train_agent",
]

_LAZY = {
    "HYPERPARAMS": "rpgssm_env.agents.hyperparams",
    "default_hyperparams": "rpgssm_env.agents.hyperparams",
    "LoadedAgent": "rpgssm_env.agents.core",
    "TrainResult": "rpgssm_env.agents.core",
    "evaluate_agent": "rpgssm_env.agents.core",
    "evaluate_random": "rpgssm_env.agents.core",
    "load_agent": "rpgssm_env.agents.core",
    "train_agent": "rpgssm_env.agents.core",
    "OnlineEM": "rpgssm_env.agents.online_em",
    "OnlineEMCallback": "rpgssm_env.agents.online_em",
    "make_agent_env": "rpgssm_env.agents.envs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rpgssm_env.agents' has no attribute {name!r}")
