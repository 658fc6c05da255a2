"""``rpgssm demo --smoke`` end to end into a temporary folder."""

from __future__ import annotations

import json
import math

from rpgssm_env.cli import main
from rpgssm_env.envs.collect import provenance_json


def test_demo_smoke(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--smoke", "--out", str(out), "--quiet"]) == 0
    report = out / "report"
    for name in (
        "report.md",
        "figures.json",
        "learning_curve.png",
        "latents.png",
        "agent_view.gif",
    ):
        assert (report / name).is_file(), name
    figures = json.loads((report / "figures.json").read_text())
    for key in (
        "mean_return",
        "std_return",
        "normalized_return",
        "R_random",
        "R_state",
        "reference",
        "timings_s",
        "pretrain",
        "learning_curve",
    ):
        assert key in figures, key
    assert figures["mode"] == "smoke"
    assert figures["steps"] == 300
    # the agent sees the last 3 filter outputs; the probe reads the newest one (K = 8 values)
    config = json.loads((out / "agent" / "config.json").read_text())
    assert config["latent_stack"] == 3
    r2 = figures["probe_eval_episode_r2"]
    assert set(r2) == {"sin_theta", "cos_theta", "omega"}
    assert all(math.isfinite(v) for v in r2.values())
    # pretraining rollouts draw a new video frame every step
    env_kwargs = provenance_json(out / "data" / "episodes.h5")["env_kwargs"]
    assert env_kwargs["distractor_mode"] == "step"
    text = capsys.readouterr().out
    assert "[5/5]" in text
    # a second run reuses data, model and agent
    assert main(["demo", "--smoke", "--out", str(out), "--quiet"]) == 0
    assert "(reused)" in capsys.readouterr().out
