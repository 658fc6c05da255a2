"""Registered ids, pixel observations, true states, checkers, seeding, errors."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rpgssm_env  # noqa: F401  (registers the ids)
from rpgssm_env.envs.registration import CLASSIC_IDS, PAPER_ID
from rpgssm_env.wrappers import StateInfo, pixel_wrappers

DISTRACTORS = [
    None,
    "images",
    "video",
    "shapes",
    "noise",
    "pendulum",
    "colour",
    "camera",
    "easy",
    "medium",
    "hard",
]
STATE_DIMS = {
    "rpgssm/Pendulum-v0": 2,
    "rpgssm/CartPole-v0": 4,
    "rpgssm/CartPoleTracking-v0": 4,
    "rpgssm/Acrobot-v0": 4,
    "rpgssm/MountainCarContinuous-v0": 2,
}


@pytest.mark.parametrize("distractor", DISTRACTORS)
@pytest.mark.parametrize("env_id", list(CLASSIC_IDS))
def test_checkers(env_id, distractor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advisory warnings (wrapped env, action range, size)
        env = gym.make(env_id, size=24, distractor=distractor)
        check_env(env)
        env.close()
        env = gym.make(env_id, size=24, distractor=distractor)
        sb3_check_env(env)
        env.close()


def test_paper_env_checkers_and_shape():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(PAPER_ID)
        check_env(env)
        sb3_check_env(gym.make(PAPER_ID))
    obs, info = env.reset(seed=0)
    assert obs.shape == (24, 24, 1)
    assert obs.dtype == np.uint8
    assert info["state"].shape == (2,)
    assert env.spec.max_episode_steps == 100


@pytest.mark.parametrize("env_id", list(CLASSIC_IDS))
def test_state_in_info_not_in_obs(env_id):
    env = gym.make(env_id, size=32)
    base_id, steps = CLASSIC_IDS[env_id]
    assert env.spec.max_episode_steps == steps == gym.spec(base_id).max_episode_steps
    obs, info = env.reset(seed=0)
    assert env.observation_space == gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
    assert obs.shape == (32, 32, 3)
    for _ in range(3):
        state = info["state"]
        assert state.dtype == np.float32
        assert state.shape == (STATE_DIMS[env_id],)
        raw = np.asarray(env.unwrapped.state, dtype=np.float64)
        if env_id == "rpgssm/Pendulum-v0":
            wrapped = (raw[0] + np.pi) % (2 * np.pi) - np.pi
            np.testing.assert_allclose(state, [wrapped, raw[1]], rtol=1e-6, atol=1e-6)
            assert -np.pi <= state[0] < np.pi
        else:
            np.testing.assert_allclose(state, raw, rtol=1e-6)
        obs, _, _, _, info = env.step(env.action_space.sample())


def test_time_limit_kept():
    env = gym.make("rpgssm/Pendulum-v0", size=24)
    env.reset(seed=0)
    truncated, n = False, 0
    while not truncated:
        _, _, _, truncated, _ = env.step(np.zeros(1, np.float32))
        n += 1
    assert n == 200


@pytest.mark.parametrize("distractor", ["images", "video", "shapes", "pendulum", "hard"])
def test_seeding_repeatable(distractor):
    def run(seed):
        env = gym.make("rpgssm/Pendulum-v0", size=32, distractor=distractor)
        env.action_space.seed(seed)
        frames = [env.reset(seed=seed)[0]]
        frames += [env.step(env.action_space.sample())[0] for _ in range(5)]
        # a second seeded reset of the same env repeats the first episode
        again = env.reset(seed=seed)[0]
        return np.stack(frames), again

    a, a_again = run(3)
    b, _ = run(3)
    c, _ = run(4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], a_again)
    assert not np.array_equal(a, c)


def test_base_env_kwargs_pass_through():
    env = gym.make("rpgssm/Pendulum-v0", size=24, g=2.0)
    assert env.unwrapped.g == 2.0


def test_env_without_rgb_array_is_rejected():
    with pytest.raises(ValueError, match="rgb_array"):
        pixel_wrappers(gym.make("Pendulum-v1"), size=32)
    with pytest.raises(ValueError, match="rgb_array"):
        gym.make("rpgssm/Pendulum-v0", render_mode="human")


def test_size_validation():
    with pytest.raises(ValueError, match="size"):
        gym.make("rpgssm/CartPole-v0", size=3)


def test_state_info_on_a_user_env_falls_back_to_flat_obs():
    env = StateInfo(gym.make("MountainCar-v0"))
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(info["state"], obs)

    class NoState(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (4, 4, 3), np.uint8)
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(ValueError, match="state_fn"):
        StateInfo(NoState())


def test_grayscale_keeps_channel():
    env = gym.make("rpgssm/Acrobot-v0", size=48, grayscale=True, distractor="shapes")
    obs, _ = env.reset(seed=1)
    assert obs.shape == (48, 48, 1)
    assert env.render().shape == (48, 48, 3)


def test_package_import_stays_light():
    code = (
        "import sys, rpgssm_env, gymnasium as gym; "
        "assert 'rpgssm/Pendulum-v0' in gym.registry; "
        "heavy = [m for m in ('torch', 'cv2', 'h5py', 'minari') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_crop_keeps_a_box_of_the_render():
    import cv2

    base = gym.make("CartPole-v1", render_mode="rgb_array")
    env = pixel_wrappers(base, size=(32, 48), crop=(0.4, 0.85, 0.0, 1.0))
    assert env.observation_space.shape == (32, 48, 3)
    obs, _ = env.reset(seed=3)
    full = base.render()  # 400 x 600: rows 160..340 kept
    expected = cv2.resize(full[160:340], (48, 32), interpolation=cv2.INTER_AREA)
    assert np.abs(obs.astype(int) - expected.astype(int)).max() <= 1
    for bad in [(0.5, 0.4, 0, 1), (0, 1, -0.1, 1), (0, 1.2, 0, 1)]:
        with pytest.raises(ValueError, match="crop must be"):
            pixel_wrappers(gym.make("CartPole-v1", render_mode="rgb_array"), crop=bad)


def test_cartpole_id_keeps_the_track_band():
    # without the crop the 10 px pole of the 600x400 render is a fraction of a pixel at 64x64
    env = gym.make("rpgssm/CartPole-v0", size=64)
    obs, _ = env.reset(seed=0)
    dark = (obs.astype(int).sum(axis=2) < 600).sum(axis=1)  # non-white pixels per row
    # the pole and cart span rows 172..314 of 400: 23 of 64 rows uncropped, ~50 in the band
    assert (dark > 0).sum() >= 40
    env.close()


def test_wide_start_states_cover_the_track():
    # random-policy CartPole keeps the cart near the centre; init_state="wide" starts anywhere
    wide = gym.make("rpgssm/CartPole-v0", size=32, init_state="wide")
    starts = np.array([wide.reset(seed=s)[1]["state"] for s in range(200)])
    lows, highs = np.array([(-2.0, -1.0, -0.1, -0.5), (2.0, 1.0, 0.1, 0.5)])
    assert np.all(starts >= lows)
    assert np.all(starts <= highs)
    assert starts[:, 0].min() < -1.8
    assert starts[:, 0].max() > 1.8
    obs, info = wide.reset(seed=7)
    again, info2 = wide.reset(seed=7)
    np.testing.assert_array_equal(info["state"], info2["state"])  # seeded
    np.testing.assert_array_equal(obs, again)
    # the first frame shows the new state: the cart's dark pixels sit where x says
    for s in range(5):
        frame, start = wide.reset(seed=s)
        cols = np.nonzero((frame.astype(int).sum(axis=2) < 150).any(axis=0))[0]
        assert abs(cols.mean() / 31 - (start["state"][0] + 2.4) / 4.8) < 0.1
    x = info["state"][0]
    wide.reset(seed=7)
    # the dynamics continue from it
    _, _, _, _, step_info = wide.step(1)
    assert abs(step_info["state"][0] - (x + 0.02 * info["state"][1])) < 1e-5
    plain = gym.make("rpgssm/CartPole-v0", size=32)
    assert np.abs([plain.reset(seed=s)[1]["state"] for s in range(20)]).max() <= 0.05
    # explicit ranges on another env; errors say what is expected
    pend = gym.make("rpgssm/Pendulum-v0", size=16, init_state=((3.0, 3.1), (0.0, 0.0)))
    theta, omega = pend.reset(seed=0)[1]["state"]
    assert 3.0 <= theta <= 3.1
    assert omega == 0.0
    with pytest.raises(ValueError, match="no wide start-state ranges"):
        gym.make("rpgssm/Pendulum-v0", init_state="wide")
    with pytest.raises(ValueError, match="one of wide, track, got 'far'"):
        gym.make("rpgssm/CartPole-v0", init_state="far")
    # "track": the cart anywhere on the track, the rest as the env's own starts
    track = gym.make("rpgssm/CartPoleTracking-v0", init_state="track")
    starts = np.array([track.reset(seed=s)[1]["state"] for s in range(100)])
    assert starts[:, 0].min() < -1.5
    assert starts[:, 0].max() > 1.5
    assert np.abs(starts[:, 1:]).max() <= 0.05
    with pytest.raises(ValueError, match="state of 2 variables"):
        gym.make("rpgssm/CartPole-v0", init_state=((0, 1), (0, 1)))
    with pytest.raises(ValueError, match="low <= high"):
        gym.make("rpgssm/CartPole-v0", init_state=((1, 0),) * 4)
    # a share of the episodes
    ranges = ((-2.0, 2.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))
    share = {"ranges": ranges, "probability": 0.5}
    half = gym.make("rpgssm/CartPole-v0", size=16, init_state=share)
    x0 = np.array([half.reset(seed=s)[1]["state"][0] for s in range(200)])
    assert 0.35 < (np.abs(x0) > 0.05).mean() < 0.65
    with pytest.raises(ValueError, match="probability"):
        gym.make("rpgssm/CartPole-v0", init_state={"ranges": ranges, "probability": 2})
