"""Registration of the ``rpgssm/...`` Gymnasium ids (imports only Gymnasium).

==================================  ==================================================  =====
id                                  what                                                steps
==================================  ==================================================  =====
``rpgssm/Pendulum-v0``              ``Pendulum-v1`` from pixels                          200
``rpgssm/CartPole-v0``              ``CartPole-v1`` from pixels                          500
``rpgssm/CartPoleTracking-v0``      the same, a camera following the cart beside it       500
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

__all__ = [
    "CLASSIC_IDS",
    "DM_CONTROL_IDS",
    "NAMED_INIT_STATES",
    "PAPER_ID",
    "TRACK_INIT_STATE",
    "WIDE_INIT_STATE",
    "named_init_state",
    "register_envs",
]

CLASSIC_IDS: dict[str, tuple[str, int]] = {
    "rpgssm/Pendulum-v0": ("Pendulum-v1", 200),
    "rpgssm/CartPole-v0": ("CartPole-v1", 500),
    "rpgssm/CartPoleTracking-v0": ("CartPole-v1", 500),
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
    # the track band at 64x128 and a 64x40 view that follows the cart (the pole at 2.5x)
    "rpgssm/CartPoleTracking-v0": {
        "crop": (0.4, 0.85, 0.0, 1.0),
        "tracking": True,
        "size": (64, 168),
    },
}
#: Start-state ranges of ``init_state="wide"``, per base env id: episodes start anywhere on the
#: track instead of within 5 cm of the centre. Not a default for pretraining data: measured on
#: CartPole with moving shapes (1000 random-policy episodes, 10 min of ``cartpole64``), wide
#: starts made the cart position the easiest way to tell sequences apart in the contrastive
#: bound, and the latents kept x only (held-out R^2 of theta 0.01; half the episodes wide: 0.37;
#: the env's own starts: 0.71).
WIDE_INIT_STATE: dict[str, tuple[tuple[float, float], ...]] = {
    # x [m] (the track ends at +-2.4), x_dot [m/s], theta [rad] (ends at +-0.21), theta_dot
    "CartPole-v1": ((-2.0, 2.0), (-1.0, 1.0), (-0.1, 0.1), (-0.5, 0.5)),
}
#: Start-state ranges of ``init_state="track"``: the cart starts anywhere on the track, the
#: other variables as the env's own starts (within +-0.05). Meant for pretraining with
#: ``batch_groups=("x", bin)`` (see :func:`rpgssm_env.data.windows.start_state_groups`), which
#: keeps the start position from telling the windows of a batch apart (the ``cartpole_track``
#: preset).
TRACK_INIT_STATE: dict[str, tuple[tuple[float, float], ...]] = {
    "CartPole-v1": ((-2.0, 2.0), (-0.05, 0.05), (-0.05, 0.05), (-0.05, 0.05)),
}
#: ``init_state`` names and their ranges per base env id.
NAMED_INIT_STATES: dict[str, dict[str, tuple[tuple[float, float], ...]]] = {
    "wide": WIDE_INIT_STATE,
    "track": TRACK_INIT_STATE,
}
PAPER_ID = "rpgssm/PendulumPaper-v0"
LATENT_ID = "rpgssm/Latent-v0"


def named_init_state(base_id: str | None, name: str) -> tuple[tuple[float, float], ...]:
    """The start-state ranges ``init_state=name`` (``"wide"``, ``"track"``) of a base env id.

    Raises:
        ValueError: an unknown name, or no such ranges known for ``base_id``.
    """
    if name not in NAMED_INIT_STATES:
        raise ValueError(
            f"init_state must be (low, high) pairs or one of {', '.join(NAMED_INIT_STATES)}, "
            f"got {name!r}"
        )
    table = NAMED_INIT_STATES[name]
    if base_id not in table:
        raise ValueError(
            f"no {name} start-state ranges for {base_id!r} (known: {', '.join(table)}); "
            "give init_state=((low, high), ...) per state variable"
        )
    return table[base_id]


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
