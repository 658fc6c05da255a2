"""The agents' data preparation: pretraining rollouts, reuse and the background schedule."""

from __future__ import annotations

import numpy as np

from rpgssm_env.agents.pipeline import PRETRAIN_DISTRACTOR_MODE, prepare_dataset
from rpgssm_env.data.io import open_dataset
from rpgssm_env.envs.collect import provenance_json


def _prepare(path, **kw):
    opts = {"env_kwargs": {"size": 16}, "workers": 1, "max_steps": 4, "progress": False}
    return prepare_dataset(path, "rpgssm/Pendulum-v0", 2, distractor="video", **{**opts, **kw})


def test_pretraining_rollouts_draw_a_new_background_every_step(tmp_path):
    path = _prepare(tmp_path / "d.h5")
    assert PRETRAIN_DISTRACTOR_MODE == "step"
    prov = provenance_json(path)
    assert prov["env_kwargs"] == {"size": 16, "distractor": "video", "distractor_mode": "step"}
    played = _prepare(tmp_path / "v.h5", distractor_mode="video")
    with open_dataset(path) as stepped, open_dataset(played) as video:
        # the top-left corner is background: consecutive video frames barely change there,
        # random frames of the clips change a lot
        def corner_change(src):
            obs = src.episode(0)["obs"][:, :3, :3].astype(float)
            return np.abs(np.diff(obs, axis=0)).mean()

        assert corner_change(stepped) > 4 * corner_change(video)


def test_prepared_rollouts_are_reused_only_for_the_same_settings(tmp_path):
    path = _prepare(tmp_path / "d.h5")
    mtime = path.stat().st_mtime_ns
    assert _prepare(tmp_path / "d.h5").stat().st_mtime_ns == mtime  # reused
    _prepare(tmp_path / "d.h5", distractor_mode="video")  # another schedule: collected again
    assert path.stat().st_mtime_ns != mtime
    assert provenance_json(path)["env_kwargs"]["distractor_mode"] == "video"
    mtime = path.stat().st_mtime_ns
    _prepare(tmp_path / "d.h5", distractor_mode="video", policy="sticky")  # another policy
    assert path.stat().st_mtime_ns != mtime
    assert provenance_json(path)["policy"] == "sticky"


def test_start_state_ranges_reach_the_collected_rollouts(tmp_path):
    kw = {"env_kwargs": {"size": 16}, "workers": 1, "max_steps": 3, "progress": False}
    path = prepare_dataset(tmp_path / "c.h5", "rpgssm/CartPole-v0", 30, init_state="wide", **kw)
    assert provenance_json(path)["env_kwargs"]["init_state"] == "wide"
    with open_dataset(path) as src:
        x0 = np.array([src.read(i).states[0, 0] for i in range(len(src))])
    assert x0.std() > 0.8  # uniform on +-2 m: std 1.15
    own = prepare_dataset(tmp_path / "own.h5", "rpgssm/CartPole-v0", 5, **kw)
    assert "init_state" not in provenance_json(own)["env_kwargs"]
    with open_dataset(own) as src:
        assert max(abs(src.read(i).states[0, 0]) for i in range(len(src))) <= 0.05  # the env's
