"""Gymnasium wrappers: pixel observations and background distractors."""

from rpgssm_env.wrappers.distractors import BackgroundDistractor, make_source
from rpgssm_env.wrappers.pixels import StateInfo, pixel_wrappers

__all__ = [
    "BackgroundDistractor",
    "StateInfo",
    "make_source",
    "pixel_wrappers",
]

# Latent-state wrappers (issue 4). Loaded on first use, so that importing the pixel wrappers (in
# env worker processes, say) does not import the model or Stable-Baselines3.
_LATENT_EXPORTS = {
    "LatentObservation": "rpgssm_env.wrappers.latent",
    "make_latent_gym_env": "rpgssm_env.wrappers.latent",
    "VectorLatentObservation": "rpgssm_env.wrappers.vector",
    "VecLatentObservation": "rpgssm_env.wrappers.sb3",
    "make_latent_env": "rpgssm_env.wrappers.factory",
}
__all__ += list(_LATENT_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _LATENT_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LATENT_EXPORTS[name]), name)
    raise AttributeError(f"module 'rpgssm_env.wrappers' has no attribute {name!r}")
