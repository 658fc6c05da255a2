"""Tracking cameras of known envs: where a :class:`~rpgssm_env.wrappers.tracking.TrackingView`
looks (``tracking=True`` of the pixel envs).

=================  ==========================================================================
env                tracking view
=================  ==========================================================================
``CartPole-v1``    160 x 100 render pixels around the cart and pole (rows 160..320 of 400,
                   the cart centred): the pole is 50 px long at 64 rows, 2.5x the fixed view
=================  ==========================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rpgssm_env.wrappers.tracking import TrackingSpec

__all__ = ["TRACKING_VIEWS", "cartpole_centre", "tracking_view_for"]


def cartpole_centre(env: Any) -> tuple[float, float]:
    """``(row, col)`` of CartPole's render between the pole's top and the cart's bottom, at the
    cart's centre (the geometry of Gymnasium's ``CartPoleEnv.render``)."""
    cp = env.unwrapped
    scale = cp.screen_width / (2 * cp.x_threshold)
    col = float(cp.state[0]) * scale + cp.screen_width / 2
    cart_top = 100.0  # px above the bottom edge; the cart is 30 px tall, the axle 7.5 px up
    pole_top = cart_top + 7.5 + scale * 2 * cp.length
    cart_bottom = cart_top - 15.0
    row = cp.screen_height - (pole_top + cart_bottom) / 2
    return row, col


#: Per unwrapped env class: ``(centre_fn, (rows, cols))`` of the render.
TRACKING_VIEWS: dict[str, TrackingSpec] = {
    "CartPoleEnv": (cartpole_centre, (160, 100)),
}


def tracking_view_for(env: Any) -> TrackingSpec:
    """The tracking view of ``env``'s unwrapped class.

    Raises:
        ValueError: no tracking view is known for it.
    """
    name = type(env.unwrapped).__name__
    if name not in TRACKING_VIEWS:
        raise ValueError(
            f"no tracking view known for {name} (known: {', '.join(TRACKING_VIEWS)}): pass "
            "tracking=(centre_fn, (rows, cols)), centre_fn(env) -> (row, col) render pixels"
        )
    return TRACKING_VIEWS[name]
