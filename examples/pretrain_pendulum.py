"""Pretrain an RP-GSSM on the paper's pendulum and check what its latents know.

Read top to bottom. The steps:

1. make the data: 24x24 grey pendulum frames, a new natural photograph behind every frame,
   sequences of T frames (true state (theta, omega) kept for evaluation only);
2. build the model from the ``pendulum24`` preset: a small CNN mapping ONE frame to a Gaussian
   potential over K = 8 latents, and a linear-Gaussian prior whose transition matrix starts as
   damped 2x2 rotations (the dynamics of an oscillator);
3. train it: no reconstruction, only the contrastive free energy (spec section 3), with exact
   Kalman smoothing inside every step;
4. probe it: fit a linear map from posterior means to (sin theta, cos theta, omega) on training
   sequences and score it on held-out sequences, for smoothed means (the whole sequence) and
   filtered means (past frames only: what an online agent sees).

    python examples/pretrain_pendulum.py --minutes 15          # the full run, about 15 minutes
    python examples/pretrain_pendulum.py --n-train 40 --steps 50  # a quick look

``rpgssm pretrain DATA --out CKPT --preset pendulum24`` does all of this (plus best-checkpoint
keeping, a JSON summary and plots) in one command; see ``rpgssm_env/training/pretrain.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Args:
    n_train: int = 500
    """training sequences (the paper: 500)"""
    n_test: int = 100
    """held-out sequences"""
    seq_len: int = 100
    """frames per sequence T"""
    steps: int | None = None
    """training steps (default: the preset's)"""
    minutes: float | None = None
    """wall-clock budget for training"""
    threads: int = 2
    """CPU threads for PyTorch"""
    probe_every: int = 250
    """steps between held-out probes"""
    seed: int = 0
    """seed of the model and the batches"""
    out: str = "runs/example_pendulum"
    """folder for the data and the checkpoint"""


def parse_args() -> Args:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        kind = {"int | None": int, "float | None": float}.get(str(f.type), eval(str(f.type)))
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default)
    return Args(**vars(p.parse_args()))


if __name__ == "__main__":
    args = parse_args()
    import torch

    from rpgssm_env import RPGSSM, EMTrainer, RPGSSMConfig
    from rpgssm_env.data.arrays import load_npz
    from rpgssm_env.envs.paper import generate_paper_dataset
    from rpgssm_env.model.online import tune_malloc
    from rpgssm_env.training.pretrain import init_transition, probe_model, resolve_settings

    torch.set_num_threads(args.threads)
    tune_malloc()  # keep freed CNN buffers in the heap: faster steps on CPU
    out = Path(args.out)

    # 1. data ------------------------------------------------------------------------------
    paths = {}
    for split, n, seed in (("train", args.n_train, 0), ("test", args.n_test, 100_000)):
        paths[split] = out / f"pendulum_{split}_{n}x{args.seq_len}.npz"
        if not paths[split].exists():
            print(f"generating {n} sequences -> {paths[split]}")
            generate_paper_dataset(paths[split], n, args.seq_len, seed=seed)
    names = ("theta", "omega")
    train = load_npz(paths["train"], state_names=names)
    test = load_npz(paths["test"], state_names=names)
    print(f"train: {len(train)} sequences of {train.spec.obs_shape} frames")

    # 2. model -----------------------------------------------------------------------------
    preset = resolve_settings("pendulum24")  # the preset on top of the defaults
    torch.manual_seed(args.seed)
    model = RPGSSM(
        RPGSSMConfig(
            latent_dim=preset["latent_dim"],  # K = 8
            obs_shape=train.spec.obs_shape,  # (24, 24, 1)
            channels=preset["channels"],  # a small CNN: step time matters on a CPU
            strides=preset["strides"],
            head=preset["head"],  # diagonal precision per frame
            prior=preset["prior"],  # invariant: Q = I - A A^T, every marginal N(0, I)
            mode=preset["mode"],  # "direct": gradients through the Kalman smoother
            projection_eps=preset["projection_eps"],  # keep s_max(A) <= 1 - eps
            beta=preset["beta"],  # weight of the chain KL (see the preset's docstring)
        )
    )
    # A starts as damped rotations rho R(f), f spread over the pendulum's frequencies
    init_transition(model, "rotation", preset["A_rho"], preset["A_freqs"])
    with torch.no_grad():  # a larger last layer: the potentials start informative
        model.recognition.networks[0].head.linear.weight.mul_(preset["head_init_scale"])

    # 3. training --------------------------------------------------------------------------
    history = []

    def probe(m: RPGSSM, step: int) -> dict[str, float]:
        rep = probe_model(m, train, test, angles=(0,), max_train_episodes=200)
        row = {f"{k[0]}_{t}": v for k in ("smoothed", "filtered") for t, v in rep[k].items()}
        history.append({"step": step, **row})
        print(f"step {step:5d}  " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
        return row

    trainer = EMTrainer(
        model,
        train,
        batch_size=min(preset["batch_size"], len(train)),  # B sequences: B-1 negatives each
        window=min(preset["window"], args.seq_len),  # short windows: more steps per second
        lr=preset["lr"],
        lr_prior=preset["lr_prior"],  # A learns faster than the CNN
        decay=preset["decay"],
        decay_every=preset["decay_every"],
        grad_clip=preset["grad_clip"],
        steps=args.steps or preset["steps"],
        time_budget_min=args.minutes,
        eval_every=args.probe_every,
        eval_fn=probe,
        seed=args.seed,
        checkpoint_path=out / "model.pt",
    )
    t0 = time.time()
    trainer.fit()
    print(f"{trainer.step} steps in {time.time() - t0:.0f} s")

    # 4. final probe -----------------------------------------------------------------------
    model.eval()
    final = probe(model, trainer.step)
    eig = torch.linalg.eigvals(model.prior.A.detach().double())
    print("learned rotation frequencies (rad/step):", sorted(eig.angle().abs().unique().tolist()))
    print(f"checkpoint: {out / 'model.pt'}  (load with RPGSSM.load)")
