"""Per-frame intensity jitter of training frames: the transform, its plumbing into the trainer,
``pretrain`` and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rpgssm_env import RPGSSM, EMTrainer, RPGSSMConfig
from rpgssm_env.commands.pretrain import _augment
from rpgssm_env.data.arrays import ArrayEpisodes
from rpgssm_env.training.augment import IntensityJitter, make_augment

torch.set_num_threads(1)


def _frames(B=3, T=5, H=16, W=16, C=1, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (64 + torch.randint(0, 128, (B, T, H, W, C), generator=g)).to(torch.uint8)


def test_brightness_shifts_each_frame_by_its_own_offset():
    torch.manual_seed(0)
    x = _frames()
    y = IntensityJitter(brightness=0.2, contrast=0.0)(x)
    assert y.dtype == torch.float32
    assert y.shape == x.shape
    diff = y - x.float() / 255.0  # no pixel leaves [0, 1]: frames lie in [0.25, 0.75]
    per_frame = diff.flatten(2)
    # one offset per frame, constant over its pixels, within +-brightness
    assert torch.allclose(per_frame, per_frame[..., :1].expand_as(per_frame), atol=1e-6)
    b = per_frame[..., 0]
    assert b.abs().max() <= 0.2 + 1e-6
    assert len(torch.unique(b)) == b.numel()  # independent per frame, not per sequence


def test_contrast_scales_around_the_frame_mean_and_clips():
    torch.manual_seed(1)
    x = _frames().float() / 255.0
    y = IntensityJitter(brightness=0.0, contrast=0.5)(x)
    xc = x - x.mean(dim=(-3, -2, -1), keepdim=True)
    yc = y - y.mean(dim=(-3, -2, -1), keepdim=True)
    c = (yc * xc).flatten(2).sum(-1) / (xc * xc).flatten(2).sum(-1)
    assert torch.allclose(yc, c[..., None, None, None] * xc, atol=1e-5)
    assert ((c >= 0.5 - 1e-6) & (c <= 1.5 + 1e-6)).all()
    assert c.std() > 0.05
    bright = IntensityJitter(brightness=5.0, contrast=0.0)(x)
    assert bright.min() >= 0.0
    assert bright.max() <= 1.0
    assert IntensityJitter(0.0, 0.0)(x).equal(x)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="brightness"):
        IntensityJitter(brightness=-0.1)
    with pytest.raises(ValueError, match="contrast"):
        IntensityJitter(contrast=1.0)
    with pytest.raises(ValueError, match="frames"):
        IntensityJitter()(torch.zeros(4, 6))
    with pytest.raises(ValueError, match="brightness' and 'contrast"):
        make_augment({"hue": 0.1})
    with pytest.raises(ValueError, match="dict"):
        make_augment("strong")
    assert make_augment(None) is None
    assert make_augment({}) is None
    assert make_augment({"brightness": 0.1}) == IntensityJitter(brightness=0.1, contrast=0.3)


def test_cli_parses_brightness_and_contrast():
    assert _augment("0.3,0.2") == {"brightness": 0.3, "contrast": 0.2}
    assert _augment("0,0") == {}
    with pytest.raises(argparse.ArgumentTypeError, match="BRIGHTNESS,CONTRAST"):
        _augment("0.3")


def _model() -> RPGSSM:
    torch.manual_seed(0)
    return RPGSSM(RPGSSMConfig(latent_dim=2, obs_shape=(16, 16, 1), channels=(4, 4)))


def test_trainer_trains_on_augmented_frames_only():
    """The step's loss is the loss of the augmented batch, not of the raw one."""
    frames = _frames(B=4, T=6).numpy()
    data = ArrayEpisodes(frames)
    seen: list[tuple[int, ...]] = []

    def invert(obs: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(obs.shape))
        return 1.0 - obs.float() / 255.0

    model = _model()
    trainer = EMTrainer(
        model, data, steps=1, batch_size=4, window=6, lr=0.0, device="cpu", progress=False,
        augment=invert, decay_every=None,
    )  # fmt: skip
    batch = trainer.next_batch()
    terms = trainer.train_step(batch)
    assert seen == [(4, 6, 16, 16, 1)]
    with torch.no_grad():
        want = model.loss(invert(batch["obs"]), mode=trainer.mode).loss
        raw = model.loss(batch["obs"], mode=trainer.mode).loss
    assert terms["loss"] == pytest.approx(float(want), rel=1e-5)
    assert abs(float(raw) - float(want)) > 1e-4  # the augmentation changed the loss


def test_pretrain_with_augment_records_it(tmp_path):
    from rpgssm_env.training.pretrain import pretrain

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(8, 12, 16, 16, 1), dtype=np.uint8)
    states = rng.normal(size=(8, 12, 2)).astype(np.float32)
    summary = pretrain(
        ArrayEpisodes(frames, states=states), tmp_path / "m.pt", latent_dim=2, steps=3,
        batch_size=4, window=6, channels=(4, 4), strides=(2, 2), val=0.25, probe_every=0,
        plots=False, progress=False, device="cpu", augment={"brightness": 0.3, "contrast": 0.2},
    )  # fmt: skip
    assert summary["steps"] == 3
    assert summary["settings"]["augment"] == {"brightness": 0.3, "contrast": 0.2}
    assert np.isfinite(summary["final_loss"]["loss"])
    # a jitter object is recorded as its settings (the JSON summary must still be written)
    summary = pretrain(
        ArrayEpisodes(frames, states=states), tmp_path / "j.pt", latent_dim=2, steps=1,
        batch_size=4, window=6, channels=(4, 4), strides=(2, 2), val=0.25, probe_every=0,
        plots=False, progress=False, device="cpu", augment=IntensityJitter(0.1, 0.05),
    )  # fmt: skip
    written = json.loads(Path(summary["paths"]["summary"]).read_text())
    assert written["settings"]["augment"] == {"brightness": 0.1, "contrast": 0.05}
