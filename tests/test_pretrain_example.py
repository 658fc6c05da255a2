"""The pretraining example runs end to end with a tiny budget (CleanRL-style smoke test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pretrain_pendulum.py"


def test_pretrain_example_smoke(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "MPLBACKEND": "Agg"}
    args = "--n-train 8 --n-test 4 --seq-len 30 --steps 3 --probe-every 2 --threads 1"
    cmd = [sys.executable, str(EXAMPLE), *args.split(), "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "learned rotation frequencies" in proc.stdout
    assert (tmp_path / "model.pt").is_file()
