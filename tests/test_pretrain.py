"""The pretraining pipeline: learning on linear-Gaussian data, outputs, best checkpoint, resume,
presets and the train/held-out split."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rpgssm_env.data.arrays import ArrayEpisodes
from rpgssm_env.data.synthetic import sample_lgssm
from rpgssm_env.model.rpgssm import RPGSSM
from rpgssm_env.training.checkpoint import read_checkpoint
from rpgssm_env.training.presets import PRESETS, get_preset
from rpgssm_env.training.pretrain import (
    build_model,
    init_transition,
    output_paths,
    pretrain,
    resolve_settings,
    rotation_blocks,
    split_source,
    spread_frequencies,
    state_targets,
)

torch.set_num_threads(1)

# a linear network on vectors: fast, and learning the dynamics is needed to pass (see
# tests/test_recovery.py: untrained posterior means reach R^2 ~ 0.7 at this noise level)
LGSSM_OPTS = {
    "latent_dim": 3,
    "hidden": (),
    "head": "constant",
    "mode": "direct",
    "lr": 3e-2,
    "lr_prior": 3e-3,
    "decay_every": 0,
    "grad_clip": 1.0,
    "batch_size": 32,
    "window": 50,
    "A_init_kind": "identity",
    "angles": (),
}


def _lgssm_npz(tmp_path, n_train=120, n_val=40, T=50, seed=0):
    rng = np.random.default_rng(seed)
    x, z, _ = sample_lgssm(n_train + n_val, T, 3, 10, rng, noise=0.8)
    train, val = tmp_path / "train.npz", tmp_path / "val.npz"
    np.savez(train, obs=x[:n_train], states=z[:n_train])
    np.savez(val, obs=x[n_train:], states=z[n_train:])
    return train, val


@pytest.fixture(scope="module")
def lgssm_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain")
    train, val = _lgssm_npz(tmp)
    out = tmp / "run" / "model.pt"
    summary = pretrain(
        train, out, val=val, steps=120, probe_every=40, progress=False, seed=0, **LGSSM_OPTS
    )
    return out, summary


def test_pretrain_learns_latents_on_lgssm(lgssm_run):
    _, summary = lgssm_run
    assert summary["steps"] == 120
    for kind, threshold in (("smoothed", 0.85), ("filtered", 0.8)):
        scores = summary["r2"][kind]
        assert set(scores) == {"s0", "s1", "s2"}
        assert min(scores.values()) > threshold, (kind, scores)
    assert summary["final_loss"]["loss"] < math.log(32) - 1.0
    # R^2 improves during training (the first probe runs after 40 steps)
    r2_first = [v for k, v in summary["evaluations"][0].items() if k.startswith("r2_smoothed")]
    r2_last = [v for k, v in summary["evaluations"][-1].items() if k.startswith("r2_smoothed")]
    assert min(r2_last) >= min(r2_first) - 0.02


def test_pretrain_writes_outputs(lgssm_run):
    out, summary = lgssm_run
    paths = output_paths(out)
    for key in ("final", "best", "summary"):
        assert paths[key].is_file(), key
    names = {p.name for p in paths["plots"].iterdir()}
    assert {"loss.png", "r2.png", "latents.png"} <= names
    on_disk = json.loads(paths["summary"].read_text())
    assert on_disk["steps"] == summary["steps"]
    assert on_disk["r2"] == summary["r2"]
    for key in ("wall_time_s", "final_loss", "held_out_loss", "settings", "evaluations"):
        assert key in on_disk
    model = RPGSSM.load(paths["final"], device="cpu")
    assert model.latent_dim == 3


def test_best_checkpoint_has_lowest_held_out_loss(lgssm_run):
    out, summary = lgssm_run
    evals = [e for e in summary["evaluations"] if "val_loss" in e]
    assert len(evals) == 3  # steps 40, 80, 120
    best = min(evals, key=lambda e: e["val_loss"])
    meta = read_checkpoint(output_paths(out)["best"])["metadata"]
    assert meta["step"] == best["step"] == summary["best"]["step"]
    assert meta["val_loss"] == pytest.approx(best["val_loss"])


@pytest.mark.parametrize("windows_per_episode", [1, 2])
def test_resume_continues_the_run(tmp_path, windows_per_episode):
    train, val = _lgssm_npz(tmp_path, n_train=40, n_val=12, T=20)
    # a beta ramp over the resume point: the schedule follows the step count; with 2 windows
    # per episode the grouped batches replay as well
    # and a radius-cap schedule over it (the resumed model must be rebuilt at the cap in force)
    opts = {**LGSSM_OPTS, "batch_size": 8, "window": 10, "beta_final": 1.0, "beta_ramp": (2, 8),
            "windows_per_episode": windows_per_episode, "A_param": "diag_sigmoid", "A_init": 0.5,
            "projection_eps": 0.1, "projection_eps_schedule": ((4, 0.02),)}  # fmt: skip
    out = tmp_path / "r" / "m.pt"
    first = pretrain(train, out, val=val, steps=6, probe_every=3, progress=False,
                     plots=False, **opts)  # fmt: skip
    assert first["steps"] == 6
    second = pretrain(train, out, val=val, steps=10, probe_every=3, progress=False,
                      plots=False, resume=True, **opts)  # fmt: skip
    assert second["steps"] == 10
    assert second["steps_this_run"] == 4
    steps = [e["step"] for e in second["evaluations"]]
    assert steps[:2] == [3, 6]
    assert steps[-1] == 10
    # an uninterrupted run of 10 steps ends at the same parameters
    straight = tmp_path / "s" / "m.pt"
    pretrain(train, straight, val=val, steps=10, probe_every=3, progress=False, plots=False,
             **opts)  # fmt: skip
    assert RPGSSM.load(out).config.beta == 1.0  # the model keeps the final weight
    assert RPGSSM.load(out).config.projection_eps == 0.02
    a = read_checkpoint(out)["model"]
    b = read_checkpoint(straight)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_pretrain_without_states_or_val(tmp_path):
    rng = np.random.default_rng(1)
    x, _, _ = sample_lgssm(20, 12, 2, 4, rng)
    path = tmp_path / "nostates.npz"
    np.savez(path, obs=x)
    summary = pretrain(path, tmp_path / "m.pt", val=None, latent_dim=2, hidden=(), steps=4,
                       batch_size=4, window=6, probe_every=2, progress=False)  # fmt: skip
    assert summary["steps"] == 4
    assert "r2" not in summary
    assert summary["held_out_episodes"] == 0


def test_split_source_is_disjoint_and_repeatable():
    src = ArrayEpisodes(np.zeros((10, 5, 3), np.float32), states=np.arange(50.0).reshape(10, 5, 1))
    tr, va = split_source(src, 0.3, seed=4)
    assert len(tr) == 7
    assert len(va) == 3
    ids_tr = {int(tr.read(i).states[0, 0]) // 5 for i in range(len(tr))}
    ids_va = {int(va.read(i).states[0, 0]) // 5 for i in range(len(va))}
    assert ids_tr.isdisjoint(ids_va)
    assert ids_tr | ids_va == set(range(10))
    _tr2, va2 = split_source(src, 0.3, seed=4)
    assert [int(va2.read(i).states[0, 0]) for i in range(3)] == [
        int(va.read(i).states[0, 0]) for i in range(3)
    ]
    with pytest.raises(ValueError, match="fraction"):
        split_source(src, 1.5)


def test_state_targets_angles():
    states = np.array([[0.5, 2.0], [np.pi / 2, -1.0]])
    y, names = state_targets(states, (0,), ("theta", "omega"))
    assert names == ["sin_theta", "cos_theta", "omega"]
    np.testing.assert_allclose(y[1], [1.0, 0.0, -1.0], atol=1e-12)


def test_rotation_blocks_and_init():
    A = rotation_blocks(5, rho=0.9, freqs=(0.1, 0.3)).double()
    s = torch.linalg.svdvals(A)
    torch.testing.assert_close(s, torch.full((5,), 0.9, dtype=torch.float64))
    angles = sorted(abs(float(torch.angle(e))) for e in torch.linalg.eigvals(A))
    np.testing.assert_allclose(angles, [0.0, 0.1, 0.1, 0.3, 0.3], atol=1e-6)
    from rpgssm_env.model.rpgssm import RPGSSMConfig

    model = RPGSSM(RPGSSMConfig(latent_dim=4, obs_shape=(3,), hidden=()))
    init_transition(model, "rotation", 0.97, (0.05, 0.4))
    assert model.prior.spectral_norm() == pytest.approx(0.97, abs=1e-6)
    with pytest.raises(ValueError, match="A_init_kind"):
        init_transition(model, "bogus", 0.9, (0.1, 0.2))
    # the rotation parametrisation starts at the same matrix as the free one
    rot = RPGSSM(RPGSSMConfig(latent_dim=5, obs_shape=(3,), hidden=(), A_param="rotation",
                              projection_eps=0.02))  # fmt: skip
    init_transition(rot, "rotation", 0.9, (0.1, 0.3))
    torch.testing.assert_close(rot.prior.A.double(), A, atol=1e-6, rtol=0)


def test_rotation_init_takes_explicit_frequencies():
    """``A_freqs`` listing all K // 2 frequencies sets them as given (both forms of A)."""
    freqs = (0.02, 0.12, 0.16, 0.2)
    A = rotation_blocks(8, rho=0.9, freqs=freqs).double()
    angles = sorted({round(abs(float(torch.angle(e))), 6) for e in torch.linalg.eigvals(A)})
    np.testing.assert_allclose(angles, freqs, atol=1e-6)
    from rpgssm_env.model.rpgssm import RPGSSMConfig

    rot = RPGSSM(RPGSSMConfig(latent_dim=8, obs_shape=(3,), hidden=(), A_param="rotation"))
    init_transition(rot, "rotation", 0.9, freqs)
    torch.testing.assert_close(rot.prior.A.double(), A, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="A_freqs must be"):
        init_transition(rot, "rotation", 0.9, (0.1, 0.2, 0.3))


def test_rotation_preset_builds_a_band_limited_stable_prior():
    """``pendulum24rot`` gives the paper-setting model a rotation-block A: radii at A_rho,
    the frequencies of A_freqs, radii capped at 1 - projection_eps = 0.97."""
    settings = resolve_settings("pendulum24rot")
    source = ArrayEpisodes(np.zeros((2, 5, 24, 24, 1), np.uint8))
    model = build_model(source, settings)
    prior = model.prior
    assert prior.A_param == "rotation"
    assert model.config.A_param == "rotation"
    rho, freqs, _ = (t.detach() for t in prior.rotation_params())
    torch.testing.assert_close(rho, torch.full((4,), 0.96))
    want = torch.as_tensor(spread_frequencies(4, settings["A_freqs"]), dtype=torch.float64)
    assert float(want.max()) < 0.25  # every pair starts near or below the pendulum's 0.19
    assert float(want.min()) < 0.05  # and one slow pair (it holds cos theta)
    torch.testing.assert_close(freqs.double(), want)
    with torch.no_grad():
        prior.A_raw.fill_(40.0)
    assert prior.spectral_norm() == pytest.approx(0.97)


def test_presets_and_overrides():
    assert {"pendulum24", "pendulum64", "cartpole64"} <= set(PRESETS)
    settings = resolve_settings("pendulum24", window=7, lr=None)
    assert settings["window"] == 7
    assert settings["lr"] == get_preset("pendulum24")["lr"]  # None falls back to the preset
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("nope")
    with pytest.raises(ValueError, match="unknown settings"):
        resolve_settings(None, not_a_setting=1)


def test_init_fine_tunes_a_trained_model(lgssm_run, tmp_path):
    out, _ = lgssm_run
    train, val = _lgssm_npz(tmp_path)  # the data the model was trained on
    # 5 steps from the trained model keep its R^2; 5 steps from scratch are far from it
    tuned = pretrain(train, tmp_path / "tuned.pt", val=val, steps=5, probe_every=0, seed=1,
                     progress=False, plots=False, init=out, **LGSSM_OPTS)  # fmt: skip
    scratch = pretrain(train, tmp_path / "scratch.pt", val=val, steps=5, probe_every=0, seed=1,
                       progress=False, plots=False, **LGSSM_OPTS)  # fmt: skip
    assert min(tuned["r2"]["smoothed"].values()) > 0.85, tuned["r2"]
    assert min(scratch["r2"]["smoothed"].values()) < 0.8, scratch["r2"]
    assert tuned["settings"]["init"] == str(out)
    # the model is the checkpoint's, whatever the model settings say
    assert RPGSSM.load(tmp_path / "tuned.pt").config == RPGSSM.load(out).config
    x, z, _ = sample_lgssm(8, 20, 3, 4, np.random.default_rng(0))
    np.savez(tmp_path / "other.npz", obs=x, states=z)
    with pytest.raises(ValueError, match=r"takes observations \(10,\), the data holds \(4,\)"):
        pretrain(tmp_path / "other.npz", tmp_path / "x.pt", val=None, steps=1, init=out,
                 progress=False, plots=False, **LGSSM_OPTS)  # fmt: skip
    # the same observations with action inputs the model never had
    x, z, _ = sample_lgssm(8, 20, 3, 10, np.random.default_rng(0))
    actions = np.random.default_rng(1).integers(0, 3, (8, 19))
    np.savez(tmp_path / "acts.npz", obs=x, states=z, actions=actions)
    with pytest.raises(ValueError, match=r"action inputs None, the data has .*'num_actions': 3"):
        pretrain(tmp_path / "acts.npz", tmp_path / "y.pt", val=None, steps=1, init=out,
                 progress=False, plots=False, **LGSSM_OPTS)  # fmt: skip


def test_batch_groups_reach_the_batcher(tmp_path):
    """``batch_groups=(state, bin)``: batches hold one bin of start values (too fine bins for
    the batch size are refused, naming the groups); the CLI spells it ``--batch-groups x:0.2``."""
    import argparse

    from rpgssm_env.commands.pretrain import add_arguments

    train, val = _lgssm_npz(tmp_path, n_train=64, n_val=16)
    summary = pretrain(train, tmp_path / "g.pt", val=val, steps=2, probe_every=0, progress=False,
                       plots=False, **{**LGSSM_OPTS, "batch_size": 16,
                                      "batch_groups": (0, 1e3)})  # fmt: skip
    assert tuple(summary["settings"]["batch_groups"]) == (0, 1e3)  # two bins: s < 0, s >= 0
    for groups in ((0, 0.05), (0, 0.05, "shifting")):
        with pytest.raises(ValueError, match=r"group\(s\) \[.*\] of episode_groups"):
            pretrain(train, tmp_path / "h.pt", val=val, steps=1, progress=False, plots=False,
                     **{**LGSSM_OPTS, "batch_groups": groups})  # fmt: skip
    with pytest.raises(ValueError, match="must be \\(state, bin_width"):
        pretrain(train, tmp_path / "h.pt", val=val, steps=1, progress=False, plots=False,
                 **{**LGSSM_OPTS, "batch_groups": (0, 0.5, "moving")})  # fmt: skip
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["d.h5", "--out", "m.pt", "--batch-groups", "x:0.2"])
    assert args.batch_groups == ("x", 0.2)
    moving = parser.parse_args(["d.h5", "--out", "m.pt", "--batch-groups", "x:0.2:shifting"])
    assert moving.batch_groups == ("x", 0.2, "shifting")
    with pytest.raises(SystemExit):
        parser.parse_args(["d.h5", "--out", "m.pt", "--batch-groups", "x"])
