"""dm_control tasks through shimmy (the ``[mujoco]`` extra, part of ``[dev]``), rendered for real.

Headless rendering on CPU goes through OSMesa (or Mesa's EGL software device): about 1.5 s to
make an env and render its first frame, then a few ms per 32..64 px step; sizes and step counts
here are kept small.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rpgssm_env  # noqa: F401  (registers the ids)
from rpgssm_env.envs import dm_control as dmc
from rpgssm_env.envs.registration import DM_CONTROL_IDS
from rpgssm_env.envs.states import state_names_for
from rpgssm_env.wrappers import BackgroundDistractor
from rpgssm_env.wrappers.distractors.masks import SegmentationMask

# MuJoCo fixes its own OpenGL backend (mujoco.Renderer) at import: choose it first, as the
# factory does, so that the Gymnasium-style test below renders headless too.
dmc.select_mujoco_gl()
mujoco = importlib.import_module("mujoco")

STATE_NAMES = {
    "rpgssm/cartpole-swingup-v0": ("slider", "hinge_1"),
    "rpgssm/walker-walk-v0": (
        "rootz",
        "rootx",
        "rooty",
        "right_hip",
        "right_knee",
        "right_ankle",
        "left_hip",
        "left_knee",
        "left_ankle",
    ),
    "rpgssm/cheetah-run-v0": (
        "rootx",
        "rootz",
        "rooty",
        "bthigh",
        "bshin",
        "bfoot",
        "fthigh",
        "fshin",
        "ffoot",
    ),
}


def _distractor_wrapper(env: gym.Env) -> BackgroundDistractor:
    while not isinstance(env, BackgroundDistractor):
        env = env.env
    return env


# -- without rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(DM_CONTROL_IDS))
def test_ids_name_the_extra_when_it_is_missing(env_id, monkeypatch):
    assert env_id in gym.registry
    monkeypatch.setitem(sys.modules, "dm_control", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "rpgssm-env\[mujoco\]"'):
        gym.make(env_id)


def test_mujoco_gl_choice(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "glfw")
    assert dmc.select_mujoco_gl() == "glfw"  # the user's choice is kept
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setattr(dmc, "_egl_has_device", lambda: True)
    assert dmc.select_mujoco_gl() == "egl"
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setattr(dmc, "_egl_has_device", lambda: False)
    monkeypatch.setattr(dmc, "_load", lambda name, fallback: object())  # libOSMesa loads
    assert dmc.select_mujoco_gl() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setattr(dmc, "_load", lambda name, fallback: None)
    with pytest.raises(RuntimeError, match="apt-get install libosmesa6"):
        dmc.select_mujoco_gl()


def test_segmentation_mask_logic_on_synthetic_arrays():
    mask = SegmentationMask()
    mask._bg_ids = np.array([0, 7], np.int32)  # what bind() finds: the floor geoms
    geom, site = int(mujoco.mjtObj.mjOBJ_GEOM), int(mujoco.mjtObj.mjOBJ_SITE)
    seg = np.array(
        [
            [[-1, -1], [0, geom], [7, geom]],  # skybox, floor, another floor geom
            [[3, geom], [0, site], [8, geom]],  # body geom, site 0 (not the floor geom 0), body
        ],
        np.int32,
    )
    np.testing.assert_array_equal(mask.foreground(seg), [[False, False, False], [True, True, True]])
    with pytest.raises(RuntimeError, match="bind"):
        mask(np.zeros((2, 3, 3), np.uint8))


_SCENE = """
<mujoco>
  <worldbody>
    <light pos="0 0 3"/>
    <geom name="floor" type="plane" size="2 2 .1" rgba=".2 .3 .4 1"/>
    <camera name="eye" pos="0 -1.5 .6" xyaxes="1 0 0 0 .37 1"/>
    <body pos="0 0 .2"><geom name="box" type="box" size=".1 .1 .1"/></body>
  </worldbody>
</mujoco>
"""


def test_segmentation_mask_on_a_gymnasium_style_mujoco_model():
    class Base:  # a Gymnasium MuJoCo env exposes .model and .data
        model = mujoco.MjModel.from_xml_string(_SCENE)
        data = mujoco.MjData(model)

    mujoco.mj_forward(Base.model, Base.data)
    mask = SegmentationMask(camera="eye").bind(Base())
    try:
        fg = mask(np.zeros((24, 32, 3), np.uint8))
        assert fg.shape == (24, 32)
        assert 0.01 < fg.mean() < 0.1  # the box only: not the floor, not the sky
        assert fg[9, 15]  # the box, above the centre
        assert not fg[-1].any()
        assert not fg[0].any()
    finally:
        mask.close()


# -- rendered -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(DM_CONTROL_IDS))
def test_segmentation_keeps_the_body_exactly(env_id):
    clean = gym.make(env_id, size=40)
    env = gym.make(env_id, size=40, distractor="noise")
    try:
        a, info = clean.reset(seed=0)
        b, _ = env.reset(seed=0)
        wrapper = _distractor_wrapper(env)
        for t in range(3):
            mask = wrapper.last_foreground
            assert mask.shape == (40, 40)
            assert 0.005 < mask.mean() < 0.3, mask.mean()  # the body only
            assert not mask[0].any()
            assert not mask[-1].any()
            np.testing.assert_array_equal(a[mask], b[mask])  # system pixels unchanged
            assert np.any(a[~mask] != b[~mask], axis=-1).mean() > 0.9  # background replaced
            np.testing.assert_array_equal(wrapper.last_frame, a)  # same render, same camera
            action = np.full(clean.action_space.shape, 0.5 - t / 2, np.float32)
            a, _, _, _, info = clean.step(action)
            b, _, _, _, _ = env.step(action)
        physics = clean.unwrapped._env.physics
        state = info["state"]
        assert state.dtype == np.float32
        np.testing.assert_allclose(
            state, np.concatenate([physics.data.qpos, physics.data.qvel]), rtol=1e-6
        )
        names = STATE_NAMES[env_id]
        assert state_names_for(clean) == (*names, *(f"{n}_dot" for n in names))
        assert state.shape == (2 * len(names),)
    finally:
        clean.close()
        env.close()


def test_cartpole_state_and_render_settings():
    env = gym.make("rpgssm/cartpole-swingup-v0", size=(16, 720))  # wider than MuJoCo's 640 buffer
    try:
        obs, info = env.reset(seed=1)
        assert obs.shape == (16, 720, 3)
        assert env.spec.max_episode_steps == 1000
        assert env.action_space == gym.spaces.Box(-1, 1, (1,), np.float32)
        quality = env.unwrapped._env.physics.model.vis.quality
        assert quality.shadowsize == 0
        assert quality.offsamples == 0
        x, theta = info["state"][:2]
        assert abs(x) < 0.1
        assert abs(theta - np.pi) < 0.5
    finally:
        env.close()


def test_checkers_with_a_distractor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advisory: wrapped env, image smaller than 36x36
        env = gym.make("rpgssm/cartpole-swingup-v0", size=24, distractor="shapes")
        check_env(env)
        env.close()
        env = gym.make("rpgssm/cartpole-swingup-v0", size=24, distractor="shapes")
        sb3_check_env(env)
        env.close()


def test_seeding_repeatable():
    def run(seed):
        env = gym.make("rpgssm/cartpole-swingup-v0", size=24, distractor="video")
        env.action_space.seed(seed)
        frames, states = [], []
        obs, info = env.reset(seed=seed)
        for _ in range(4):
            frames.append(obs)
            states.append(info["state"])
            obs, _, _, _, info = env.step(env.action_space.sample())
        again = env.reset(seed=seed)[0]  # a second seeded reset repeats the first episode
        env.close()
        return np.stack(frames), np.stack(states), again

    a, sa, a_again = run(3)
    b, sb, _ = run(3)
    c, sc, _ = run(4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(a[0], a_again)
    assert not np.array_equal(sa, sc)
    assert not np.array_equal(a, c)
