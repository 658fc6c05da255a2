"""Env factories: the entry points of the ``rpgssm/...`` ids.

``gym.make("rpgssm/Pendulum-v0", distractor="video", size=64)`` calls
``make_pixel_env(base_id="Pendulum-v1", distractor="video", size=64)``; the time limit of the base
env is applied by ``gym.make`` from the registration (``max_episode_steps`` of the base id).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rpgssm_env.wrappers.pixels import pixel_wrappers

__all__ = ["make_pixel_env"]


def make_pixel_env(
    base_id: str | gym.Env,
    size: int | tuple[int, int] = 64,
    grayscale: bool = False,
    distractor: Any = None,
    distractor_mode: str | None = None,
    mask: Any = "colour_key",
    state_fn: Callable[[gym.Env], np.ndarray] | None = None,
    render_mode: str | None = "rgb_array",
    crop: tuple[float, float, float, float] | None = None,
    init_state: Any = None,
    tracking: Any = False,
    **env_kwargs: Any,
) -> gym.Env:
    """A pixel env with optional background distractors.

    Args:
        base_id: a Gymnasium env id (built with ``render_mode="rgb_array"`` and without its time
            limit, which the ``rpgssm/...`` registration re-applies) or an env instance.
        size: frame size ``H = W`` (or ``(H, W)``), typically 24..128.
        grayscale: ``(H, W, 1)`` grey frames instead of ``(H, W, 3)`` RGB.
        distractor: ``None``/``"none"``, ``"images"``, ``"video"``, ``"shapes"``, ``"noise"``,
            ``"pendulum"``, ``"colour"``, ``"camera"``, ``"easy"``, ``"medium"``, ``"hard"``, a
            path, or a user source (see :func:`rpgssm_env.wrappers.distractors.make_source`).
        distractor_mode: ``"fixed"`` (per episode), ``"step"`` (new every step) or ``"video"``.
        mask: foreground mask: ``"colour_key"`` (white background) or a function.
        state_fn: ``env -> (S,)`` true state for ``info["state"]``.
        crop: ``(top, bottom, left, right)`` fractions of the render kept before resizing
            (``rpgssm/CartPole-v0`` registers its track band: the cart and pole are only a few
            pixels in a 64x64 frame of the whole render).
        init_state: ``(low, high)`` per state variable: each episode starts from a uniform draw
            (:class:`~rpgssm_env.wrappers.initial_state.InitialStateRange`); ``"wide"`` or
            ``"track"``: the env's named ranges
            (:data:`rpgssm_env.envs.registration.NAMED_INIT_STATES`); or
            ``{"ranges": ..., "probability": p}`` for a share ``p`` of episodes.
        tracking: ``True``: a tracking camera's view beside the fixed one (the frame is both,
            ``size`` wide in all; see :class:`~rpgssm_env.wrappers.tracking.TrackingView`;
            ``rpgssm/CartPoleTracking-v0`` registers it for CartPole), or
            ``(centre_fn, (rows, cols))``.
        render_mode: only ``"rgb_array"`` (or ``None``, treated the same) is supported;
            ``render()`` returns the composited frame.
        **env_kwargs: passed to the base env (e.g. ``g=9.81`` for Pendulum).

    Returns:
        The env (observations ``Box(0, 255, (H, W, C), uint8)``; ``info["state"]`` float32).
    """
    if render_mode not in (None, "rgb_array"):
        raise ValueError(
            f"rpgssm pixel envs support render_mode='rgb_array' only, got {render_mode!r}"
        )
    # Off-screen rendering needs no display; without this SDL (pygame) looks for one and warns.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if isinstance(base_id, str):
        env = gym.make(
            base_id,
            render_mode="rgb_array",
            max_episode_steps=-1,  # the outer registration applies the base env's limit
            disable_env_checker=True,
            **env_kwargs,
        )
    else:
        if env_kwargs:
            raise TypeError(f"unexpected keyword arguments for an env instance: {env_kwargs}")
        env = base_id
    if isinstance(init_state, str):
        from rpgssm_env.envs.registration import named_init_state

        key = base_id if isinstance(base_id, str) else getattr(env.unwrapped.spec, "id", None)
        init_state = named_init_state(key, init_state)
    if init_state is not None:
        from rpgssm_env.wrappers.initial_state import InitialStateRange

        if isinstance(init_state, dict):  # {"ranges": ..., "probability": ...}
            env = InitialStateRange(env, **init_state)
        else:
            env = InitialStateRange(env, init_state)
    return pixel_wrappers(
        env,
        size=size,
        grayscale=grayscale,
        distractor=distractor,
        distractor_mode=distractor_mode,
        mask=mask,
        state_fn=state_fn,
        crop=crop,
        tracking=tracking,
    )
