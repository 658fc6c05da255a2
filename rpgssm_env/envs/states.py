"""True low-dimensional states of the supported environments, for ``info["state"]``.

=================================  =========================================================
base env                           ``info["state"]`` (float32) and units
=================================  =========================================================
``Pendulum-v1``                    ``(theta, omega)``: angle from upright in rad, wrapped to
                                   [-pi, pi) (counter-clockwise positive); angular velocity
                                   in rad/s
``CartPole-v1``                    ``(x, x_dot, theta, theta_dot)``: cart position (m),
                                   velocity (m/s), pole angle from upright (rad), its rate
                                   (rad/s)
``Acrobot-v1``                     ``(theta1, theta2, dtheta1, dtheta2)``: first link angle
                                   from hanging down, second link angle relative to the
                                   first (rad), their rates (rad/s)
``MountainCarContinuous-v0``       ``(position, velocity)``: car position along the track
                                   (in [-1.2, 0.6]) and velocity
dm_control tasks                   ``(qpos, qvel)`` of the MuJoCo model (SI units: m, rad,
                                   m/s, rad/s), joint by joint in model order; the names are
                                   the joint names, then ``<joint>_dot`` (below)
=================================  =========================================================

The dm_control tasks, joint by joint (each state is ``qpos`` then ``qvel``, same order):

* ``cartpole-swingup`` (4): ``slider`` (cart position along the rail, m, 0 = centre),
  ``hinge_1`` (pole angle, rad, 0 = upright; about pi = hanging down at reset; not wrapped, so
  it is continuous in time and counts full turns), then their rates.
* ``walker-walk`` (18): ``rootz`` (torso height relative to the initial pose, m), ``rootx``
  (horizontal position, m), ``rooty`` (torso pitch, rad), ``right_hip``, ``right_knee``,
  ``right_ankle``, ``left_hip``, ``left_knee``, ``left_ankle`` (joint angles, rad), then their
  rates.
* ``cheetah-run`` (18): ``rootx`` (horizontal position, m), ``rootz`` (height, m), ``rooty``
  (pitch, rad), ``bthigh``, ``bshin``, ``bfoot``, ``fthigh``, ``fshin``, ``ffoot`` (back and
  front leg joint angles, rad), then their rates.

The camera of walker and cheetah follows the body, so ``rootx`` (unbounded) is seen in the
pixels only through the floor, which distractors replace: expect a probe not to recover it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["STATE_NAMES", "StateFn", "state_fn_for", "state_names_for"]

StateFn = Callable[[Any], np.ndarray]


def _wrap(angle: np.ndarray | float) -> np.ndarray:
    return (np.asarray(angle, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi


def pendulum_state(env: Any) -> np.ndarray:
    """``(theta, omega)`` of Pendulum-v1 (theta wrapped to [-pi, pi))."""
    theta, omega = np.asarray(env.unwrapped.state, dtype=np.float64)
    return np.array([_wrap(theta), omega], dtype=np.float32)


def raw_state(env: Any) -> np.ndarray:
    """``env.unwrapped.state`` as float32 (CartPole, Acrobot, MountainCar)."""
    return np.asarray(env.unwrapped.state, dtype=np.float32).reshape(-1)


def dm_control_state(env: Any) -> np.ndarray:
    """``(qpos, qvel)`` of a dm_control env wrapped by shimmy (no activations or plugin state:
    the supported tasks have none, and a probe target should be the mechanical state)."""
    data = env.unwrapped._env.physics.data
    return np.concatenate([data.qpos, data.qvel]).astype(np.float32)


def dm_control_state_names(env: Any) -> tuple[str, ...]:
    """Joint names (one per ``qpos`` entry), then ``<name>_dot`` (one per ``qvel`` entry), of a
    dm_control env; joints with several coordinates (free, ball) get ``<name>_<i>``."""
    model = env.unwrapped._env.physics.model
    qpos: list[str] = []
    qvel: list[str] = []
    for j in range(int(model.njnt)):
        name = model.id2name(j, "joint") or f"joint{j}"
        kind = int(model.jnt_type[j])  # mjtJoint: 0 free, 1 ball, 2 slide, 3 hinge
        npos, nvel = {0: (7, 6), 1: (4, 3)}.get(kind, (1, 1))
        qpos += [name] if npos == 1 else [f"{name}_{i}" for i in range(npos)]
        qvel += [f"{name}_dot"] if nvel == 1 else [f"{name}_dot_{i}" for i in range(nvel)]
    return (*qpos, *qvel)


STATE_NAMES: dict[str, tuple[str, ...]] = {
    "PendulumEnv": ("theta", "omega"),
    "CartPoleEnv": ("x", "x_dot", "theta", "theta_dot"),
    "AcrobotEnv": ("theta1", "theta2", "dtheta1", "dtheta2"),
    "Continuous_MountainCarEnv": ("position", "velocity"),
    "MountainCarEnv": ("position", "velocity"),
}

_STATE_FNS: dict[str, StateFn] = {
    "PendulumEnv": pendulum_state,
    "CartPoleEnv": raw_state,
    "AcrobotEnv": raw_state,
    "Continuous_MountainCarEnv": raw_state,
    "MountainCarEnv": raw_state,
    "DmControlCompatibilityV0": dm_control_state,
}


def state_fn_for(env: Any) -> StateFn | None:
    """The state function of ``env``'s unwrapped class, or ``None`` when unknown."""
    return _STATE_FNS.get(type(env.unwrapped).__name__)


def state_names_for(env: Any) -> tuple[str, ...] | None:
    """Names of the state variables of ``env`` (``None`` when unknown)."""
    name = type(env.unwrapped).__name__
    if name == "DmControlCompatibilityV0":
        return dm_control_state_names(env)
    return STATE_NAMES.get(name)
