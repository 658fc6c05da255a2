"""EMTrainer: learning, repeatability, resume, NaN guard, projection, schedule, logging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rpgssm_env import RPGSSM, EMTrainer, RPGSSMConfig
from rpgssm_env.data.arrays import ArrayEpisodes
from rpgssm_env.data.windows import WindowBatcher
from rpgssm_env.training.trainer import NonFiniteStepWarning, linear_beta

torch.set_num_threads(1)


def _data(N=12, T=20, D=6, seed=0):
    """Vectors from a slow 2-D rotation: learnable structure, cheap to train on."""
    rng = np.random.default_rng(seed)
    c, s = math.cos(0.3), math.sin(0.3)
    A = 0.95 * np.array([[c, -s], [s, c]])
    z = np.zeros((N, T, 2))
    z[:, 0] = rng.normal(size=(N, 2))
    for t in range(T - 1):
        z[:, t + 1] = z[:, t] @ A.T + math.sqrt(1 - 0.95**2) * rng.normal(size=(N, 2))
    C = rng.normal(size=(D, 2))
    x = z @ C.T + 0.1 * rng.normal(size=(N, T, D))
    return ArrayEpisodes(x.astype(np.float32), states=z.astype(np.float32))


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = {"latent_dim": 2, "obs_shape": (6,), "hidden": (16,), **kw}
    return RPGSSM(RPGSSMConfig(**cfg))


def _trainer(model, data=None, **kw):
    kw = {"lr": 1e-2, "steps": 40, "batch_size": 8, "window": 10, "progress": False, **kw}
    return EMTrainer(model, data if data is not None else _data(), device="cpu", **kw)


@pytest.mark.parametrize(("mode", "lr", "drop"), [("em", 3e-3, 0.12), ("direct", 1e-2, 0.3)])
def test_loss_decreases(mode, lr, drop):
    hist = _trainer(_model(), mode=mode, lr=lr, steps=60).fit()
    assert len(hist["loss"]) == 60
    first, last = np.mean(hist["loss"][:5]), np.mean(hist["loss"][-10:])
    assert first > math.log(8) - 0.5  # starts near log B
    assert last < first - drop
    assert np.mean(hist["log_gamma"][-10:]) > np.mean(hist["log_gamma"][:5]) + 0.3


def test_repeatable_with_seed():
    h1 = _trainer(_model(seed=3), seed=11, steps=8).fit()
    h2 = _trainer(_model(seed=3), seed=11, steps=8).fit()
    assert h1["loss"] == h2["loss"]
    h3 = _trainer(_model(seed=3), seed=12, steps=8).fit()
    assert h3["loss"] != h1["loss"]


def test_resume_continues_the_same_run(tmp_path):
    full = _trainer(_model(), seed=5, steps=16, decay_every=6).fit()
    path = tmp_path / "ckpt.pt"
    first = _trainer(_model(), seed=5, steps=16, decay_every=6)
    first.fit(steps=7)
    first.save(path)
    resumed = _trainer(_model(seed=99), seed=0, steps=16, decay_every=6)  # other init and seed
    assert resumed.resume(path) == 7
    hist = resumed.fit()
    assert hist["step"] == list(range(1, 17))
    assert hist["loss"] == full["loss"]  # bit-identical on CPU
    assert hist["lr"] == full["lr"]


def test_nan_batch_is_skipped_with_warning():
    model = _model()
    trainer = _trainer(model)
    good = next(iter(WindowBatcher(_data(), 8, 10)))
    bad = dict(good, obs=good["obs"].clone())
    bad["obs"][0, 3, 1] = float("nan")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.warns(NonFiniteStepWarning, match="NaN"):
        assert trainer.train_step(bad) is None
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert trainer.history["skipped"] == [0]
    assert trainer.train_step(good) is not None  # training goes on
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_nan_gradient_is_skipped_and_parameters_kept():
    model = _model()
    trainer = _trainer(model)
    batch = next(iter(WindowBatcher(_data(), 8, 10)))
    trainer.train_step(batch)
    before = [p.detach().clone() for p in model.parameters()]
    weight = model.recognition.networks[0].head.linear.weight
    handle = weight.register_hook(lambda g: g * float("nan"))
    with pytest.warns(NonFiniteStepWarning, match="gradients"):
        assert trainer.train_step(batch) is None
    handle.remove()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # a NaN loss (e.g. from a poisoned parameter) is skipped too, then restored data trains
    with torch.no_grad():
        model.prior.A_raw[0, 0] = float("nan")
    with pytest.warns(NonFiniteStepWarning, match="numerical failure|loss"):
        assert trainer.train_step(batch) is None
    assert trainer.history["skipped"] == [0, 0]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # restored
    assert trainer.train_step(batch) is not None


def test_too_many_bad_steps_raise():
    trainer = _trainer(_model(), max_bad_steps=3)
    batch = next(iter(WindowBatcher(_data(), 8, 10)))
    batch["obs"] = torch.full_like(batch["obs"], float("nan"))
    for _ in range(2):
        with pytest.warns(NonFiniteStepWarning):
            trainer.train_step(batch)
    with pytest.warns(NonFiniteStepWarning), pytest.raises(RuntimeError, match="consecutive"):
        trainer.train_step(batch)


def test_projection_after_every_step_and_schedule():
    model = _model(A_init=0.99)
    trainer = _trainer(model, lr=0.5, lr_recognition=1e-2, steps=12, decay_every=5, decay=0.2)
    hist = trainer.fit()
    assert max(hist["s_max"]) <= 1 - 1e-3 + 1e-5
    lrs = trainer.history["lr"]
    assert lrs[0] == pytest.approx(0.5)
    assert lrs[5] == pytest.approx(0.1)
    assert lrs[10] == pytest.approx(0.02)
    names = [g["name"] for g in trainer.optimizer.param_groups]
    assert names == ["prior", "recognition"]
    assert trainer.optimizer.param_groups[1]["lr"] == pytest.approx(1e-2 * 0.04)


def test_eval_hook_tensorboard_and_checkpoints(tmp_path):
    calls = []

    def hook(model, step):
        assert not model.training
        calls.append(step)
        return {"score": float(step)}

    ckpt = tmp_path / "ck.pt"
    trainer = _trainer(
        _model(),
        steps=6,
        eval_every=2,
        eval_fn=hook,
        log_dir=tmp_path / "tb",
        checkpoint_every=3,
        checkpoint_path=ckpt,
    )
    hist = trainer.fit()
    trainer.close()
    assert calls == [2, 4, 6]
    assert [e["step"] for e in hist["eval"]] == [2, 4, 6]
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    assert RPGSSM.load(ckpt).config == trainer.model.config


def test_time_budget_and_iterable_data():
    batches = list(WindowBatcher(_data(), 8, 10))
    trainer = _trainer(_model(), data=batches, steps=50, time_budget_min=0.0)
    assert trainer.fit()["step"] == []
    trainer = _trainer(_model(), data=batches, steps=5)
    assert trainer.fit()["step"] == [1, 2, 3, 4, 5]


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        _trainer(_model(), mode="bogus")
    with pytest.raises(ValueError, match="checkpoint_path"):
        _trainer(_model(), checkpoint_every=5)
    with pytest.raises(ValueError, match="episodes"):
        _trainer(_model(), batch_size=50)


def test_linear_beta_schedule_weights_each_step():
    schedule = linear_beta(0.5, 1.0, 2, 6)
    assert [schedule(s) for s in (0, 2, 4, 6, 9)] == [0.5, 0.5, 0.75, 1.0, 1.0]
    hist = _trainer(_model(), beta=schedule, steps=8, mode="direct").fit()
    # loss = -log_gamma + kl_qf + beta kl_qp: recover the beta each step used
    used = [
        (loss + lg - qf) / qp
        for loss, lg, qf, qp in zip(
            hist["loss"], hist["log_gamma"], hist["kl_qf"], hist["kl_qp"], strict=True
        )
    ]
    expected = [schedule(s - 1) for s in hist["step"]]
    np.testing.assert_allclose(used, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="first <= last"):
        linear_beta(0.5, 1.0, 5, 2)


def test_projection_eps_schedule_relaxes_the_cap_and_resumes(tmp_path):
    """From the scheduled step on the cap moves (A unchanged at the switch; the model's config
    follows, so checkpoints record it); a run resumed across the switch is bit-identical."""
    kw = {"A_param": "rotation", "A_init": 0.9, "projection_eps": 0.05}
    sched = [(4, 0.01)]
    full_model = _model(**kw)
    full = _trainer(full_model, seed=3, steps=10, projection_eps_schedule=sched)
    assert full.scheduled_projection_eps(3) == 0.05
    assert full.scheduled_projection_eps(4) == 0.01
    full.fit(steps=4)
    assert full_model.config.projection_eps == 0.05
    A_before = full_model.prior.A.detach().clone()
    full.fit(steps=5)
    assert full_model.config.projection_eps == 0.01
    full.fit()
    first = _trainer(_model(**kw), seed=3, steps=10, projection_eps_schedule=sched)
    first.fit(steps=6)
    first.save(tmp_path / "ckpt.pt")
    resumed = _trainer(_model(seed=7, **kw), seed=0, steps=10, projection_eps_schedule=sched)
    assert resumed.resume(tmp_path / "ckpt.pt") == 6
    hist = resumed.fit()
    assert hist["loss"] == full.history["loss"]  # bit-identical on CPU
    for a, b in zip(resumed.model.state_dict().values(), full_model.state_dict().values()):
        assert torch.equal(a, b)
    assert RPGSSM.load(tmp_path / "ckpt.pt").config.projection_eps == 0.01
    # the switch itself leaves A where it was
    switched = _trainer(_model(**kw), seed=3, steps=10, projection_eps_schedule=sched)
    switched.fit(steps=4)
    switched._apply_eps_schedule()
    assert switched.model.config.projection_eps == 0.01
    torch.testing.assert_close(switched.model.prior.A.detach(), A_before, rtol=0, atol=1e-6)
    # a step skipped by the NaN guard right at the switch keeps A (not the old cap's logits)
    guarded = _trainer(_model(**kw), projection_eps_schedule=[(0, 0.01)])
    A0 = guarded.model.prior.A.detach().clone()
    bad = next(iter(WindowBatcher(_data(), 8, 10)))
    bad["obs"][0, 0, 0] = float("nan")
    with pytest.warns(NonFiniteStepWarning):
        assert guarded.train_step(bad) is None
    assert guarded.model.config.projection_eps == 0.01
    torch.testing.assert_close(guarded.model.prior.A.detach(), A0, rtol=0, atol=1e-6)
    # without a schedule the trainer leaves a cap set by hand alone
    plain = _trainer(_model(**kw), steps=2)
    plain.model.set_projection_eps_(0.02)
    plain.fit()
    assert plain.model.config.projection_eps == 0.02
    with pytest.raises(ValueError, match="step >= 0 and 0 < eps < 1"):
        _trainer(_model(**kw), projection_eps_schedule=[(10, 1.5)])
    with pytest.raises(ValueError, match="pairs"):
        _trainer(_model(**kw), projection_eps_schedule=[0.02])
