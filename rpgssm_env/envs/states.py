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
dm_control tasks                   ``physics.get_state()``: ``(qpos, qvel[, act])``
=================================  =========================================================
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
    """``physics.get_state()`` of a dm_control env wrapped by shimmy."""
    return np.asarray(env.unwrapped._env.physics.get_state(), dtype=np.float32)


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
    return STATE_NAMES.get(type(env.unwrapped).__name__)
