"""Agents on latents, pixels and states: train, save/load (agent + filter), online EM."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from rpgssm_env.agents import default_hyperparams, load_agent, make_agent_env, train_agent
from rpgssm_env.agents.core import algo_class, evaluate_agent, evaluate_random, quiet_logger
from rpgssm_env.agents.hyperparams import resolve_hyperparams
from rpgssm_env.agents.online_em import OnlineEM, OnlineEMCallback, RecordedEpisodes
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig

SIZE = 32
PENDULUM = "rpgssm/Pendulum-v0"
CARTPOLE = "rpgssm/CartPole-v0"


def _model(action_kind: str, **kw) -> RPGSSM:
    torch.manual_seed(0)
    extra = {"action_dim": 1} if action_kind == "continuous" else {"num_actions": 2}
    return RPGSSM(
        RPGSSMConfig(
            latent_dim=4,
            obs_shape=(SIZE, SIZE, 3),
            channels=(8, 8, 8),
            strides=(2, 2, 2),
            prior="general",
            action_kind=action_kind,
            **extra,
            **kw,
        )
    )


@pytest.fixture(scope="module")
def pendulum_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "pendulum.pt"
    _model("continuous").save(path)
    return path


@pytest.fixture(scope="module")
def cartpole_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "cartpole.pt"
    _model("discrete").save(path)
    return path


def _weights(wrapper) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in wrapper.filter.model.state_dict().items()}


def _rollout_actions(agent_model, venv, steps: int) -> tuple[np.ndarray, np.ndarray]:
    obs = venv.reset()
    feats, acts = [], []
    for _ in range(steps):
        action, _ = agent_model.predict(obs, deterministic=True)
        feats.append(np.array(obs))
        acts.append(np.array(action))
        obs, _, _, _ = venv.step(action)
    return np.stack(feats), np.stack(acts)


def test_hyperparams_table():
    hp = default_hyperparams("SAC", PENDULUM)
    assert hp["learning_rate"] == 1e-3
    assert hp["n_timesteps"] == 20_000
    ppo = default_hyperparams("PPO", CARTPOLE)
    kwargs = resolve_hyperparams(ppo)
    assert callable(kwargs["learning_rate"])
    assert kwargs["learning_rate"](0.5) == pytest.approx(5e-4)
    assert "n_envs" not in kwargs
    assert "n_timesteps" not in kwargs
    td3 = resolve_hyperparams(default_hyperparams("TD3", PENDULUM), action_dim=1)
    assert "action_noise" in td3
    with pytest.raises(ValueError, match="algo"):
        default_hyperparams("XYZ", PENDULUM)
    # a pixel id gets its own entry, else the tuned settings of its state version
    tracking = "rpgssm/CartPoleTracking-v0"
    assert default_hyperparams("PPO", tracking) == {"n_timesteps": 300_000, "n_envs": 8}
    assert default_hyperparams("DQN", tracking) == default_hyperparams("DQN", "CartPole-v1")
    assert default_hyperparams("DQN", tracking)["learning_rate"] == 2.3e-3  # not the fallback


@pytest.mark.parametrize(
    ("env_id", "algo", "ckpt", "hp", "stack"),
    [
        (PENDULUM, "SAC", "pendulum_ckpt", {"learning_starts": 50, "batch_size": 32}, 2),
        (CARTPOLE, "PPO", "cartpole_ckpt", {"n_steps": 64, "batch_size": 32, "n_epochs": 2}, 1),
    ],
)
def test_latent_agent_save_load_identical_actions(tmp_path, request, env_id, algo, ckpt, hp, stack):
    ckpt_path = request.getfixturevalue(ckpt)
    out = tmp_path / "run"
    settings = {
        "obs": "latent",
        "checkpoint": ckpt_path,
        "steps": 256,
        "n_envs": 2 if algo == "PPO" else 1,
        "seed": 1,
        "out": out,
        "hyperparams": hp,
        "eval_every": 128,
        "eval_episodes": 1,
        "env_kwargs": {"size": SIZE},
        "vec": "dummy",
        "latent_stack": stack,
        "checkpoint_every": 128,
        "progress": False,
    }
    run = train_agent(env_id, algo, **settings)
    try:
        K = run.env.filter.model.config.latent_dim
        assert run.env.observation_space.shape == (stack * K,)  # features="mean", stacked
        assert run.evaluations
        assert np.isfinite(run.evaluations[-1]["mean"])
        for name in ("agent.zip", "filter.pkl", "config.json", "evaluations.json"):
            assert (out / name).is_file(), name
        assert json.loads((out / "config.json").read_text())["complete"] is True
        assert any((out / "tb").iterdir())
        # the in-memory agent and filter vs. the restored ones, on the same seeded env
        ref_env = make_agent_env(
            env_id,
            "latent",
            model=run.env.filter.model,
            seed=7,
            env_kwargs={"size": SIZE},
            vec="dummy",
            latent_stack=stack,
        )
        feats_a, acts_a = _rollout_actions(run.model, ref_env, 40)
        ref_env.close()
    finally:
        run.close()
    agent = load_agent(out, seed=7)
    try:
        feats_b, acts_b = _rollout_actions(agent.model, agent.env, 40)
    finally:
        agent.close()
    np.testing.assert_allclose(feats_a, feats_b, atol=1e-6)
    np.testing.assert_array_equal(acts_a, acts_b)
    # best/: the agent and filter of the best evaluation, as saved at that step
    best = json.loads((out / "best" / "best.json").read_text())
    means = [e["mean"] for e in run.evaluations]
    assert best["mean"] == max(means)
    assert best["timesteps"] == run.evaluations[means.index(max(means))]["timesteps"]
    at_best = out / "checkpoints" / f"step_{best['timesteps']}"
    cls = algo_class(algo)
    params = cls.load(out / "best" / "agent.zip").policy.state_dict()
    for k, v in cls.load(at_best / "agent.zip").policy.state_dict().items():
        torch.testing.assert_close(params[k], v)
    assert (out / "best" / "filter.pkl").read_bytes() == (at_best / "filter.pkl").read_bytes()
    best_agent = load_agent(out / "best", seed=7)
    assert best_agent.config["env_id"] == env_id
    best_agent.close()
    # a second call with the same settings resumes the finished run instead of training
    again = train_agent(env_id, algo, **settings)
    assert again.resumed
    again.close()


def test_online_em_callback_updates_filter(pendulum_ckpt):
    venv = make_agent_env(
        PENDULUM,
        "latent",
        model=pendulum_ckpt,
        n_envs=2,
        seed=0,
        env_kwargs={"size": SIZE},
        vec="dummy",
        training=True,
    )
    try:
        from stable_baselines3 import SAC

        before = _weights(venv)
        cb = OnlineEMCallback(
            60,
            steps_per_update=2,
            window=8,
            batch_size=4,
            lr=1e-3,
            max_seconds=5.0,
            probe_targets=None,
        )
        model = SAC("MlpPolicy", venv, learning_starts=50, batch_size=16, seed=0)
        model.set_logger(quiet_logger())
        model.learn(150, callback=cb)
        after = _weights(venv)
        assert cb.em is not None
        assert cb.em.updates >= 1
        assert any(not torch.equal(before[k], after[k]) for k in before)
        assert all(torch.isfinite(v).all() for v in after.values())
        hist = cb.em.history[-1]
        assert np.isfinite(hist["loss"])
        assert hist["em_steps"] >= 1
        assert any(k.startswith("r2_") for k in hist)  # true states were recorded
        # the recorder's windows never mix episodes: each recorded episode starts at a first
        source = RecordedEpisodes(venv.recorder, 8)
        assert len(source) >= 2
        assert source.spec.state_dim == 2
        # frozen: training=False records nothing and leaves the weights alone
        venv.training = False
        venv.recorder.clear()
        frozen = _weights(venv)
        model.learn(
            150,
            callback=OnlineEMCallback(60, steps_per_update=2, window=8),
            reset_num_timesteps=False,
        )
        assert all(torch.equal(frozen[k], v) for k, v in _weights(venv).items())
        assert len(venv.recorder) == 0
    finally:
        venv.close()


def test_online_em_bounded_and_discrete(cartpole_ckpt):
    venv = make_agent_env(
        CARTPOLE,
        "latent",
        model=cartpole_ckpt,
        n_envs=2,
        seed=0,
        env_kwargs={"size": SIZE},
        vec="dummy",
        training=True,
    )
    try:
        venv.reset()
        for _ in range(60):
            venv.step(np.array([venv.action_space.sample() for _ in range(2)]))
        em = OnlineEM(venv, steps_per_update=50, max_seconds=0.0, window=4, batch_size=4)
        stats = em.update()
        assert stats is not None
        assert stats["em_steps"] == 1
        assert all(torch.isfinite(v).all() for v in venv.filter.model.state_dict().values())
    finally:
        venv.close()


def test_agent_without_out_dir_writes_no_files(tmp_path, monkeypatch, capsys):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # SB3 puts its default log dirs here
    for verbose in (0, 1):
        run = train_agent(PENDULUM, "PPO", obs="state", steps=64, n_envs=1, out=None,
                          verbose=verbose, hyperparams={"n_steps": 32, "batch_size": 16},
                          eval_every=0, progress=False)  # fmt: skip
        run.close()
    assert [p.name for p in scratch.iterdir() if p.name.startswith("SB3")] == []
    assert "total_timesteps" in capsys.readouterr().out  # verbose=1 still prints SB3's tables


def test_state_and_pixel_agents(tmp_path):
    st = train_agent(
        PENDULUM,
        "SAC",
        obs="state",
        steps=120,
        out=tmp_path / "state",
        hyperparams={"learning_starts": 60, "batch_size": 16},
        eval_every=0,
        progress=False,
    )
    assert st.env.observation_space.shape == (3,)  # Pendulum-v1's own (cos, sin, omega)
    st.close()
    px = train_agent(
        PENDULUM,
        "SAC",
        obs="pixels",
        steps=80,
        out=tmp_path / "pixels",
        hyperparams={"learning_starts": 60, "batch_size": 8},
        eval_every=80,
        eval_episodes=1,
        env_kwargs={"size": 48},
        progress=False,
    )
    assert px.model.observation_space.shape == (9, 48, 48)  # 3 stacked RGB frames, CHW
    assert px.evaluations
    px.close()
    agent = load_agent(tmp_path / "pixels")
    r = evaluate_agent(agent, 1)
    agent.close()
    assert r["lengths"] == [200]
    assert np.isfinite(r["mean"])


def test_latent_agent_renders_the_models_frame_size(tmp_path):
    """Without ``size``, the latent env renders what the checkpoint takes (here grey 24x40),
    and the saved run remembers it."""
    torch.manual_seed(0)
    cfg = RPGSSMConfig(latent_dim=3, obs_shape=(24, 40, 1), channels=(4, 4), strides=(2, 2),
                       prior="general", action_kind="discrete", num_actions=2)  # fmt: skip
    ckpt = tmp_path / "wide.pt"
    RPGSSM(cfg).save(ckpt)
    hp = {"n_steps": 32, "batch_size": 16, "n_epochs": 1}
    run = train_agent(CARTPOLE, "PPO", obs="latent", checkpoint=ckpt, steps=32, n_envs=1,
                      hyperparams=hp, eval_every=0, out=tmp_path / "run",
                      progress=False)  # fmt: skip
    frames = run.env.get_attr("observation_space")[0].shape  # the pixel envs under the filter
    assert frames == (24, 40, 1)
    run.close()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["env_kwargs"] == {
        "size": [24, 40],
        "grayscale": True,
    }
    loaded = load_agent(tmp_path / "run")
    assert loaded.env.get_attr("observation_space")[0].shape == (24, 40, 1)
    loaded.close()


def test_evaluate_random():
    r = evaluate_random(PENDULUM, 3, seed=0)
    assert len(r["returns"]) == 3
    assert -2000 < r["mean"] < 0


def test_errors(pendulum_ckpt):
    with pytest.raises(ValueError, match="checkpoint"):
        train_agent(PENDULUM, "SAC", obs="latent", steps=10, progress=False)
    with pytest.raises(ValueError, match="obs"):
        train_agent(PENDULUM, "SAC", obs="rgb", steps=10, progress=False)
    with pytest.raises(ValueError, match="online_em"):
        train_agent(PENDULUM, "SAC", obs="state", steps=10, online_em=True, progress=False)


def test_example_train_sac_latent(tmp_path, pendulum_ckpt):
    """The CleanRL-style example runs end to end with a tiny budget (as a subprocess)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "train_sac_latent.py"
    cmd = [
        sys.executable,
        str(script),
        "--checkpoint",
        str(pendulum_ckpt),
        "--size",
        str(SIZE),
        "--distractor",
        "none",
        "--total-timesteps",
        "260",
        "--learning-starts",
        "100",
        "--batch-size",
        "32",
        "--log-dir",
        str(tmp_path / "tb"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "episodic_return" in proc.stdout


def test_cli_train_and_bench_rl(tmp_path, capsys, pendulum_ckpt):
    from rpgssm_env.cli import main

    out = tmp_path / "train"
    argv = [
        "train",
        PENDULUM,
        "--obs",
        "state",
        "--steps",
        "120",
        "--out",
        str(out),
        "--hp",
        "learning_starts=60",
        "--hp",
        "batch_size=16",
        "--eval-every",
        "0",
        "--quiet",
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["out"] == str(out)
    assert (out / "agent.zip").is_file()
    bench = tmp_path / "bench"
    argv = [
        "bench-rl",
        PENDULUM,
        "--rows",
        "state,latent+em,random",
        "--cols",
        "video",
        "--seeds",
        "0",
        "--steps",
        "120",
        "--eval-episodes",
        "1",
        "--eval-every",
        "120",
        "--random-episodes",
        "2",
        "--checkpoint",
        str(pendulum_ckpt),
        "--size",
        str(SIZE),
        "--hp",
        "learning_starts=60",
        "--hp",
        "batch_size=16",
        "--out",
        str(bench),
        "--quiet",
    ]
    assert main(argv) == 0
    for name in ("results.json", "table.md", "curves.png"):
        assert (bench / name).is_file(), name
    results = json.loads((bench / "results.json").read_text())
    summary = results["summary"]
    assert summary["state"]["video"]["normalized"] == pytest.approx(1.0)
    assert summary["random"]["video"]["normalized"] == pytest.approx(0.0)
    assert "latent+em" in summary
    assert "latent+em" in (bench / "table.md").read_text()


def test_bench_train_clean_protocol(tmp_path, pendulum_ckpt):
    """DMControl-GB protocol: each seed trains once on clean frames and is evaluated under
    every column; ``latent+em`` is the same agent with online EM at test time."""
    from rpgssm_env.agents.bench import run_benchmark

    out = tmp_path / "gb"
    results = run_benchmark(
        PENDULUM,
        "SAC",
        rows=("latent", "latent+em"),
        cols=("none", "video"),
        steps=120,
        out=out,
        checkpoints={"*": str(pendulum_ckpt)},
        protocol="train-clean",
        eval_episodes=2,
        eval_every=0,
        stack=1,
        hyperparams={"learning_starts": 60, "batch_size": 16},
        online_em={"every_n_steps": 50, "steps_per_update": 1, "window": 4, "batch_size": 2},
        env_kwargs={"size": SIZE},
        progress=False,
    )
    cells = results["cells"]
    run_dir = cells["latent"]["none"]["0"]["run"]
    assert run_dir.endswith("latent/none/seed0")
    assert not (out / "runs" / "latent" / "video").exists()  # trained on clean frames only
    for row in ("latent", "latent+em"):
        for col in ("none", "video"):
            assert cells[row][col]["0"]["run"] == run_dir
            assert cells[row][col]["0"]["eval_distractor"] == col
            em = row == "latent+em"
            assert (tmp_path / run_dir / f"eval_{col}_{'em' if em else 'frozen'}_2.json").is_file()
            # 2 x 200 evaluation steps, an EM update every 50 once 2 episodes are recorded
            updates = cells[row][col]["0"]["final"]["online_em_updates"]
            assert updates >= 3 if em else updates == 0
    assert results["checkpoints"] == {"none": str(pendulum_ckpt)}


def test_pixel_off_policy_on_cpu_warns_about_its_run_time():
    """SB3's batch 256 CnnPolicy updates run ~2 env steps/s on a CPU core: say so up front."""
    from rpgssm_env.agents.core import _warn_slow_pixel_updates

    with pytest.warns(UserWarning, match=r"~2\.8 h.*batch_size': 64"):
        _warn_slow_pixel_updates("SAC", {"batch_size": 256}, 20_000, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_slow_pixel_updates("SAC", {"batch_size": 64}, 20_000, "cpu")  # the fast remedy
        _warn_slow_pixel_updates("SAC", {"batch_size": 256}, 200, "cpu")  # minutes: no fuss
        _warn_slow_pixel_updates("PPO", {"batch_size": 256}, 20_000, "cpu")  # on-policy
        _warn_slow_pixel_updates("SAC", {"batch_size": 256}, 20_000, "cuda")
