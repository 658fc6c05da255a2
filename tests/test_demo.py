"""``rpgssm demo --smoke`` end to end into a temporary folder."""

from __future__ import annotations

import json

from rpgssm_env.cli import main


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
    text = capsys.readouterr().out
    assert "[5/5]" in text
    # a second run reuses data, model and agent
    assert main(["demo", "--smoke", "--out", str(out), "--quiet"]) == 0
    assert "(reused)" in capsys.readouterr().out
