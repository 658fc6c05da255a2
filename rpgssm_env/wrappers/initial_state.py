"""Wider start states for data collection: ``InitialStateRange``.

Random-policy rollouts of a balancing task stay near the start state: CartPole's cart moves a few
centimetres before the pole falls. Drawing each episode's start from wide per-variable ranges
covers more of the state space without a trained policy. Beware with contrastive objectives such
as the RP-GSSM's: a variable that is constant within an episode and differs between episodes
(here the cart position) tells sequences apart on its own, and the model may then learn little
else (see :data:`rpgssm_env.envs.registration.WIDE_INIT_STATE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["InitialStateRange"]


class InitialStateRange(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """After each reset, set the base env's ``unwrapped.state`` to a uniform draw from ``ranges``.

    Works for envs whose dynamics live in ``unwrapped.state`` (Gymnasium's classic control).
    Draws use the env's own generator, so ``reset(seed=s)`` stays reproducible.

    Args:
        env: the base env (before any pixel wrapper, so the first frame shows the new state).
        ranges: ``(low, high)`` per state variable, in the env's units (e.g. CartPole:
            x [m], x_dot [m/s], theta [rad], theta_dot [rad/s]).
        probability: the share of episodes that start from ``ranges``; the others keep the
            env's own start (a mixture keeps episodes that differ only in the system's fast
            variables, which a contrastive objective needs to learn them).

    Raises:
        ValueError: ``env.unwrapped`` has no ``state`` of that length, a range with
            ``low > high``, or a probability outside [0, 1].
    """

    def __init__(
        self, env: gym.Env, ranges: Sequence[Sequence[float]], probability: float = 1.0
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, ranges=ranges, probability=probability)
        super().__init__(env)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        self.probability = float(probability)
        bounds = np.asarray(ranges, dtype=np.float64)
        if bounds.ndim != 2 or bounds.shape[1] != 2 or np.any(bounds[:, 0] > bounds[:, 1]):
            raise ValueError(f"ranges must be (low, high) pairs with low <= high, got {ranges!r}")
        state = getattr(env.unwrapped, "state", None)
        if state is None:  # classic-control envs create it in reset (unseeded: no RNG imposed)
            env.reset()
            state = getattr(env.unwrapped, "state", None)
        if state is None or np.size(state) != len(bounds):
            raise ValueError(
                f"{env.unwrapped} has no state of {len(bounds)} variables to set "
                f"(got {None if state is None else np.shape(state)})"
            )
        self.low, self.high = bounds[:, 0], bounds[:, 1]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        base = self.env.unwrapped
        if base.np_random.uniform() >= self.probability:
            return obs, info
        state = base.np_random.uniform(self.low, self.high)
        base.state = state.astype(np.asarray(base.state).dtype, copy=False)
        return self._observation(obs), info

    def _observation(self, old: Any) -> Any:
        """The base env's observation of the new state."""
        base = self.env.unwrapped
        for name in ("_get_obs", "_get_ob"):
            if hasattr(base, name):
                return getattr(base, name)()
        state = np.asarray(base.state, dtype=np.float32)
        return state if np.shape(old) == state.shape else old
