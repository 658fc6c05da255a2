"""Generic test fixtures and settings shared by the whole suite."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")  # keep pygame from swallowing SIGTERM
os.environ.setdefault("MPLBACKEND", "Agg")

import torch

torch.set_num_threads(1)  # keep tests on one thread: the machine is shared


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same global random state, whatever the order or the worker
    (pytest-xdist) it runs in, so that no test depends on what ran before it."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - the legacy global state some libraries draw from
    torch.manual_seed(0)
