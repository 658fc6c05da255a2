"""Generic test fixtures and settings shared by the whole suite."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")  # keep pygame from swallowing SIGTERM
os.environ.setdefault("MPLBACKEND", "Agg")

try:  # keep tests on one thread: the machine is shared
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
