"""The examples a newcomer reads run end to end with a tiny budget (CleanRL-style smoke tests).

``examples/pretrain_pendulum.py`` and ``examples/train_sac_latent.py`` have their own tests
(``test_pretrain_example.py``, ``test_agents.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio

ROOT = Path(__file__).resolve().parents[1]


def test_show_distractors_example(tmp_path):
    out = tmp_path / "grid.png"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "show_distractors.py"),
            "--steps",
            "3",
            "--size",
            "32",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "observation (32, 32, 3) uint8" in result.stdout
    grid = iio.imread(out)
    # a grid of the clean rollout and 8 distractors (9 conditions of 32 px frames), not blank
    assert grid.ndim == 3
    assert max(grid.shape[:2]) >= 9 * 32
    assert grid.std() > 10
