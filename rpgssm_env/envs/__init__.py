"""Registered pixel environments, true states, rollout collection and the paper's data set.

Importing this package is light (the ``rpgssm/...`` ids are registered by
:mod:`rpgssm_env.envs.registration`, which imports only Gymnasium); the factories and
collection code load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "collect_episodes",
    "generate_paper_dataset",
    "make_dm_control_env",
    "make_paper_env",
    "make_pixel_env",
    "register_envs",
    "rollout_episode",
]

_LAZY = {
    "make_pixel_env": "rpgssm_env.envs.factories",
    "make_paper_env": "rpgssm_env.envs.paper",
    "generate_paper_dataset": "rpgssm_env.envs.paper",
    "make_dm_control_env": "rpgssm_env.envs.dm_control",
    "register_envs": "rpgssm_env.envs.registration",
    "collect_episodes": "rpgssm_env.envs.collect",
    "rollout_episode": "rpgssm_env.envs.collect",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rpgssm_env.envs' has no attribute {name!r}")
