"""Keypoint read-out of the conv trunk (``pool="keypoints"``): configs, checkpoints, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpgssm_env.data.synthetic import sample_lgssm
from rpgssm_env.model.rpgssm import RPGSSM, ModalityConfig, RPGSSMConfig
from rpgssm_env.training.pretrain import pretrain

torch.set_num_threads(1)


def _dot_frames(n: int, T: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, T, 24, 40, 1) uint8 frames of a 3x3 dot on noise, its position a 2-D slow linear
    Gaussian process (rows 12 +- 8, columns 20 +- 14); states = that position."""
    rng = np.random.default_rng(seed)
    _, z, _ = sample_lgssm(n, T, 2, 2, rng)
    z = np.clip(z / 2.5, -1, 1)
    rows = np.round(12 + 8 * z[..., 1]).astype(int)
    cols = np.round(20 + 14 * z[..., 0]).astype(int)
    frames = rng.integers(0, 60, size=(n, T, 24, 40, 1), dtype=np.uint8)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r, c = np.clip(rows + dr, 0, 23), np.clip(cols + dc, 0, 39)
            frames[np.arange(n)[:, None], np.arange(T)[None], r, c, 0] = 255
    return frames, np.stack([rows, cols], -1).astype(np.float32)


@pytest.mark.parametrize("pool", ["keypoints", "flatten+keypoints"])
def test_pool_is_part_of_the_config_and_the_checkpoint(tmp_path, pool):
    config = RPGSSMConfig(latent_dim=2, obs_shape=(24, 40, 1), pool=pool)
    model = RPGSSM(config)
    trunk = model.recognition.networks[0].trunk
    assert trunk.keypoints is not None
    flat = RPGSSM(RPGSSMConfig(latent_dim=2, obs_shape=(24, 40, 1))).recognition.networks[0]
    extra = flat.trunk.out_features if pool == "flatten+keypoints" else 0
    assert trunk.out_features == 2 * 32 + extra
    path = tmp_path / "kp.pt"
    model.save(path)
    again = RPGSSM.load(path, device="cpu")
    assert again.config.pool == pool
    x = torch.randint(0, 256, (1, 3, 24, 40, 1), dtype=torch.uint8)
    torch.testing.assert_close(again.factors(x)[0][1], model.factors(x)[0][1])
    # checkpoints written before the option keep the flattened read-out
    legacy = config.to_dict()
    del legacy["pool"]
    assert RPGSSMConfig.from_dict(legacy).pool == "flatten"
    with pytest.raises(ValueError, match="pool must be one of"):
        RPGSSMConfig(obs_shape=(24, 40, 1), pool="avg")
    with pytest.raises(ValueError, match="pool must be one of"):
        ModalityConfig((24, 40, 1), pool="avg")


def test_keypoints_learn_where_a_dot_is(tmp_path):
    frames, pos = _dot_frames(96, 30, seed=0)
    train, val = tmp_path / "train.npz", tmp_path / "val.npz"
    np.savez(train, obs=frames[:64], states=pos[:64])
    np.savez(val, obs=frames[64:], states=pos[64:])
    summary = pretrain(
        train, tmp_path / "run" / "model.pt", val=val, steps=150, probe_every=150,
        progress=False, seed=0, latent_dim=2, pool="keypoints", channels=(8, 8),
        strides=(1, 1), mode="direct", lr=1e-2, batch_size=16, window=15, decay_every=0,
        A_init_kind="identity", A_init=0.9, head_init_scale=10.0, angles=(),
    )  # fmt: skip
    # a broken read-out (no gradient to the maps, a wrong grid) stays near R^2 = 0
    assert min(summary["r2"]["filtered"].values()) > 0.75, summary["r2"]  # measured 0.85
