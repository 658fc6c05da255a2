"""``rpgssm pretrain DATA --out CKPT [--preset NAME] [options] [--minutes M]``.

Trains an RP-GSSM on a data set (``.npz``, rpgssm HDF5 or Minari) with
:func:`rpgssm_env.training.pretrain.pretrain`; writes the checkpoint, the best checkpoint by
held-out free energy, a JSON summary and plots beside ``--out``, and prints the summary's
figures as one JSON line.
"""

from __future__ import annotations

import argparse

NAME = "pretrain"
HELP = "pretrain an RP-GSSM on a data set (checkpoint, best checkpoint, summary, plots)"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.replace(",", " ").split()) if text.strip() else ()


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.replace(",", " ").split())


def _eps_schedule(text: str) -> tuple[tuple[int, float], ...]:
    """``"1000:0.02,3000:0.015"`` -> ``((1000, 0.02), (3000, 0.015))``."""
    try:
        pairs = [item.split(":") for item in text.replace(",", " ").split()]
        return tuple((int(step), float(eps)) for step, eps in pairs)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STEP:EPS[,STEP:EPS...], got {text!r}") from None


def _augment(text: str) -> dict[str, float]:
    """``"B,C"`` -> ``{"brightness": B, "contrast": C}`` (``"0,0"``: off)."""
    values = _floats(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected BRIGHTNESS,CONTRAST, got {text!r}")
    return {"brightness": values[0], "contrast": values[1]} if any(values) else {}


def _batch_groups(text: str) -> tuple[str, float] | tuple[str, float, str]:
    """``"x:0.2"`` -> ``("x", 0.2)``; ``"x:0.2:shifting"`` -> ``("x", 0.2, "shifting")``."""
    parts = text.split(":")
    try:
        if len(parts) == 2:
            return parts[0], float(parts[1])
        if len(parts) == 3 and parts[2] in ("fixed", "shifting"):
            return parts[0], float(parts[1]), parts[2]
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected STATE:BIN_WIDTH[:shifting], got {text!r}")


def _val(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rpgssm_env.training.presets import PRESET_DOCS, preset_names

    parser.add_argument("data", help="training data set (.npz, rpgssm HDF5 file/folder, Minari)")
    parser.add_argument("--out", required=True, help="checkpoint file to write (e.g. runs/a.pt)")
    parser.add_argument(
        "--preset",
        choices=preset_names(),
        help="tuned settings: " + "; ".join(f"{k}: {v}" for k, v in PRESET_DOCS.items()),
    )
    parser.add_argument(
        "--val", type=_val, default=0.2,
        help="held-out fraction of DATA's episodes, or a held-out data set path (default 0.2)",
    )  # fmt: skip
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--cache-gb", type=float, default=2.0,
        help="GB of decoded episodes kept in memory after their first read (0: none; default 2)",
    )  # fmt: skip
    g = parser.add_argument_group("model")
    g.add_argument("--latent-dim", type=int, default=None, help="K")
    g.add_argument("--prior", choices=["invariant", "general"], default=None)
    g.add_argument("--head", choices=["diagonal", "full", "constant"], default=None)
    g.add_argument("--channels", type=_ints, default=None, help="conv channels, e.g. 16,32,32")
    g.add_argument("--strides", type=_ints, default=None, help="conv strides, e.g. 2,2,2")
    g.add_argument("--pool", choices=["flatten", "keypoints", "flatten+keypoints"], default=None,
                   help="conv read-out: the flattened map, keypoints or both")  # fmt: skip
    g.add_argument("--hidden", type=_ints, default=None, help="MLP sizes for vector data")
    g.add_argument(
        "--A-init-kind", dest="A_init_kind", choices=["identity", "rotation"], default=None,
        help="A_0 = A_init I, or 2x2 rotation blocks rho R(f)",
    )  # fmt: skip
    g.add_argument("--A-init", dest="A_init", type=float, default=None)
    g.add_argument(
        "--A-param", dest="A_param", choices=["full", "diag_sigmoid", "rotation"], default=None,
        help="free A (projected to s_max < 1), diagonal, or damped 2x2 rotation blocks",
    )  # fmt: skip
    g.add_argument(
        "--A-max-freq", dest="A_max_freq", type=float, default=None,
        help="largest rotation frequency of --A-param rotation (rad/step; default pi/2)",
    )  # fmt: skip
    g.add_argument("--A-rho", dest="A_rho", type=float, default=None)
    g.add_argument("--A-freqs", dest="A_freqs", type=_floats, default=None, help="lo,hi rad/step")
    g.add_argument("--beta", type=float, default=None, help="weight of the chain KL")
    g.add_argument("--beta-final", type=float, default=None, help="ramp beta to this value")
    g.add_argument("--beta-ramp", type=_ints, default=None, help="first,last step of the beta ramp")
    g.add_argument("--projection-eps", type=float, default=None, help="s_max(A) <= 1 - eps")
    g.add_argument(
        "--projection-eps-schedule", type=_eps_schedule, default=None, metavar="STEP:EPS,...",
        help="from STEP on, s_max(A) <= 1 - EPS, e.g. 1000:0.02",
    )  # fmt: skip
    g.add_argument("--Q-init", dest="Q_init", type=float, default=None, help="general prior")
    g.add_argument(
        "--head-init-scale", type=float, default=None, help="factor on the head's initial weights"
    )
    t = parser.add_argument_group("training")
    t.add_argument("--mode", choices=["em", "direct"], default=None)
    t.add_argument("--em-warmup", type=int, default=None, help="EM steps before direct ones")
    t.add_argument("--grad-clip", type=float, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--window", type=int, default=None, help="frames per training window T")
    t.add_argument(
        "--windows-per-episode", type=int, default=None,
        help="k non-overlapping windows of each of B/k episodes per batch (default 1)",
    )  # fmt: skip
    t.add_argument(
        "--batch-groups", type=_batch_groups, default=None, metavar="STATE:BIN_WIDTH[:shifting]",
        help="a batch holds episodes whose start value of STATE falls in one bin, e.g. x:0.2 "
        "(':shifting': the bin edges move every epoch)",
    )  # fmt: skip
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--lr-prior", type=float, default=None)
    t.add_argument("--lr-recognition", type=float, default=None)
    t.add_argument("--lr-actions", type=float, default=None)
    t.add_argument("--decay", type=float, default=None, help="lr factor every --decay-every")
    t.add_argument("--decay-every", type=int, default=None)
    t.add_argument(
        "--augment", type=_augment, default=None, metavar="BRIGHTNESS,CONTRAST",
        help="per-frame intensity jitter of the training frames, e.g. 0.3,0.3 (0,0: off)",
    )  # fmt: skip
    t.add_argument(
        "--angles",
        type=_ints,
        default=None,
        help="state columns that are angles (probed as sin, cos); '' for none",
    )
    r = parser.add_argument_group("logging and evaluation")
    r.add_argument("--probe-every", type=int, default=250, help="steps between evaluations")
    r.add_argument("--log-dir", default=None, help="TensorBoard directory")
    r.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    r.add_argument("--init", default=None,
                   help="fine-tune: start from this checkpoint's model")  # fmt: skip
    r.add_argument("--no-plots", action="store_true")
    r.add_argument("--quiet", action="store_true", help="no progress bar")


_OPTIONS = (
    "latent_dim", "prior", "head", "channels", "strides", "hidden", "A_init_kind", "A_init",
    "A_param", "A_max_freq", "A_rho", "A_freqs", "beta", "mode", "batch_size", "window", "lr",
    "lr_prior", "lr_recognition", "lr_actions", "decay", "decay_every", "angles", "steps",
    "projection_eps", "Q_init", "head_init_scale", "em_warmup", "grad_clip", "beta_final",
    "beta_ramp", "windows_per_episode", "augment", "projection_eps_schedule", "pool",
    "batch_groups",
)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import json

    from rpgssm_env.training.pretrain import pretrain

    options = {k: getattr(args, k) for k in _OPTIONS}
    summary = pretrain(
        args.data,
        args.out,
        preset=args.preset,
        val=args.val,
        minutes=args.minutes,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        cache_gb=args.cache_gb,
        log_dir=args.log_dir,
        probe_every=args.probe_every,
        resume=args.resume,
        init=args.init,
        plots=not args.no_plots,
        progress=not args.quiet,
        **options,
    )
    keys = ("steps", "wall_time_s", "steps_per_s", "final_loss", "held_out_loss", "r2", "best")
    print(json.dumps({k: summary[k] for k in keys if k in summary}))
    print(f"summary: {summary['paths']['summary']}")
    return 0
