"""The tracking camera beside the fixed view (rpgssm/CartPoleTracking-v0)."""

from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np
import pytest

import rpgssm_env  # noqa: F401  (registers the ids)
from rpgssm_env.envs.cameras import cartpole_centre
from rpgssm_env.wrappers import pixel_wrappers
from rpgssm_env.wrappers.tracking import TrackingView, tracking_width

BAND = (0.4, 0.85, 0.0, 1.0)


def _set_state(env: gym.Env, state) -> np.ndarray:
    """Put CartPole in ``state`` and return the frame of it (a zero-length step: render only)."""
    env.unwrapped.state = np.asarray(state, dtype=np.float64)
    return env.unwrapped.render()


def _columns(view: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    """Column indices of the pixels of ``view`` within ``tol`` of ``colour``."""
    close = np.abs(view.astype(int) - np.array(colour)).max(axis=2) < tol
    return np.nonzero(close)[1]


def test_frames_are_the_fixed_view_beside_the_window_around_the_cart():
    base = gym.make("CartPole-v1", render_mode="rgb_array")
    env = pixel_wrappers(base, size=(64, 168), crop=BAND, tracking=True)
    assert env.observation_space == gym.spaces.Box(0, 255, (64, 168, 3), np.uint8)
    assert tracking_width(64, (160, 100)) == 40
    obs, _ = env.reset(seed=3)
    full = base.render()  # 400 x 600
    # oracle: the fixed view is the band resized, the tracking view a 160x100 window centred
    # between the pole's top (row 167.5) and the cart's bottom (row 315) at the cart's column
    row, col = cartpole_centre(base)
    assert row == pytest.approx(400 - (232.5 + 85) / 2)
    assert col == pytest.approx(float(base.unwrapped.state[0]) * 125 + 300)
    top, left = round(row - 80), round(col - 50)
    fixed = cv2.resize(full[160:340], (128, 64), interpolation=cv2.INTER_AREA)
    window = cv2.resize(
        full[top : top + 160, left : left + 100], (40, 64), interpolation=cv2.INTER_AREA
    )
    np.testing.assert_array_equal(obs[:, :128], fixed)
    np.testing.assert_array_equal(obs[:, 128:], window)
    env.close()


def test_the_tracking_view_keeps_the_cart_centred_and_shows_the_pole_angle():
    env = gym.make("rpgssm/CartPoleTracking-v0")
    wrapper = env
    while not isinstance(wrapper, TrackingView):
        wrapper = wrapper.env
    env.reset(seed=0)
    cart_cols, fixed_cols, pole_cols = [], [], []
    for x in (-2.0, -1.0, 0.0, 1.0, 2.0):
        obs = wrapper.observation(_set_state(env, (x, 0.0, 0.0, 0.0)))
        fixed_cols.append(_columns(obs[:, :128], (0, 0, 0)).mean())
        cart_cols.append(_columns(obs[:, 128:], (0, 0, 0)).mean())
    # the fixed view follows x (4.8 m over 128 columns); the tracking view does not move
    np.testing.assert_allclose(np.diff(fixed_cols), 128 / 4.8, atol=1.0)
    np.testing.assert_allclose(cart_cols, 19.5, atol=1.0)
    for theta in (-0.1, 0.0, 0.1):
        obs = wrapper.observation(_set_state(env, (0.5, 0.0, theta, 0.0)))
        pole_cols.append(_columns(obs[:, 128:], (202, 152, 101)).mean())
    # the pole's middle moves 62.5 px * sin(theta) in the render, x 0.4 in the tracking view
    np.testing.assert_allclose(np.diff(pole_cols), 62.5 * np.sin(0.1) * 0.4, atol=0.6)
    # at the end of the track half of the window lies outside the render: white there
    obs = wrapper.observation(_set_state(env, (2.4, 0.0, 0.0, 0.0)))
    assert (obs[:, 128 + 21 :] == 255).all()
    assert len(_columns(obs[:, 128:], (0, 0, 0))) > 0
    env.close()


def test_distractors_fill_both_views_and_errors_say_what_is_expected():
    env = gym.make("rpgssm/CartPoleTracking-v0", size=(48, 120), distractor="colour")
    obs, _ = env.reset(seed=1)
    assert obs.shape == (48, 120, 3)
    assert (obs == 255).all(axis=2).mean() < 0.01  # the white background is replaced everywhere
    assert env.render().shape == (48, 120, 3)
    with pytest.raises(ValueError, match="columns for the fixed view"):
        gym.make("rpgssm/CartPoleTracking-v0", size=(64, 40))
    with pytest.raises(ValueError, match="no tracking view known for PendulumEnv"):
        gym.make("rpgssm/Pendulum-v0", tracking=True)
    with pytest.raises(ValueError, match="window must be"):
        pixel_wrappers(
            gym.make("CartPole-v1", render_mode="rgb_array"),
            tracking=(cartpole_centre, (500, 100)),
        )
