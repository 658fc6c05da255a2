"""The online filter (rpgssm_env.model.online) against the batch filter (spec 6 and oracle 10)."""

from __future__ import annotations

import pickle
import platform
import sys

import numpy as np
import pytest
import torch

from rpgssm_env.model.inference import PriorChain, prior_marginals
from rpgssm_env.model.online import FEATURES, RolloutRecorder, RPGSSMFilter, feature_dim
from rpgssm_env.model.rpgssm import RPGSSM, RPGSSMConfig

torch.set_num_threads(1)

D_OBS = 5


def _model(action_kind: str | None, dtype: str = "float64", seed: int = 0, **kw) -> RPGSSM:
    torch.manual_seed(seed)
    cfg = RPGSSMConfig(
        latent_dim=3,
        obs_shape=(D_OBS,),
        hidden=(8,),
        head=kw.pop("head", "diagonal"),
        prior=kw.pop("prior", "general"),
        A_init=0.8,
        action_kind=action_kind,
        action_dim=2 if action_kind == "continuous" else None,
        num_actions=3 if action_kind == "discrete" else None,
        action_mlp=(4,) if action_kind == "continuous" else (),
        action_matrix=action_kind is not None,
        dtype=dtype,
        **kw,
    )
    model = RPGSSM(cfg).eval()
    with torch.no_grad():  # move away from the near-zero initialisation so every term matters
        for name, p in model.named_parameters():
            if "actions" in name or "head" in name:
                p.add_(0.3 * torch.randn_like(p))
    return model


def _episodes(model: RPGSSM, n_env: int, total: int, rng: np.random.Generator):
    """Per env: a list of episodes (obs (T, D), actions (T-1, ...)) with about ``total`` frames."""
    kind = model.config.action_kind
    out = []
    for _ in range(n_env):
        eps, used = [], 0
        while used < total + 40:
            T = int(rng.integers(1, 60))
            obs = rng.normal(size=(T, D_OBS))
            if kind == "continuous":
                act = rng.normal(size=(T - 1, 2))
            elif kind == "discrete":
                act = rng.integers(0, 3, size=T - 1)
            else:
                act = None
            eps.append((obs, act))
            used += T
        out.append(eps)
    return out


def _reference(model: RPGSSM, obs: np.ndarray, act: np.ndarray | None):
    """Batch filter's filtered marginals of one episode: (T, K), (T, K, K)."""
    post = model.posterior(
        torch.as_tensor(obs)[None], None if act is None else torch.as_tensor(act)[None]
    )
    return post.filtered_means[0].numpy(), post.filtered_covs[0].numpy()


def _random_action(kind: str | None, rng: np.random.Generator):
    if kind == "continuous":
        return rng.normal(size=2)
    if kind == "discrete":
        return int(rng.integers(0, 3))
    return 0


@pytest.mark.parametrize(
    ("kind", "head"), [("continuous", "full"), ("discrete", "constant"), (None, "diagonal")]
)
def test_online_filter_equals_batch_filter_with_episode_boundaries(kind, head):
    """500 steps of 3 envs with actions and episode starts (``dones``): every online belief equals
    the batch filter's filtered marginal of its episode to 1e-5 (float64). (The full and
    constant heads give non-diagonal precisions.)"""
    rng = np.random.default_rng(1)
    model = _model(kind, head=head)
    n_env, n_steps = 3, 500
    episodes = _episodes(model, n_env, n_steps, rng)
    refs = [[_reference(model, o, a) for o, a in eps] for eps in episodes]
    pos = [[0, 0] for _ in range(n_env)]  # (episode, t) of each env's current frame
    filt = RPGSSMFilter(model, n_env, device="cpu")
    filt.reset(None, np.stack([episodes[i][0][0][0] for i in range(n_env)]))
    n_starts = 0
    for step in range(n_steps + 1):
        if step > 0:
            frames, actions, dones = [], [], []
            for i in range(n_env):
                e, t = pos[i]
                obs, act = episodes[i][e]
                if t + 1 < len(obs):
                    pos[i] = [e, t + 1]
                    frames.append(obs[t + 1])
                    actions.append(act[t] if kind else 0)
                    dones.append(False)
                else:
                    pos[i] = [e + 1, 0]
                    frames.append(episodes[i][e + 1][0][0])
                    actions.append(_random_action(kind, rng))  # ignored at a start
                    dones.append(True)
            n_starts += sum(dones)
            filt.step(np.stack(frames), None if kind is None else np.stack(actions), dones)
        for i in range(n_env):
            e, t = pos[i]
            mean, cov = refs[i][e]
            np.testing.assert_allclose(filt.mean[i].numpy(), mean[t], atol=1e-5, rtol=0)
            np.testing.assert_allclose(filt.cov[i].numpy(), cov[t], atol=1e-5, rtol=0)
    assert n_starts >= 10


def test_step_autoreset_filters_terminal_frames_like_the_batch_filter():
    """Same-step autoreset (SB3, Gymnasium SAME_STEP): the final belief of each ended episode is
    the batch filter's last filtered marginal, and the new episode starts from the prior."""
    rng = np.random.default_rng(2)
    model = _model("continuous", head="full")
    n_env, n_steps = 4, 300
    episodes = _episodes(model, n_env, 2 * n_steps, rng)
    episodes = [[ep for ep in eps if len(ep[0]) >= 2] for eps in episodes]  # SB3: T >= 2
    refs = [[_reference(model, o, a) for o, a in eps] for eps in episodes]
    filt = RPGSSMFilter(model, n_env, features="mean+std", device="cpu")
    pos = [[0, 0] for _ in range(n_env)]
    filt.reset(None, np.stack([episodes[i][0][0][0] for i in range(n_env)]))
    n_final = 0
    for _ in range(n_steps):
        frames, actions, dones, finals, final_ref = [], [], [], [], []
        for i in range(n_env):
            e, t = pos[i]
            obs, act = episodes[i][e]
            actions.append(act[t])
            if t + 2 == len(obs):  # the next frame is terminal: autoreset
                finals.append(obs[t + 1])
                final_ref.append((refs[i][e][0][t + 1], refs[i][e][1][t + 1]))
                frames.append(episodes[i][e + 1][0][0])
                dones.append(True)
                pos[i] = [e + 1, 0]
            else:
                frames.append(obs[t + 1])
                dones.append(False)
                pos[i] = [e, t + 1]
        feats, final_feats = filt.step_autoreset(
            np.stack(frames), np.stack(actions), dones, np.stack(finals) if finals else None
        )
        assert feats.shape == (n_env, 6)
        assert final_feats.shape == (len(finals), 6)
        for k, (m, P) in enumerate(final_ref):
            np.testing.assert_allclose(final_feats[k, :3], m, atol=1e-5, rtol=1e-6)
            np.testing.assert_allclose(final_feats[k, 3:], np.sqrt(np.diag(P)), atol=1e-5)
        n_final += len(finals)
        for i in range(n_env):
            e, t = pos[i]
            np.testing.assert_allclose(filt.mean[i].numpy(), refs[i][e][0][t], atol=1e-5, rtol=0)
            np.testing.assert_allclose(filt.cov[i].numpy(), refs[i][e][1][t], atol=1e-5, rtol=0)
            np.testing.assert_allclose(feats[i, :3], refs[i][e][0][t], atol=1e-5, rtol=1e-6)
    assert n_final >= 10


def test_image_model_runs_one_forward_pass_per_step():
    """Frames of all N envs (and the terminal frames) go through the network in one call."""
    torch.manual_seed(0)
    cfg = RPGSSMConfig(latent_dim=2, obs_shape=(16, 16, 3), channels=(4, 4), strides=(2, 2))
    model = RPGSSM(cfg).eval()
    calls = []
    model.recognition.networks[0].register_forward_hook(
        lambda mod, inp, out: calls.append(inp[0].shape[0])
    )
    filt = RPGSSMFilter(model, 4, device="cpu")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(6, 4, 16, 16, 3), dtype=np.uint8)
    filt.reset(None, frames[0])
    for t in range(1, 5):
        filt.step(frames[t], None)
    dones = np.array([True, False, True, False])
    filt.step_autoreset(frames[5], None, dones, frames[5][:2])
    assert calls == [4, 4, 4, 4, 4, 6]
    # uint8 frames and the same frames as float in [0, 1] give the same belief
    f2 = RPGSSMFilter(model, 4, device="cpu")
    a = filt.reset(None, frames[0])
    b = f2.reset(None, frames[0].astype(np.float32) / 255.0)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_long_run_stays_finite_and_positive_definite():
    """10 000 sequential steps x 100 envs (1M belief updates) in float32 with s_max(A) = 0.999,
    extreme potentials (full-head precisions with eigenvalues up to about 1e8, so large that
    float32 rounding makes some slightly indefinite) and episode restarts: beliefs stay
    finite, covariances positive definite and bounded by the prior (invariant prior: P <= I).

    (The covariance recursion is a contraction that forgets round-off geometrically, so 10 000
    steps exercise the same regime as 100 000; the 100 000-step run is the ``slow`` variant.)
    """
    _long_run(n_steps=10_000, n_env=100)


@pytest.mark.slow
def test_long_run_100k_steps():
    _long_run(n_steps=100_000, n_env=16)


def _long_run(n_steps: int, n_env: int) -> None:
    torch.manual_seed(0)
    K = 4
    cfg = RPGSSMConfig(
        latent_dim=K, obs_shape=(3,), hidden=(), head="full", action_kind="continuous",
        action_dim=1, A_init=0.999, dtype="float32",
    )  # fmt: skip
    model = RPGSSM(cfg).eval()
    with torch.no_grad():
        A = torch.linalg.qr(torch.randn(K, K))[0] * 2.0  # a rotation, scaled: s_max = 2
        model.prior.A_raw.copy_(A)
        model.project_()  # clip to s_max = 0.999
        head = model.recognition.networks[0].head.linear
        head.weight.mul_(0).add_(3.0 * torch.randn_like(head.weight))  # huge/tiny precisions
        model.prior.actions.B_u.fill_(0.5)
    assert abs(model.prior.spectral_norm() - 0.999) < 1e-4
    filt = RPGSSMFilter(model, n_env, features="mean+cov", device="cpu", validate=False)
    rng = np.random.default_rng(0)
    pool = rng.normal(scale=3.0, size=(64, n_env, 3)).astype(np.float32)
    pool[::5] *= 100.0  # very precise frames now and then
    actions = rng.normal(size=(64, n_env, 1)).astype(np.float32)
    filt.reset(None, pool[0])
    for t in range(n_steps):
        dones = (rng.random(n_env) < 0.001) if t % 97 == 0 else None
        feats = filt.step(pool[t % 64], actions[(t * 7) % 64], dones)
        if t % 1000 == 999 or t == n_steps - 1:
            assert np.isfinite(feats).all()
            cov = filt.cov.double()
            eig = torch.linalg.eigvalsh(cov)
            assert bool((eig > 0).all()), f"non-PD covariance at step {t}: {eig.min()}"
            assert bool((eig < 1 + 1e-4).all()), f"covariance above the prior at step {t}"
            assert bool(torch.isfinite(filt.mean).all())


@pytest.mark.parametrize("features", FEATURES)
def test_features_shapes_bounds_and_content(features):
    model = _model(None, dtype="float32", prior="invariant")
    K = model.latent_dim
    filt = RPGSSMFilter(model, 2, features=features, device="cpu")
    F = feature_dim(features, K)
    assert filt.feature_dim == F
    low, high = filt.feature_bounds()
    assert low.shape == high.shape == (F,)
    assert low.dtype == np.float32
    assert np.isinf(low[:K]).all()
    assert np.isinf(high[:K]).all()
    if features != "mean":
        assert (high[K:] == 1.0).all()  # invariant prior: P <= I
    rng = np.random.default_rng(0)
    feats = filt.reset(None, rng.normal(size=(2, D_OBS)).astype(np.float32))
    feats = filt.step(rng.normal(size=(2, D_OBS)).astype(np.float32), None)
    assert feats.shape == (2, F)
    assert feats.dtype == np.float32
    assert ((feats >= low) & (feats <= high)).all()
    np.testing.assert_allclose(feats[:, :K], filt.mean.numpy(), rtol=1e-6)
    if features == "mean+std":
        np.testing.assert_allclose(
            feats[:, K:], np.sqrt(np.diagonal(filt.cov.numpy(), axis1=1, axis2=2)), rtol=1e-6
        )
    if features == "mean+cov":
        L = np.linalg.cholesky(filt.cov.numpy())
        rows, cols = np.tril_indices(K)
        np.testing.assert_allclose(feats[:, K:], L[:, rows, cols], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(filt.get_features([1]), feats[1:], rtol=1e-6)
    # general prior: no finite upper bound is known for every weight setting
    gen = RPGSSMFilter(_model(None, dtype="float32"), 1, features=features, device="cpu")
    assert np.isinf(gen.feature_bounds()[1]).all()


@pytest.mark.parametrize("kind", ["continuous", "discrete"])
def test_k_step_prediction_is_the_prior_recursion_from_the_belief(kind):
    rng = np.random.default_rng(3)
    model = _model(kind)
    filt = RPGSSMFilter(model, 3, device="cpu")
    filt.reset(None, rng.normal(size=(3, D_OBS)))
    k = 5
    plan = rng.normal(size=(2, k, 2)) if kind == "continuous" else rng.integers(0, 3, size=(2, k))
    pred = filt.predict(plan, indices=[2, 0])
    assert pred.means.shape == (2, k, 3)
    assert pred.covs.shape == (2, k, 3, 3)
    with torch.no_grad():
        chain = model.chain(torch.as_tensor(plan), 2, k + 1)
    for row, i in enumerate([2, 0]):
        sub = PriorChain(
            filt.mean[i], filt.cov[i], chain.A[row : row + 1], chain.b[row : row + 1], chain.Q
        )
        m, S = prior_marginals(sub, k + 1, 1)
        np.testing.assert_allclose(pred.means[row].numpy(), m[0, 1:].numpy(), atol=1e-10)
        np.testing.assert_allclose(pred.covs[row].numpy(), S[0, 1:].numpy(), atol=1e-10)
    before = filt.mean.clone()
    filt.predict(plan, indices=[2, 0])
    assert torch.equal(before, filt.mean)  # predictions leave the beliefs alone
    with pytest.raises(ValueError, match="planned actions"):
        filt.predict(plan[:1], indices=[2, 0])
    auto = RPGSSMFilter(_model(None), 1, device="cpu")
    auto.reset(None, rng.normal(size=(1, D_OBS)))
    assert auto.predict(steps=4).means.shape == (1, 4, 3)


def test_weights_swap_in_place_and_set_model_checks():
    rng = np.random.default_rng(4)
    model = _model("discrete")
    filt = RPGSSMFilter(model, 2, device="cpu")
    x = rng.normal(size=(2, D_OBS))
    filt.reset(None, x)
    a = filt.step(x, np.array([0, 1]))
    other = _model("discrete", seed=5)
    filt.load_state_dict(other.state_dict())
    assert filt.model is model  # same module, new weights
    assert torch.equal(model.prior.A_raw, other.prior.A_raw)
    filt.reset(None, x)
    b = filt.step(x, np.array([0, 1]))
    assert not np.allclose(a, b)
    ref = RPGSSMFilter(other, 2, device="cpu")
    ref.reset(None, x)
    np.testing.assert_allclose(ref.step(x, np.array([0, 1])), b, rtol=1e-6)
    with pytest.raises(ValueError, match="action_kind"):
        filt.set_model(_model("continuous"))
    filt.set_model(other)
    assert filt.model is other


def test_pickle_round_trip_keeps_weights():
    rng = np.random.default_rng(5)
    model = _model("continuous")
    filt = RPGSSMFilter(model, 2, features="mean+cov", device="cpu")
    clone = pickle.loads(pickle.dumps(filt))
    x, a = rng.normal(size=(2, D_OBS)), rng.normal(size=(2, 2))
    for f in (filt, clone):
        f.reset(None, x)
    np.testing.assert_allclose(filt.step(x, a), clone.step(x, a), rtol=1e-12)
    assert clone.model is not model


def test_bad_input_raises_clear_errors():
    torch.manual_seed(0)
    cfg = RPGSSMConfig(latent_dim=2, obs_shape=(16, 16, 3), channels=(4,), strides=(2,),
                       action_kind="continuous", action_dim=2)  # fmt: skip
    filt = RPGSSMFilter(RPGSSM(cfg), 2, device="cpu")
    ok = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(RuntimeError, match="before reset"):
        filt.step(ok, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"16x16 frames with 3 channel\(s\).*24x24 pixels"):
        filt.reset(None, np.zeros((2, 24, 24, 3), np.uint8))
    with pytest.raises(ValueError, match=r"3 channel\(s\).*1 channel"):
        filt.reset(None, np.zeros((2, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(2, 16, 16, 3\)"):
        filt.reset(None, np.zeros((3, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 in"):
        filt.reset(None, np.zeros((2, 16, 16, 3), np.int32))
    bad = np.zeros((2, 16, 16, 3), np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        filt.reset(None, bad)
    filt.reset(None, ok)
    with pytest.raises(ValueError, match=r"shape \(N, A\) = \(2, 2\)"):
        filt.step(ok, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="action-conditioned"):
        filt.step(ok, None)
    with pytest.raises(ValueError, match="dones must have shape"):
        filt.step(ok, np.zeros((2, 2), np.float32), [True])
    with pytest.raises(ValueError, match="features must be one of"):
        RPGSSMFilter(RPGSSM(cfg), 1, features="median", device="cpu")
    with pytest.raises(TypeError, match="checkpoint path"):
        RPGSSMFilter(42, 1)  # type: ignore[arg-type]
    disc = RPGSSMFilter(_model("discrete"), 2, device="cpu")
    disc.reset(None, np.zeros((2, D_OBS)))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        disc.step(np.zeros((2, D_OBS)), np.array([0, 3]))
    with pytest.raises(ValueError, match="integers"):
        disc.step(np.zeros((2, D_OBS)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="float vectors"):
        disc.step(np.zeros((2, D_OBS), np.int64), np.array([0, 1]))


def test_rollout_recorder_streams_split_into_episodes():
    rec = RolloutRecorder(capacity=100)
    rec.reset([0, 1], np.zeros((2, 3)))
    rec.step(np.ones((2, 3)), np.array([[0.5], [0.6]]))
    rec.step(np.full((2, 3), 2.0), np.array([[0.7], [0.8]]), [False, True], np.full((1, 3), 9.0))
    frames, actions, firsts = rec.stream(1)
    assert frames[:, 0].tolist() == [0.0, 1.0, 9.0, 2.0]
    assert actions[:, 0].tolist() == [0.0, 0.6, 0.8, 0.0]
    assert firsts.tolist() == [True, False, False, True]
    assert len(rec.stream(0)[0]) == 3
    assert len(rec) == 7


def test_tune_malloc_is_idempotent_and_optional():
    from rpgssm_env.model import online

    first = online.tune_malloc()
    assert online.tune_malloc() == first  # applied once per process
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert first
    filt = RPGSSMFilter(_model(None), 1, device="cpu", tune_malloc=False)
    assert not filt.tune_malloc


def test_two_modalities_sum_their_potentials_like_the_batch_filter():
    """J = 2 (a camera and a vector sensor): one sequence of J frame arrays per call."""
    from rpgssm_env.model.rpgssm import ModalityConfig

    torch.manual_seed(0)
    cfg = RPGSSMConfig(
        latent_dim=2,
        modalities=(
            ModalityConfig((16, 16, 1), channels=(4,), strides=(2,)),
            ModalityConfig((4,), hidden=()),
        ),
        dtype="float64",
    )
    model = RPGSSM(cfg).eval()
    rng = np.random.default_rng(6)
    T = 6
    cam = rng.integers(0, 256, size=(2, T, 16, 16, 1), dtype=np.uint8)
    vec = rng.normal(size=(2, T, 4))
    ref = model.posterior([torch.as_tensor(cam), torch.as_tensor(vec)])
    filt = RPGSSMFilter(model, 2, device="cpu")
    filt.reset(None, [cam[:, 0], vec[:, 0]])
    for t in range(1, T):
        filt.step([cam[:, t], vec[:, t]], None)
    np.testing.assert_allclose(filt.mean.numpy(), ref.filtered_means[:, -1].numpy(), atol=1e-10)
    np.testing.assert_allclose(filt.cov.numpy(), ref.filtered_covs[:, -1].numpy(), atol=1e-10)
    with pytest.raises(ValueError, match="2 modalities"):
        filt.step([cam[:, 0]], None)
