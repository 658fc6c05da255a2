"""Registration of the ``rpgssm/...`` Gymnasium ids (imports only Gymnasium).

==================================  ==================================================  =====
id                                  what                                                steps
==================================  ==================================================  =====
``rpgssm/Pendulum-v0``              ``Pendulum-v1`` from pixels                          200
``rpgssm/CartPole-v0``              ``CartPole-v1`` from pixels                          500
``rpgssm/Acrobot-v0``               ``Acrobot-v1`` from pixels                           500
``rpgssm/MountainCarContinuous-v0`` ``MountainCarContinuous-v0`` from pixels             999
``rpgssm/PendulumPaper-v0``         24x24 grey pendulum, new natural photo every frame   100
``rpgssm/cartpole-swingup-v0``      dm_control via shimmy (``[mujoco]`` extra)          1000
``rpgssm/walker-walk-v0``           dm_control via shimmy (``[mujoco]`` extra)          1000
``rpgssm/cheetah-run-v0``           dm_control via shimmy (``[mujoco]`` extra)          1000
==================================  ==================================================  =====

Keyword arguments of the classic-control ids: see
:func:`rpgssm_env.envs.factories.make_pixel_env` (``size``, ``grayscale``, ``distractor``,
``distractor_mode``, ``mask``, ``state_fn`` and the base env's own kwargs).
"""

from __future__ import annotations

import gymnasium as gym

__all__ = ["CLASSIC_IDS", "DM_CONTROL_IDS", "PAPER_ID", "register_envs"]

CLASSIC_IDS: dict[str, tuple[str, int]] = {
    "rpgssm/Pendulum-v0": ("Pendulum-v1", 200),
    "rpgssm/CartPole-v0": ("CartPole-v1", 500),
    "rpgssm/Acrobot-v0": ("Acrobot-v1", 500),
    "rpgssm/MountainCarContinuous-v0": ("MountainCarContinuous-v0", 999),
}
DM_CONTROL_IDS: dict[str, tuple[str, int]] = {
    "rpgssm/cartpole-swingup-v0": ("cartpole-swingup", 1000),
    "rpgssm/walker-walk-v0": ("walker-walk", 1000),
    "rpgssm/cheetah-run-v0": ("cheetah-run", 1000),
}
#: Default kwargs per classic id. CartPole renders a 600x400 scene whose cart is 50 px wide and
#: pole 10 px: keep the band the cart and pole move in (rows 40%..85%), else the pole is a
#: fraction of a pixel wide at 64x64.
CLASSIC_KWARGS: dict[str, dict[str, object]] = {
    "rpgssm/CartPole-v0": {"crop": (0.4, 0.85, 0.0, 1.0)},
}
PAPER_ID = "rpgssm/PendulumPaper-v0"
LATENT_ID = "rpgssm/Latent-v0"


def register_envs() -> None:
    """Register every ``rpgssm/...`` id (idempotent)."""
    for env_id, (base, steps) in CLASSIC_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="rpgssm_env.envs.factories:make_pixel_env",
                kwargs={"base_id": base, **CLASSIC_KWARGS.get(env_id, {})},
                max_episode_steps=steps,
            )
    if PAPER_ID not in gym.registry:
        gym.register(
            id=PAPER_ID,
            entry_point="rpgssm_env.envs.paper:make_paper_env",
            max_episode_steps=100,
        )
    for env_id, (task, steps) in DM_CONTROL_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="rpgssm_env.envs.dm_control:make_dm_control_env",
                kwargs={"task": task},
                max_episode_steps=steps,
            )
    # the latent-state env of issue 4 (rpgssm_env.wrappers.latent): gym.make(LATENT_ID,
    # env_id="rpgssm/Pendulum-v0", checkpoint="model.pt", **pixel_env_kwargs)
    if LATENT_ID not in gym.registry:
        gym.register(id=LATENT_ID, entry_point="rpgssm_env.wrappers.latent:make_latent_gym_env")
