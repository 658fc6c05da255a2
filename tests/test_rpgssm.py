"""RPGSSM: posterior and loss, input validation, finite gradients (oracle 9), save/load."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rpgssm_env import RPGSSM, RPGSSMConfig
from rpgssm_env.model.rpgssm import ModalityConfig

torch.set_num_threads(1)


def _frames(B=3, T=6, size=24, C=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (B, T, size, size, C), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def image_model():
    torch.manual_seed(0)
    return RPGSSM(RPGSSMConfig(latent_dim=4))


def test_posterior_shapes_and_inference_mode(image_model):
    model = image_model.eval()
    post = model.posterior(_frames())
    assert post.means.shape == (3, 6, 4)
    assert post.covs.shape == (3, 6, 4, 4)
    assert post.cross_covs.shape == (3, 5, 4, 4)
    assert post.filtered_means.shape == (3, 6, 4)
    assert not post.means.requires_grad
    assert torch.linalg.eigvalsh(post.covs.double()).min() > 0
    # uint8 in [0, 255] and float in [0, 1] give the same posterior
    x = _frames()
    other = model.posterior(x.float() / 255.0)
    torch.testing.assert_close(post.means, other.means)
    model.train()
    assert model.posterior(x).means.requires_grad


def test_initial_loss_near_log_B(image_model):
    """Small last layer -> nearly identical factors -> log Gamma ~ -log B, loss ~ log B."""
    B = 8
    with torch.no_grad():
        fe = image_model.train().loss(_frames(B=B, T=5))
    assert abs(float(fe.log_gamma) + math.log(B)) < 0.02
    assert float(fe.kl_qf) >= 0
    assert float(fe.kl_qp) >= 0
    assert abs(float(fe.loss) - math.log(B)) < 1.0


def test_em_and_direct_same_value_different_gradients():
    torch.manual_seed(1)
    model = RPGSSM(RPGSSMConfig(latent_dim=3, obs_shape=(5,), hidden=(8,)))
    with torch.no_grad():
        for p in model.recognition.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(4, 7, 5)
    grads = {}
    for mode in ("em", "direct"):
        model.zero_grad()
        fe = model.loss(x, mode=mode)
        fe.loss.backward()
        grads[mode] = (float(fe.loss.detach()), model.prior.A_raw.grad.clone())
    assert math.isclose(grads["em"][0], grads["direct"][0], rel_tol=1e-6)
    assert (grads["em"][1] - grads["direct"][1]).abs().max() > 1e-6


@pytest.mark.parametrize("mode", ["em", "direct"])
def test_finite_gradients_near_unit_spectral_norm(mode):
    """Oracle 9: s_max(A) = 0.999, K = 32, float32: every parameter gets a finite gradient."""
    torch.manual_seed(0)
    K = 32
    model = RPGSSM(RPGSSMConfig(latent_dim=K, head="full", channels=(8, 8, 8)))
    Q, _ = torch.linalg.qr(torch.randn(K, K))
    with torch.no_grad():
        model.prior.A_raw.copy_(0.999 * Q)  # every singular value 0.999: Q = 0.002 I
        for p in model.recognition.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert abs(model.prior.spectral_norm() - 0.999) < 1e-5
    fe = model.loss(_frames(B=4, T=8), mode=mode)
    assert torch.isfinite(fe.loss)
    fe.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert model.prior.A_raw.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("obs", "match"),
    [
        (torch.zeros(2, 5, 32, 32, 1, dtype=torch.uint8), "24x24 pixels"),
        (torch.zeros(2, 5, 24, 24, 3, dtype=torch.uint8), "1 channel"),
        (torch.zeros(2, 5, 24, 24, dtype=torch.uint8), r"\(B, T, H, W, C\) = \(B, T, 24, 24, 1\)"),
        (torch.zeros(2, 5, 24, 24, 1, dtype=torch.int64), "uint8 in \\[0, 255\\] or float"),
        (torch.full((2, 5, 24, 24, 1), float("nan")), "NaN or inf"),
        (torch.full((2, 5, 24, 24, 1), 255.0), "must be in \\[0, 1\\]"),
        ("frames", "must be a tensor"),
    ],
)
def test_bad_frames(image_model, obs, match):
    with pytest.raises(ValueError, match=match):
        image_model.posterior(obs)


def test_bad_mask_and_actions(image_model):
    x = _frames(B=2, T=5)
    with pytest.raises(ValueError, match=r"mask must have shape \(B, T\) = \(2, 5\)"):
        image_model.posterior(x, mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be bool"):
        image_model.posterior(x, mask=torch.full((2, 5), 0.5))
    with pytest.raises(ValueError, match="no action model"):
        image_model.posterior(x, actions=torch.zeros(2, 4, 1))
    cont = RPGSSM(
        RPGSSMConfig(latent_dim=2, obs_shape=(3,), action_kind="continuous", action_dim=2)
    )
    v = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"\(B, T-1, A\) = \(2, 4, 2\)"):
        cont.posterior(v, torch.zeros(3, 4, 2))  # batch size differs from obs
    with pytest.raises(ValueError, match="action-conditioned"):
        cont.posterior(v)
    with pytest.raises(ValueError, match="float"):
        cont.posterior(v, torch.zeros(2, 4, 2, dtype=torch.int64))
    disc = RPGSSM(RPGSSMConfig(latent_dim=2, obs_shape=(3,), action_kind="discrete", num_actions=3))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        disc.posterior(v, torch.full((2, 4), 3))
    with pytest.raises(ValueError, match="integers"):
        disc.posterior(v, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(B, T, D\) = \(B, T, 3\)"):
        disc.posterior(torch.randn(2, 5, 4), torch.zeros(2, 4, dtype=torch.int64))


def test_mask_drops_padded_frames():
    """Masked steps carry no information: changing their frames changes nothing."""
    torch.manual_seed(0)
    model = RPGSSM(RPGSSMConfig(latent_dim=3, obs_shape=(4,), hidden=(8,))).eval()
    with torch.no_grad():
        for p in model.recognition.parameters():
            p.add_(0.5 * torch.randn_like(p))
    x = torch.randn(2, 6, 4)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[:, 4:] = False
    y = x.clone()
    y[:, 4:] = 10 * torch.randn(2, 2, 4)
    torch.testing.assert_close(
        model.posterior(x, mask=mask).means, model.posterior(y, mask=mask).means
    )
    model.train()
    torch.testing.assert_close(model.loss(x, mask=mask).loss, model.loss(y, mask=mask).loss)


@pytest.mark.parametrize("kind", ["continuous", "discrete"])
def test_action_models_train(kind):
    torch.manual_seed(0)
    cfg = RPGSSMConfig(
        latent_dim=3,
        obs_shape=(4,),
        hidden=(8,),
        prior="general",
        action_kind=kind,
        action_dim=2 if kind == "continuous" else None,
        num_actions=3 if kind == "discrete" else None,
        action_mlp=(8,) if kind == "continuous" else (),
        action_matrix=True,
    )
    model = RPGSSM(cfg)
    B, T = 4, 6
    actions = torch.randn(B, T - 1, 2) if kind == "continuous" else torch.randint(0, 3, (B, T - 1))
    with torch.no_grad():
        for p in model.recognition.parameters():
            p.add_(0.3 * torch.randn_like(p))
    fe = model.loss(torch.randn(B, T, 4), actions, mode="direct")
    fe.loss.backward()
    action_grads = [p.grad for p in model.parameter_groups()["actions"]]
    assert action_grads
    assert any(g is not None and g.abs().sum() > 0 for g in action_grads)
    post = model.eval().posterior(torch.randn(B, T, 4), actions)
    assert post.means.shape == (B, T, 3)


def test_two_modalities():
    cfg = RPGSSMConfig(
        latent_dim=3,
        modalities=(ModalityConfig((24, 24, 1), channels=(4, 4)), ModalityConfig((5,), hidden=())),
    )
    model = RPGSSM(cfg)
    obs = [_frames(B=3, T=4), torch.randn(3, 4, 5)]
    fe = model.loss(obs)
    assert math.isclose(float(fe.log_gamma.detach()), -math.log(3), abs_tol=0.05)
    assert len(model.factors(obs)) == 2
    with pytest.raises(ValueError, match=r"\(B, T\) = \(2, 4\)"):
        model.posterior([_frames(B=3, T=4), torch.randn(2, 4, 5)])


def test_config_round_trip():
    cfg = RPGSSMConfig(
        latent_dim=5,
        obs_shape=(64, 64, 3),
        channels=(8, 8),
        prior="general",
        Q_param="cholesky",
        action_kind="continuous",
        action_dim=2,
        action_mlp=(16, 16),
        modalities=None,
    )
    d = json.loads(json.dumps(cfg.to_dict()))
    assert RPGSSMConfig.from_dict(d) == cfg
    multi = RPGSSMConfig(modalities=(ModalityConfig((24, 24, 1)), ModalityConfig((7,))))
    assert RPGSSMConfig.from_dict(json.loads(json.dumps(multi.to_dict()))) == multi
    with pytest.raises(ValueError, match="unknown RPGSSMConfig keys"):
        RPGSSMConfig.from_dict({**d, "latent_dims": 3})
    with pytest.raises(ValueError, match="mode"):
        RPGSSMConfig(mode="bogus")


def test_save_load_round_trip(tmp_path, image_model):
    path = tmp_path / "model.pt"
    image_model.save(path)
    loaded = RPGSSM.load(path, device="cpu")
    assert not loaded.training
    assert loaded.config == image_model.config
    x = _frames(seed=5)
    image_model.eval()
    torch.testing.assert_close(loaded.posterior(x).means, image_model.posterior(x).means)


def test_float64_model_and_numpy_input():
    model = RPGSSM(RPGSSMConfig(latent_dim=2, obs_shape=(3,), dtype="float64")).eval()
    post = model.posterior(np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32))
    assert post.means.dtype == torch.float64


def test_chunked_recognition_same_loss_and_gradients():
    """Activation-checkpointed chunks change memory, not results."""
    torch.manual_seed(0)
    base = RPGSSM(RPGSSMConfig(latent_dim=3, channels=(4, 4, 4)))
    chunked = RPGSSM(RPGSSMConfig(latent_dim=3, channels=(4, 4, 4), recognition_chunk=7))
    chunked.load_state_dict(base.state_dict())
    x = _frames(B=3, T=6)
    grads = []
    for model in (base, chunked):
        fe = model.loss(x, mode="direct")
        fe.loss.backward()
        grads.append([p.grad for p in model.parameters()])
    torch.testing.assert_close(
        base.loss(x).loss.detach(), chunked.loss(x).loss.detach(), rtol=1e-6, atol=1e-6
    )
    for g1, g2 in zip(*grads):
        torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-6)


def test_bfloat16_trunk_close_to_float32():
    torch.manual_seed(0)
    f32 = RPGSSM(RPGSSMConfig(latent_dim=3, channels=(4, 4, 4)))
    bf16 = RPGSSM(RPGSSMConfig(latent_dim=3, channels=(4, 4, 4), trunk_autocast="bfloat16"))
    with torch.no_grad():
        for p in f32.recognition.parameters():
            p.add_(0.2 * torch.randn_like(p))
    bf16.load_state_dict(f32.state_dict())
    x = _frames(B=2, T=4)
    h1, h2 = f32.factors(x)[0][1], bf16.factors(x)[0][1]
    assert h2.dtype == torch.float32
    assert (h1 - h2).abs().max() < 0.05 * h1.abs().max()
    assert not torch.equal(h1, h2)  # the trunk really ran in bfloat16
