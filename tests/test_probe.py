"""Probes: held-out R^2 of linear and kernel decoders; angle targets; model encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpgssm_env import RPGSSM, RPGSSMConfig
from rpgssm_env.data.arrays import ArrayEpisodes
from rpgssm_env.training.probe import angle_to_sincos, encode, evaluate_probe, probe_r2

torch.set_num_threads(1)


def test_linear_probe_scores():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 3))
    y = np.stack([z @ [1.0, -2.0, 0.5], rng.normal(size=600)], -1)  # decodable, pure noise
    r2 = probe_r2(z[:400], y[:400], z[400:], y[400:], names=["good", "noise"])
    assert r2["good"] > 0.999
    assert r2["noise"] < 0.05


def test_kernel_probe_beats_linear_on_nonlinear_target():
    rng = np.random.default_rng(1)
    z = rng.uniform(-3, 3, size=(1500, 2))
    y = np.sin(2 * z[:, 0]) * np.cos(z[:, 1])
    lin = probe_r2(z[:1000], y[:1000], z[1000:], y[1000:], "linear")["y0"]
    ker = probe_r2(z[:1000], y[:1000], z[1000:], y[1000:], "kernel", max_kernel_samples=800)
    assert lin < 0.2
    assert ker["y0"] > 0.8


def test_standardize_adapt_undoes_a_shift_and_scaling_of_the_test_features():
    """Latents moved by a new background (per-dimension offset and scale): the plain probe
    fails, test-time standardisation (test features only, never test targets) recovers it."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(1000, 3))
    y = z @ [1.0, -2.0, 0.5]
    moved = z[500:] * [0.5, 2.0, 1.0] + [3.0, -1.0, 0.5]
    plain = probe_r2(z[:500], y[:500], moved, y[500:])["y0"]
    adapted = probe_r2(z[:500], y[:500], moved, y[500:], adapt="standardize")["y0"]
    assert plain < 0.0
    assert adapted > 0.97  # up to the sampling error of the test statistics
    same = probe_r2(z[:500], y[:500], z[500:], y[500:], adapt="standardize")["y0"]
    assert same > 0.97  # the same distribution: adapting costs (almost) nothing
    with pytest.raises(ValueError, match="adapt"):
        probe_r2(z[:500], y[:500], z[500:], y[500:], adapt="whiten")


def test_probe_is_held_out():
    """A decoder that memorises noise scores well in-sample but not on held-out data."""
    rng = np.random.default_rng(2)
    z = rng.normal(size=(120, 60))
    y = rng.normal(size=120)
    assert probe_r2(z[:60], y[:60], z[:60], y[:60])["y0"] > 0.9  # in-sample: meaningless
    assert probe_r2(z[:60], y[:60], z[60:], y[60:])["y0"] < 0.2


def test_angle_to_sincos():
    theta = np.array([0.0, np.pi / 2, np.pi])
    states = np.stack([theta, [1.0, 2.0, 3.0]], -1)
    out, names = angle_to_sincos(states, 0, ("theta", "omega"))
    assert names == ["sin_theta", "cos_theta", "omega"]
    np.testing.assert_allclose(out, [[0, 1, 1], [1, 0, 2], [0, -1, 3]], atol=1e-12)
    with pytest.raises(ValueError, match="name 2"):
        angle_to_sincos(states, 0, ("theta",))


def test_evaluate_probe_with_a_model():
    """A linear 'model' whose recognition reads the state exactly probes at R^2 ~ 1."""
    rng = np.random.default_rng(3)
    N, T = 24, 15
    states = np.cumsum(0.3 * rng.normal(size=(N, T, 2)), 1).astype(np.float32)
    mix = rng.normal(size=(2, 4))
    obs = (states @ mix).astype(np.float32)
    model = RPGSSM(RPGSSMConfig(latent_dim=2, obs_shape=(4,), hidden=(), head="constant"))
    with torch.no_grad():
        pinv = np.linalg.pinv(mix)  # h = 50 * state, Lam = 50 I: the posterior tracks the state
        model.recognition.networks[0].head.linear.weight.copy_(torch.tensor(50 * pinv.T))
        model.recognition.networks[0].head.L_raw.diagonal().fill_(7.07)
    smoothed, _filtered = encode(model, obs[:3])
    assert smoothed.shape == (3, T, 2)
    train = ArrayEpisodes(obs[:16], states=states[:16], state_names=("a", "b"))
    test = ArrayEpisodes(obs[16:], states=states[16:], state_names=("a", "b"))
    report = evaluate_probe(model, train, test, decoders=("linear",))
    assert set(report) == {"smoothed", "filtered"}
    for kind in report:
        assert set(report[kind]["linear"]) == {"a", "b"}
        assert min(report[kind]["linear"].values()) > 0.95
    # an untrained model's latents carry (almost) nothing about the state
    blank = RPGSSM(RPGSSMConfig(latent_dim=2, obs_shape=(4,), hidden=(), head="constant"))
    with torch.no_grad():
        blank.recognition.networks[0].head.linear.weight.zero_()
    r = evaluate_probe(blank, train, test, decoders=("linear",))
    assert max(r["smoothed"]["linear"].values()) < 0.05
