"""Latent-state wrappers: single env, Gymnasium vector env, SB3 VecEnv, factory (issue 4).

Most tests use a tiny fake env with short episodes (16x16 colour frames, episodes of 2-5 steps
ending by termination or truncation) and a tiny randomly initialised RP-GSSM saved to a temporary
checkpoint; a few use the real ``rpgssm/Pendulum-v0`` pixel env. Every latent observation is
checked against the batch filter (``RPGSSM.posterior(...).filtered_means``) of its episode so far.
"""

from __future__ import annotations

import sys
import warnings
from typing import ClassVar

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import rpgssm_env  # noqa: F401  (registers the ids)
from rpgssm_env.model.online import RolloutRecorder
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig
from rpgssm_env.wrappers import LatentObservation, VecLatentObservation, make_latent_env
from rpgssm_env.wrappers.vector import VectorLatentObservation

torch.set_num_threads(1)
# SubprocVecEnv workers unpickle the env factories: ship this module's fake env by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SIZE = 16
ATOL = 2e-5


class ShortEpisodeEnv(gym.Env):
    """A 1-D system drawn as a bright square on a noisy background; episodes of 2-5 steps,
    terminated when the length is even, truncated when odd. ``info["state"]`` = (x,)."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, discrete: bool = False, size: int = SIZE, render_mode: str = "rgb_array"):
        self.size = size
        self.discrete = discrete
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = (
            spaces.Discrete(3) if discrete else spaces.Box(-1.0, 1.0, (1,), np.float32)
        )
        self.render_mode = render_mode
        self._frame = np.zeros((size, size, 3), np.uint8)

    def _observe(self) -> tuple[np.ndarray, dict]:
        frame = self.np_random.integers(0, 60, size=(self.size, self.size, 3), dtype=np.uint8)
        col = int((np.tanh(self.x) + 1) / 2 * (self.size - 4))
        frame[4:8, col : col + 4] = 255
        self._frame = frame
        return frame.copy(), {"state": np.array([self.x], np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.normal())
        self.t = 0
        self.length = int(self.np_random.integers(2, 6))
        return self._observe()

    def step(self, action):
        a = float(action) - 1.0 if self.discrete else float(np.asarray(action).reshape(-1)[0])
        self.x = 0.9 * self.x + 0.5 * a
        self.t += 1
        end = self.t >= self.length
        frame, info = self._observe()
        return frame, -(self.x**2), end and self.length % 2 == 0, end and self.length % 2 == 1, info

    def render(self):
        return self._frame.copy()


def _make_model(discrete: bool = False, size: int = SIZE, seed: int = 0, **kw) -> RPGSSM:
    torch.manual_seed(seed)
    cfg = RPGSSMConfig(
        latent_dim=3, obs_shape=(size, size, 3), channels=(4, 8), strides=(2, 2),
        prior="general", action_kind="discrete" if discrete else "continuous",
        action_dim=None if discrete else 1, num_actions=3 if discrete else None, **kw,
    )  # fmt: skip
    model = RPGSSM(cfg).eval()
    with torch.no_grad():  # informative potentials and actions
        for name, p in model.named_parameters():
            if "head" in name or "actions" in name:
                p.add_(0.5 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    _make_model().save(path)
    return path


@pytest.fixture(scope="module")
def model(ckpt):
    return RPGSSM.load(ckpt, device="cpu")


class EpisodeTracker:
    """Per env: the frames and actions of the episode so far, and the batch filter's belief."""

    def __init__(self, model: RPGSSM, n: int):
        self.model = model
        self.frames: list[list[np.ndarray]] = [[] for _ in range(n)]
        self.actions: list[list] = [[] for _ in range(n)]

    def start(self, i, frame):
        self.frames[i] = [frame]
        self.actions[i] = []

    def add(self, i, frame, action):
        self.frames[i].append(frame)
        self.actions[i].append(np.asarray(action).reshape(-1))

    def belief(self, i) -> np.ndarray:
        obs = torch.as_tensor(np.stack(self.frames[i]))[None]
        acts = None
        if self.actions[i]:
            acts = torch.as_tensor(np.stack(self.actions[i]))[None]
            acts = acts[..., 0].long() if self.model.config.action_kind == "discrete" else acts
        elif self.model.config.action_kind == "continuous":
            acts = torch.zeros(1, 0, 1)
        elif self.model.config.action_kind == "discrete":
            acts = torch.zeros(1, 0, dtype=torch.long)
        post = self.model.posterior(obs, acts)
        return post.filtered_means[0, -1].numpy()


# ----------------------------------------------------------------------------------------------
# SB3 VecEnv


@pytest.mark.parametrize("vec", ["dummy", "subproc"])
def test_sb3_vec_env_terminal_observation_and_autoreset(vec, ckpt, model):
    n = 3
    fns = [ShortEpisodeEnv for _ in range(n)]
    venv = DummyVecEnv(fns) if vec == "dummy" else SubprocVecEnv(fns)
    env = VecLatentObservation(venv, ckpt, device="cpu", pixels_in_info=True)
    assert env.observation_space == spaces.Box(-np.inf, np.inf, (3,), np.float32)
    env.seed(0)
    obs = env.reset()
    assert obs.shape == (n, 3)
    assert obs.dtype == np.float32
    track = EpisodeTracker(model, n)
    for i in range(n):
        track.start(i, env.last_frames[i])
        np.testing.assert_allclose(obs[i], track.belief(i), atol=ATOL)
    rng = np.random.default_rng(0)
    n_done = 0
    for _ in range(20):
        actions = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
        obs, _, dones, infos = env.step(actions)
        assert obs.shape == (n, 3)
        for i in range(n):
            if dones[i]:
                n_done += 1
                track.add(i, infos[i]["terminal_pixels"], actions[i])
                term = infos[i]["terminal_observation"]
                assert term.shape == (3,)
                assert term.dtype == np.float32
                np.testing.assert_allclose(term, track.belief(i), atol=ATOL)
                track.start(i, infos[i]["pixels"])
            else:
                track.add(i, infos[i]["pixels"], actions[i])
            assert "state" in infos[i]
            np.testing.assert_allclose(obs[i], track.belief(i), atol=ATOL)
    assert n_done >= 5
    frames = env.get_images()
    assert len(frames) == n
    assert frames[0].shape == (SIZE, SIZE, 3)
    env.close()
    if vec == "subproc":
        assert all(not p.is_alive() for p in venv.processes)


def test_sb3_save_load_training_recorder_and_weight_swap(tmp_path, model):
    venv = DummyVecEnv([ShortEpisodeEnv, ShortEpisodeEnv])
    env = VecLatentObservation(venv, model, features="mean+std", device="cpu", training=True)
    env.seed(3)
    env.reset()
    actions = np.array([[0.5], [-0.5]], np.float32)
    for _ in range(6):
        env.step(actions)
    assert isinstance(env.recorder, RolloutRecorder)
    frames, acts, firsts = env.recorder.stream(0)
    assert frames.shape[1:] == (SIZE, SIZE, 3)
    assert firsts[0]
    assert firsts.sum() >= 2  # episodes of 2-5 steps: a restart within 6 steps
    assert len(frames) >= 7  # 1 + 6 steps + the terminal frames kept apart by the autoreset
    np.testing.assert_allclose(acts[~firsts, 0], 0.5)

    path = tmp_path / "latent.pkl"
    env.save(path)
    loaded = VecLatentObservation.load(path, DummyVecEnv([ShortEpisodeEnv, ShortEpisodeEnv]))
    assert loaded.training
    assert loaded.recorder is None  # recorded frames are not saved
    for w in (env, loaded):
        w.training = False
        w.seed(7)
    a, b = env.reset(), loaded.reset()
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(env.step(actions)[0], loaded.step(actions)[0], rtol=1e-6)
    with pytest.raises(ValueError, match="already has a venv"):
        loaded.set_venv(venv)

    # weights swapped in place: the same envs, new beliefs
    other = _make_model(seed=9)
    env.filter.load_state_dict(other.state_dict())
    env.seed(7)
    c = env.reset()
    assert not np.allclose(a, c)
    assert env.filter.model is model
    env.close()
    loaded.close()


def test_sb3_bad_spaces_raise_clear_errors(ckpt):
    venv = DummyVecEnv([lambda: ShortEpisodeEnv(size=24)])
    msg = r"expects 16x16 frames with 3 channel\(s\).*\(24, 24, 3\)"
    with pytest.raises(ValueError, match=msg):
        VecLatentObservation(venv, ckpt, device="cpu")
    venv = DummyVecEnv([lambda: ShortEpisodeEnv(discrete=True)])
    with pytest.raises(ValueError, match=r"continuous actions of dimension 1.*Discrete\(3\)"):
        VecLatentObservation(venv, ckpt, device="cpu")


# ----------------------------------------------------------------------------------------------
# Gymnasium vector env


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_gymnasium_vector_autoreset_modes(mode):
    n = 3
    model = _make_model(discrete=True)
    envs = SyncVectorEnv([lambda: ShortEpisodeEnv(discrete=True)] * n, autoreset_mode=mode)
    env = VectorLatentObservation(envs, model, device="cpu", pixels_in_info=True)
    assert env.single_observation_space.shape == (3,)
    assert env.observation_space.shape == (n, 3)
    obs, infos = env.reset(seed=1)
    assert obs in env.observation_space
    track = EpisodeTracker(model, n)
    for i in range(n):
        track.start(i, infos["pixels"][i])
        np.testing.assert_allclose(obs[i], track.belief(i), atol=ATOL)
    rng = np.random.default_rng(1)
    starting = np.zeros(n, bool)
    n_done = 0
    for _ in range(20):
        actions = rng.integers(0, 3, size=n)
        obs, _, term, trunc, infos = env.step(actions)
        assert "state" in infos
        for i in range(n):
            frame = infos["pixels"][i]
            if mode == AutoresetMode.NEXT_STEP:
                if starting[i]:
                    track.start(i, frame)
                else:
                    track.add(i, frame, actions[i])
            elif term[i] or trunc[i]:
                track.add(i, infos["final_pixels"][i], actions[i])
                np.testing.assert_allclose(infos["final_obs"][i], track.belief(i), atol=ATOL)
                track.start(i, frame)
            else:
                track.add(i, frame, actions[i])
            np.testing.assert_allclose(obs[i], track.belief(i), atol=ATOL)
        starting = term | trunc
        n_done += int(starting.sum())
    assert n_done >= 5
    assert len(env.render()) == n
    env.close()


def test_gymnasium_vector_disabled_autoreset_with_reset_mask():
    model = _make_model()
    envs = SyncVectorEnv([ShortEpisodeEnv] * 2, autoreset_mode=AutoresetMode.DISABLED)
    env = VectorLatentObservation(envs, model, device="cpu", pixels_in_info=True)
    obs, infos = env.reset(seed=2)
    track = EpisodeTracker(model, 2)
    for i in range(2):
        track.start(i, infos["pixels"][i])
    a = np.zeros((2, 1), np.float32)
    for _ in range(12):
        obs, _, term, trunc, infos = env.step(a)
        for i in range(2):
            track.add(i, infos["pixels"][i], a[i])
            np.testing.assert_allclose(obs[i], track.belief(i), atol=ATOL)
        done = term | trunc
        if done.any():
            obs, infos = env.reset(options={"reset_mask": done})
            for i in np.flatnonzero(done):
                track.start(i, infos["pixels"][i])
            for i in range(2):
                np.testing.assert_allclose(obs[i], track.belief(i), atol=ATOL)
    env.close()


# ----------------------------------------------------------------------------------------------
# Single env, checkers, registration, factory


def test_single_env_checkers_render_and_pixels(ckpt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advisory warnings (infinite bounds, action range)
        check_env(LatentObservation(ShortEpisodeEnv(), ckpt, device="cpu"))
        sb3_check_env(LatentObservation(ShortEpisodeEnv(), ckpt, device="cpu"))
    env = LatentObservation(
        ShortEpisodeEnv(), ckpt, features="mean+cov", device="cpu", pixels_in_info=True
    )
    assert env.observation_space.shape == (3 + 6,)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space
    assert info["pixels"].shape == (SIZE, SIZE, 3)
    assert info["state"].shape == (1,)
    obs, _, _, _, info = env.step(np.array([0.3], np.float32))
    np.testing.assert_array_equal(env.render(), info["pixels"])
    means, covs = env.predict(np.zeros((4, 1), np.float32))
    assert means.shape == (4, 3)
    assert covs.shape == (4, 3, 3)


def test_single_env_bad_checkpoint_raises(tmp_path):
    path = tmp_path / "big.pt"
    _make_model(size=24).save(path)
    with pytest.raises(ValueError, match=r"expects 24x24 frames.*shape \(16, 16, 3\)"):
        LatentObservation(ShortEpisodeEnv(), path, device="cpu")
    disc = tmp_path / "disc.pt"
    _make_model(discrete=True).save(disc)
    with pytest.raises(ValueError, match=r"3 discrete actions.*Box"):
        LatentObservation(ShortEpisodeEnv(), disc, device="cpu")
    with pytest.raises(FileNotFoundError):
        LatentObservation(ShortEpisodeEnv(), tmp_path / "missing.pt", device="cpu")


def test_registered_latent_env_on_the_real_pendulum(tmp_path):
    path = tmp_path / "pend.pt"
    _make_model(size=24).save(path)
    env = gym.make(
        "rpgssm/Latent-v0", env_id="rpgssm/Pendulum-v0", checkpoint=str(path), size=24,
        distractor="shapes", features="mean+std", device="cpu",
    )  # fmt: skip
    assert env.observation_space.shape == (6,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    obs, info = env.reset(seed=0)
    assert info["state"].shape == (2,)
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (6,)
    assert (obs[3:] >= 0).all()
    assert env.render().ndim == 3
    env.close()


def test_make_latent_env_subproc_and_errors(tmp_path):
    path = tmp_path / "pend.pt"
    _make_model(size=24).save(path)
    venv = make_latent_env(
        "rpgssm/Pendulum-v0", path, n_envs=2, distractor="noise", vec="subproc", device="cpu",
        seed=0, env_kwargs={"size": 24},
    )  # fmt: skip
    assert isinstance(venv, VecLatentObservation)
    obs = venv.reset()
    assert obs.shape == (2, 3)
    obs, _, _, infos = venv.step(np.zeros((2, 1), np.float32))
    assert obs.shape == (2, 3)
    assert infos[0]["state"].shape == (2,)
    procs = venv.venv.processes
    venv.close()
    assert all(not p.is_alive() for p in procs)
    # a checkpoint for 16x16 frames does not fit 24x24 pendulum frames
    small = tmp_path / "small.pt"
    _make_model(size=SIZE).save(small)
    with pytest.raises(ValueError, match=r"expects 16x16 frames"):
        make_latent_env("rpgssm/Pendulum-v0", small, n_envs=1, vec="dummy", device="cpu",
                        env_kwargs={"size": 24})  # fmt: skip
    with pytest.raises(ValueError, match="vec must be"):
        make_latent_env("rpgssm/Pendulum-v0", small, vec="threads")
