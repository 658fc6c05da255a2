"""Checkpoints: round trip, atomic writes, configuration mismatch, corrupted files."""

from __future__ import annotations

import os

import pytest
import torch

from rpgssm_env import RPGSSM, RPGSSMConfig
from rpgssm_env.training import checkpoint as ckpt_mod
from rpgssm_env.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)

torch.set_num_threads(1)


def _model(K=3, seed=0):
    torch.manual_seed(seed)
    return RPGSSM(RPGSSMConfig(latent_dim=K, obs_shape=(4,), hidden=(8,)))


def _trained_optimizer(model):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    for _ in range(3):
        opt.zero_grad()
        model.loss(torch.randn(3, 5, 4)).loss.backward()
        opt.step()
        sched.step()
    return opt, sched


def test_round_trip_restores_everything(tmp_path):
    model = _model()
    opt, sched = _trained_optimizer(model)
    path = tmp_path / "run" / "ckpt.pt"
    save_checkpoint(path, model, opt, sched, step=3, metadata={"note": "hello"}, extra={"k": 1})
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    other = _model(seed=5)
    opt2 = torch.optim.Adam(other.parameters(), lr=1e-2)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, 2, 0.5)
    ckpt = load_checkpoint(path, other, opt2, sched2)
    assert ckpt["step"] == 3
    assert ckpt["metadata"] == {"note": "hello"}
    assert ckpt["extra"] == {"k": 1}
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert sched2.last_epoch == sched.last_epoch
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # the RNG state saved with the checkpoint was restored (not the one drawn from later)
    assert not torch.equal(torch.rand(3), expected_draw)


def test_crash_mid_write_keeps_old_checkpoint(tmp_path, monkeypatch):
    model = _model()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, step=1)
    old = read_checkpoint(path)

    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial garbage")  # half-written file, then the "crash"
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt_mod.torch, "save", crashing_save)
    with torch.no_grad():
        model.prior.A_raw.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, model, step=2)
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    again = read_checkpoint(path)
    assert again["step"] == 1
    assert torch.equal(again["model"]["prior.A_raw"], old["model"]["prior.A_raw"])
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]  # no temporary file left behind
    fresh = _model(seed=9)
    load_checkpoint(path, fresh)
    assert torch.equal(fresh.prior.A_raw, old["model"]["prior.A_raw"])


def test_config_mismatch_names_keys(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _model(K=3))
    other = RPGSSM(RPGSSMConfig(latent_dim=4, obs_shape=(4,), hidden=(16,)))
    with pytest.raises(CheckpointError, match="latent_dim") as info:
        load_checkpoint(path, other)
    assert "hidden" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert RPGSSM.load(path).config.latent_dim == 3  # the file itself is fine


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign", "empty"])
def test_corrupted_files(tmp_path, damage):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _model())
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(range(256)) * 10)
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="checkpoint"):
        load_checkpoint(path, _model())
    with pytest.raises(CheckpointError):
        RPGSSM.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        RPGSSM.load(tmp_path / "nope.pt")
