"""``rpgssm pretrain`` + ``rpgssm probe`` round trip on a tiny pixel data set."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from rpgssm_env.cli import main
from rpgssm_env.model.rpgssm import RPGSSM


def _pixel_npz(path, n=24, T=12, size=16, seed=0):
    """A bright dot circling the image centre (a pendulum seen from the front) on noise."""
    rng = np.random.default_rng(seed)
    theta0 = rng.uniform(-np.pi, np.pi, n)
    omega = rng.uniform(-0.6, 0.6, n)
    t = np.arange(T)
    theta = (theta0[:, None] + omega[:, None] * t + np.pi) % (2 * np.pi) - np.pi
    obs = rng.integers(0, 60, size=(n, T, size, size, 1), dtype=np.uint8)
    c = (size - 1) / 2
    r = size * 0.35
    xs = np.clip(np.round(c + r * np.sin(theta)).astype(int), 0, size - 1)
    ys = np.clip(np.round(c - r * np.cos(theta)).astype(int), 0, size - 1)
    for i in range(n):
        for k in range(T):
            obs[i, k, ys[i, k], xs[i, k], 0] = 255
    states = np.stack([theta, np.broadcast_to(omega[:, None], theta.shape)], -1)
    np.savez(path, obs=obs, states=states.astype(np.float32),
             state_names=np.array(["theta", "omega"]))  # fmt: skip
    return path


def _json_line(text: str) -> dict:
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    assert lines, text
    return json.loads(lines[-1])


def test_pretrain_then_probe_round_trip(tmp_path, capsys):
    data = _pixel_npz(tmp_path / "dots.npz")
    ckpt = tmp_path / "runs" / "dots.pt"
    code = main([
        "pretrain", str(data), "--out", str(ckpt), "--steps", "6", "--window", "6",
        "--batch-size", "4", "--probe-every", "3", "--val", "0.25", "--channels", "4,4",
        "--strides", "2,2", "--latent-dim", "4", "--quiet", "--threads", "1",
    ])  # fmt: skip
    assert code == 0
    summary = _json_line(capsys.readouterr().out)
    assert summary["steps"] == 6
    # theta sweeps the whole circle: probed as sin and cos
    assert set(summary["r2"]["smoothed"]) == {"sin_theta", "cos_theta", "omega"}
    assert (tmp_path / "runs" / "dots.summary.json").is_file()
    assert (tmp_path / "runs" / "dots.best.pt").is_file()
    assert (tmp_path / "runs" / "dots.plots" / "latents.png").is_file()

    code = main(["probe", str(ckpt), str(data), "--val", "0.25", "--out",
                 str(tmp_path / "probe.json")])  # fmt: skip
    assert code == 0
    report = _json_line(capsys.readouterr().out)
    assert report["targets"] == ["sin_theta", "cos_theta", "omega"]
    assert report["held_out_episodes"] == 6
    assert report["train_episodes"] == 18
    for kind in ("smoothed", "filtered"):
        assert set(report[kind]) == {"sin_theta", "cos_theta", "omega"}
        assert all(np.isfinite(v) for v in report[kind].values())
    # the same split and probe as the end of pretraining: the same figures
    assert report["smoothed"] == pytest.approx(summary["r2"]["smoothed"], abs=1e-6)
    assert json.loads((tmp_path / "probe.json").read_text())["decoder"] == "linear"


def test_probe_kernel_and_explicit_angles(tmp_path, capsys):
    data = _pixel_npz(tmp_path / "dots.npz", n=16, T=8)
    ckpt = tmp_path / "m.pt"
    assert main([
        "pretrain", str(data), "--out", str(ckpt), "--steps", "2", "--window", "4",
        "--batch-size", "4", "--val", "0.25", "--channels", "4", "--strides", "2",
        "--latent-dim", "2", "--quiet", "--no-plots", "--angles", "",
        "--projection-eps-schedule", "1:0.02", "--pool", "keypoints",
    ]) == 0  # fmt: skip
    capsys.readouterr()
    loaded = RPGSSM.load(ckpt)
    assert loaded.config.projection_eps == 0.02  # the cap in force at the end
    assert loaded.config.pool == "keypoints"
    # fine-tuning it: the model keeps its configuration whatever the model flags say
    tuned = tmp_path / "tuned.pt"
    assert main([
        "pretrain", str(data), "--out", str(tuned), "--init", str(ckpt), "--steps", "1",
        "--window", "4", "--batch-size", "4", "--val", "0.25", "--latent-dim", "3", "--quiet",
        "--no-plots", "--angles", "",
    ]) == 0  # fmt: skip
    capsys.readouterr()
    assert RPGSSM.load(tuned).config == loaded.config
    assert main(["probe", str(ckpt), str(data), "--decoder", "kernel", "--angles", ""]) == 0
    report = _json_line(capsys.readouterr().out)
    assert report["targets"] == ["theta", "omega"]
    assert report["decoder"] == "kernel"
    assert report["adapt"] is None
    assert main(["probe", str(ckpt), str(data), "--adapt", "standardize", "--angles", ""]) == 0
    adapted = _json_line(capsys.readouterr().out)
    assert adapted["adapt"] == "standardize"
    assert all(np.isfinite(v) for v in adapted["filtered"].values())


def test_eps_schedule_argument():
    from rpgssm_env.commands.pretrain import _eps_schedule

    assert _eps_schedule("1000:0.02, 3000:0.015") == ((1000, 0.02), (3000, 0.015))
    with pytest.raises(argparse.ArgumentTypeError, match="STEP:EPS"):
        _eps_schedule("1000=0.02")


def test_cli_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "pretrain" in out
    assert "probe" in out
