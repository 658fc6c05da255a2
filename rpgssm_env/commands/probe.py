"""``rpgssm probe CKPT DATA [--val FRACTION|HELD_OUT_DATA] [--decoder linear|kernel]``.

Held-out R^2 of a decoder from posterior means to the true states: the decoder is fitted on the
training part of DATA and scored on held-out episodes (a fraction of DATA's episodes, or a
separate data set), for smoothed and for filtered means. Angle columns (``--angles``; by default
those named like an angle that sweep more than half a turn) are scored as their sin and cos.
Prints one JSON line.
"""

from __future__ import annotations

import argparse

NAME = "probe"
HELP = "held-out R^2 of a linear (or kernel) probe from a checkpoint's latents to true states"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rpgssm_env.commands.pretrain import _ints, _val

    parser.add_argument("checkpoint", help="a checkpoint written by rpgssm pretrain")
    parser.add_argument("data", help="data set with true states (.npz, HDF5, Minari)")
    parser.add_argument(
        "--val", type=_val, default=0.2,
        help="held-out fraction of DATA's episodes or a held-out data set (default 0.2)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/held-out split")
    parser.add_argument("--decoder", choices=["linear", "kernel"], default="linear")
    parser.add_argument("--angles", type=_ints, default=None, help="angle state columns")
    parser.add_argument(
        "--max-train-episodes", type=int, default=None, help="fit on at most this many episodes"
    )
    parser.add_argument(
        "--adapt", choices=["standardize"], default=None,
        help="standardise the held-out latents with their own statistics (unsupervised "
        "test-time adaptation, e.g. for data under a background the model never saw)",
    )  # fmt: skip
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="also write the JSON report to this file")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rpgssm_env.model.rpgssm import RPGSSM
    from rpgssm_env.training.pretrain import _default_angles, _open, probe_model, split_source

    model = RPGSSM.load(args.checkpoint, device=args.device)
    train, held_out = split_source(_open(args.data), args.val, args.seed)
    if held_out is None:
        raise SystemExit("probe needs held-out episodes: pass --val FRACTION or a data set")
    angles = args.angles if args.angles is not None else _default_angles(train)
    report = probe_model(
        model, train, held_out, angles, decoder=args.decoder,
        max_train_episodes=args.max_train_episodes, adapt=args.adapt,
    )  # fmt: skip
    report.update(
        checkpoint=str(args.checkpoint),
        decoder=args.decoder,
        adapt=args.adapt,
        train_episodes=len(train),
        held_out_episodes=len(held_out),
    )
    line = json.dumps(report)
    if args.out:
        Path(args.out).write_text(line + "\n")
    print(line)
    return 0
