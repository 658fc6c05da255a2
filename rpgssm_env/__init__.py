"""rpgssm-env: distractor-robust latent-state environments from pixels with the RP-GSSM.

The model core (:mod:`rpgssm_env.model`, :mod:`rpgssm_env.training`) depends on PyTorch alone.
Importing the top-level package also registers the ``rpgssm/...`` Gymnasium env ids (this needs
Gymnasium, a runtime dependency, but the core modules never import it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["RPGSSM", "EMTrainer", "RPGSSMConfig", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig
    from rpgssm_env.training.trainer import EMTrainer

_LAZY = {
    "RPGSSM": "rpgssm_env.model.rpgssm",
    "RPGSSMConfig": "rpgssm_env.model.rpgssm",
    "EMTrainer": "rpgssm_env.training.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rpgssm_env' has no attribute {name!r}")


def _register_envs() -> None:
    try:
        from rpgssm_env.envs.registration import register_envs
    except ImportError:  # the environments module is optional until it exists
        return
    register_envs()


_register_envs()
