"""``rpgssm check``: a quick check that the installation works (about 10 seconds on a CPU).

It runs the exact posterior against its associative-scan twin, trains a small RP-GSSM on data
from a known linear-Gaussian system for a few seconds and reports the held-out R^2 of the true
latent state, and steps one pixel environment with a distractor.
"""

from __future__ import annotations

import argparse

NAME = "check"
HELP = "Quick self-check of the installation (inference, a tiny training run, one pixel env)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from rpgssm_env.selfcheck import run_checks

    return 0 if run_checks(device=args.device, seed=args.seed) else 1
