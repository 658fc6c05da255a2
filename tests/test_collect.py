"""Rollout collection, data set round trips, readers, the CLI and the paper's data set."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import rpgssm_env  # noqa: F401
from rpgssm_env.cli import main
from rpgssm_env.data.hdf5 import HDF5Episodes, HDF5EpisodeWriter
from rpgssm_env.data.io import open_dataset
from rpgssm_env.data.minari_source import MinariEpisodes
from rpgssm_env.envs.collect import iter_episodes, load_policy, rollout_episode, write_dataset

ENV_KWARGS = {"size": 24, "distractor": "shapes"}


def direct_episodes(env_id, n, seed, max_steps, policy="random", env_kwargs=ENV_KWARGS):
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    pol = load_policy(policy, env)
    return [rollout_episode(env, pol, seed + i, max_steps) for i in range(n)]


def test_hdf5_round_trip_with_two_workers(tmp_path):
    path = write_dataset(
        tmp_path / "ds",
        "rpgssm/Pendulum-v0",
        3,
        seed=10,
        workers=2,
        env_kwargs=ENV_KWARGS,
        max_steps=6,
    )
    assert path == tmp_path / "ds" / "episodes.h5"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    expected = direct_episodes("rpgssm/Pendulum-v0", 3, 10, 6)
    with open_dataset(tmp_path / "ds") as src:
        assert isinstance(src, HDF5Episodes)
        assert len(src) == 3
        assert src.spec.obs_shape == (24, 24, 3)
        assert src.spec.obs_dtype == np.uint8
        assert src.spec.action_shape == (1,)
        assert src.spec.state_names == ("theta", "omega")
        assert src.spec.metadata["env_kwargs"] == ENV_KWARGS
        np.testing.assert_array_equal(src.lengths(), [7, 7, 7])
        for i, ep in enumerate(expected):
            seg = src.read(i)
            np.testing.assert_array_equal(seg.obs, ep["obs"])
            np.testing.assert_array_equal(seg.actions, ep["actions"])
            np.testing.assert_array_equal(seg.states, ep["states"])
            full = src.episode(i)
            np.testing.assert_array_equal(full["rewards"], ep["rewards"])
            assert full["truncations"].dtype == bool
        window = src.read(1, 2, 5)
        assert window.obs.shape == (3, 24, 24, 3)
        assert window.actions.shape == (2, 1)
        np.testing.assert_array_equal(window.states, expected[1]["states"][2:5])
        with pytest.raises(IndexError):
            src.read(0, 5, 99)
    with h5py.File(path) as f:
        obs = f["episodes/000000/obs"]
        assert obs.compression == "gzip"
        assert obs.chunks[1:] == (24, 24, 3)


def test_discrete_actions_and_episode_end(tmp_path):
    path = write_dataset(
        tmp_path / "cp.h5", "rpgssm/CartPole-v0", 2, seed=0, env_kwargs={"size": 24}
    )
    src = open_dataset(path)
    assert src.spec.action_shape == ()
    assert src.spec.num_actions == 2
    for i in range(len(src)):
        ep = src.episode(i)
        assert ep["actions"].dtype == np.int64
        assert ep["terminations"][-1] or ep["truncations"][-1]
        assert not ep["terminations"][:-1].any()
        # CartPole ends when the pole falls: the last true state says so
        x, _, theta, _ = ep["states"][-1]
        assert abs(theta) > 0.2094 or abs(x) > 2.4 or ep["truncations"][-1]


def test_minari_round_trip(tmp_path):
    minari = pytest.importorskip("minari")
    out = write_dataset(
        tmp_path / "mn",
        "rpgssm/Pendulum-v0",
        2,
        seed=3,
        env_kwargs=ENV_KWARGS,
        max_steps=5,
        format="minari",
    )
    expected = direct_episodes("rpgssm/Pendulum-v0", 2, 3, 5)
    src = open_dataset(out)
    assert isinstance(src, MinariEpisodes)
    assert src.spec.obs_shape == (24, 24, 3)
    for i, ep in enumerate(expected):
        seg = src.read(i)
        np.testing.assert_array_equal(seg.obs, ep["obs"])  # lossless (no JPEG)
        np.testing.assert_array_equal(seg.states, ep["states"])
        np.testing.assert_allclose(seg.actions, ep["actions"])
    ds = minari.MinariDataset(out / "data")
    assert ds.total_episodes == 2
    np.testing.assert_array_equal(ds[0].observations, expected[0]["obs"])


def test_writer_is_atomic(tmp_path):
    from rpgssm_env.data.base import DataSpec

    spec = DataSpec(obs_shape=(4, 4, 1), obs_dtype=np.dtype(np.uint8))
    target = tmp_path / "x.h5"

    def crash() -> None:
        with HDF5EpisodeWriter(target, spec) as w:
            w.add_episode({"obs": np.zeros((3, 4, 4, 1), np.uint8)})
            raise RuntimeError("crash while collecting")

    with pytest.raises(RuntimeError, match="crash"):
        crash()
    assert list(tmp_path.iterdir()) == []
    with HDF5EpisodeWriter(target, spec) as w, pytest.raises(ValueError, match="shape"):
        w.add_episode({"obs": np.zeros((3, 5, 5, 1), np.uint8)})
    assert HDF5Episodes(target).lengths().tolist() == []


def test_open_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "nothing-here")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="cannot open"):
        open_dataset(junk)


def test_sb3_policy_archive(tmp_path):
    import gymnasium as gym
    from stable_baselines3 import PPO

    env = gym.make("rpgssm/Pendulum-v0", size=24)
    PPO("MlpPolicy", env, n_steps=16, batch_size=16, device="cpu").save(tmp_path / "ppo")
    policy = load_policy(str(tmp_path / "ppo.zip"), env)
    ep = rollout_episode(env, policy, seed=0, max_steps=4)
    again = rollout_episode(env, policy, seed=0, max_steps=4)
    np.testing.assert_array_equal(ep["actions"], again["actions"])  # deterministic
    assert ep["actions"].shape == (4, 1)
    with pytest.raises(ValueError, match="expects observations"):
        load_policy(str(tmp_path / "ppo.zip"), gym.make("rpgssm/Pendulum-v0", size=32))
    with pytest.raises(FileNotFoundError):
        load_policy(str(tmp_path / "nope.zip"), env)
    with pytest.raises(ValueError, match="unknown policy"):
        load_policy("smart", env)


def test_cli_collect_and_show(tmp_path, capsys):
    rc = main(
        [
            "collect",
            "rpgssm/Acrobot-v0",
            "--episodes",
            "2",
            "--out",
            str(tmp_path / "ac"),
            "--size",
            "24x32",
            "--grayscale",
            "--distractor",
            "noise",
            "--max-steps",
            "4",
            "--seed",
            "7",
            "--env-kwarg",
            "distractor_mode='fixed'",
        ]
    )
    assert rc == 0
    src = open_dataset(tmp_path / "ac")
    assert src.spec.obs_shape == (24, 32, 1)  # --size H x W
    assert src.spec.metadata["env_kwargs"]["distractor_mode"] == "fixed"
    assert src.lengths().tolist() == [5, 5]
    seg = src.read(0)
    # fixed noise behind the system: background pixels identical across the episode
    assert (seg.obs[0] == seg.obs[-1]).mean() > 0.8
    rc = main(
        [
            "show",
            "rpgssm/Pendulum-v0",
            "--distractor",
            "video",
            "--distractor",
            "hard",
            "--out",
            str(tmp_path / "grid.png"),
            "--steps",
            "4",
            "--size",
            "24",
            "--scale",
            "1",
        ]
    )
    assert rc == 0
    import imageio.v3 as iio

    grid = iio.imread(tmp_path / "grid.png")
    assert grid.shape == (3 * 26 + 2, 4 * 26 + 2, 3)
    rc = main(
        [
            "show",
            "rpgssm/CartPole-v0",
            "--distractor",
            "shapes",
            "--out",
            str(tmp_path / "anim.gif"),
            "--steps",
            "3",
            "--size",
            "24",
        ]
    )
    assert rc == 0
    assert iio.imread(tmp_path / "anim.gif").shape[0] == 3
    assert "wrote" in capsys.readouterr().out


def test_cli_rejects_a_bad_frame_size(capsys):
    with pytest.raises(SystemExit):
        main(["collect", "rpgssm/Pendulum-v0", "--episodes", "1", "--out", "x", "--size", "64x"])
    assert "frame size must be H or HxW" in capsys.readouterr().err


def test_paper_dataset(tmp_path):
    from rpgssm_env.envs.paper import generate_paper_dataset

    path = generate_paper_dataset(tmp_path / "paper.npz", n_sequences=2, seq_len=5, seed=1)
    with np.load(path) as d:
        assert d["obs"].shape == (2, 5, 24, 24, 1)
        assert d["obs"].dtype == np.uint8
        assert d["states"].shape == (2, 5, 2)
        assert "actions" not in d
        # unactuated pendulum: omega changes by 3 g / 2 sin(theta) dt per step (g=10, dt=0.05)
        (theta0, omega0), (_, omega1) = d["states"][0, 0], d["states"][0, 1]
        np.testing.assert_allclose(omega1, omega0 + 0.75 * np.sin(theta0), atol=1e-5)
        obs = d["obs"]
    assert not np.array_equal(obs[0, 0], obs[0, 1])  # new background every frame
    src = open_dataset(path)
    assert len(src) == 2
    np.testing.assert_array_equal(src.read(1).obs, obs[1])
    assert json.dumps(src.spec.obs_shape)


def test_worker_start_up_failure_raises_instead_of_hanging():
    # a multiprocessing Pool would respawn the failing workers forever
    with pytest.raises(RuntimeError, match=r"rollout worker process .* died"):
        list(iter_episodes("rpgssm/NoSuchEnv-v0", 3, workers=2))


def test_sticky_policy_holds_actions_and_is_reproducible(tmp_path):
    import gymnasium as gym

    from rpgssm_env.envs.collect import StickyRandomPolicy

    env = gym.make("Pendulum-v1")
    policy = load_policy("sticky:8", env)
    assert isinstance(policy, StickyRandomPolicy)
    assert policy.mean_hold == 8
    eps = [rollout_episode(env, policy, 5 + i, 400) for i in range(3)]
    acts = np.concatenate([ep["actions"][:, 0] for ep in eps])
    runs = 1 + np.count_nonzero(np.diff(acts))
    assert 4 < len(acts) / runs < 16  # geometric holds of mean 8 (3 episodes restart a hold)
    again = rollout_episode(env, load_policy("sticky:8", env), 6, 400)  # fresh policy, episode 2
    np.testing.assert_array_equal(again["actions"], eps[1]["actions"])

    # held torques pump energy: faster swings than i.i.d. uniform torques from the same starts
    def speed(name):  # mean |omega| over 12 episodes of 200 steps (obs: cos, sin, omega)
        pol = load_policy(name, env)
        return np.mean([np.abs(rollout_episode(env, pol, i, 200)["obs"][:, 2]) for i in range(12)])

    assert speed("sticky") > 1.1 * speed("random")  # measured 3.8 vs 3.2 rad/s
    # worker processes give the same episodes
    path = write_dataset(tmp_path / "s.h5", "Pendulum-v1", 2, policy="sticky:8", seed=5, workers=2,
                         max_steps=50)  # fmt: skip
    with open_dataset(path) as src:
        np.testing.assert_array_equal(src.read(1).actions, eps[1]["actions"][:50])
    with pytest.raises(ValueError, match="sticky:<mean hold"):
        load_policy("sticky:often", env)
    with pytest.raises(ValueError, match="sticky"):
        load_policy("wander", env)
    with pytest.raises(ValueError, match="unknown policy 'wander'"):  # before any worker starts
        write_dataset(tmp_path / "w.h5", "Pendulum-v1", 2, policy="wander", workers=2)
