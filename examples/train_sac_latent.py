"""SAC on RP-GSSM latents of pixel Pendulum, in one file you can read top to bottom (CleanRL style).

The agent never sees pixels: a ``VecLatentObservation`` (built by ``make_latent_env``) turns each
camera frame, and the action that led to it, into the RP-GSSM's filtered belief over latents; a
plain soft actor-critic (Haarnoja et al. 2018, with automatic entropy tuning) learns on those
beliefs. Pretrain a checkpoint first, e.g. with ``rpgssm demo`` (``runs/demo/model/model.pt``) or
``rpgssm pretrain``.

    python examples/train_sac_latent.py --checkpoint runs/demo/model/model.pt --distractor video

Logs go to TensorBoard (``runs/examples/<run name>``): episodic returns, losses, steps per second.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from rpgssm_env.wrappers.factory import make_latent_env


@dataclass
class Args:
    checkpoint: str = "runs/demo/model/model.pt"
    """the RP-GSSM checkpoint (frames and actions must match the env)"""
    env_id: str = "rpgssm/Pendulum-v0"
    """the pixel env id"""
    distractor: str | None = "video"
    """background distractor of the pixel env (None: clean frames)"""
    size: int = 64
    """frame size the checkpoint was trained on"""
    seed: int = 1
    """seed of the experiment"""
    total_timesteps: int = 20_000
    """env steps"""
    buffer_size: int = 100_000
    """replay buffer size"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """minibatch size"""
    learning_starts: int = 100
    """steps of random actions before learning"""
    lr: float = 1e-3
    """learning rate of the actor, the critics and the entropy temperature (RL Zoo: 1e-3)"""
    log_dir: str = "runs/examples"
    """TensorBoard folder"""


def make_env(args: Args):
    """One latent-state env (SB3 VecEnv API, the filter runs in this process)."""
    venv = make_latent_env(
        args.env_id,
        args.checkpoint,
        n_envs=1,
        distractor=args.distractor,
        vec="dummy",
        seed=args.seed,
        env_kwargs={"size": args.size},
    )
    return venv


class SoftQNetwork(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim + act_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, a], 1))


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(obs_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU()
        )
        self.mean = nn.Linear(256, act_dim)
        self.log_std = nn.Linear(256, act_dim)
        self.register_buffer("scale", torch.tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("bias", torch.tensor((high + low) / 2.0, dtype=torch.float32))

    def get_action(self, x: torch.Tensor):
        h = self.trunk(x)
        mean, log_std = self.mean(h), torch.clamp(self.log_std(h), -5, 2)
        normal = torch.distributions.Normal(mean, log_std.exp())
        u = normal.rsample()
        y = torch.tanh(u)
        action = y * self.scale + self.bias
        log_prob = normal.log_prob(u) - torch.log(self.scale * (1 - y.pow(2)) + 1e-6)
        return action, log_prob.sum(1, keepdim=True), torch.tanh(mean) * self.scale + self.bias


def main(args: Args) -> float:
    """Train; returns the mean of the last 10 episodic returns."""
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    run_name = f"sac_latent_{args.seed}_{int(time.time())}"
    writer = SummaryWriter(os.path.join(args.log_dir, run_name))

    envs = make_env(args)
    obs_dim = envs.observation_space.shape[0]
    act_dim = envs.action_space.shape[0]
    low, high = envs.action_space.low, envs.action_space.high
    actor = Actor(obs_dim, act_dim, low, high)
    qf1, qf2 = SoftQNetwork(obs_dim, act_dim), SoftQNetwork(obs_dim, act_dim)
    qf1_t, qf2_t = SoftQNetwork(obs_dim, act_dim), SoftQNetwork(obs_dim, act_dim)
    qf1_t.load_state_dict(qf1.state_dict())
    qf2_t.load_state_dict(qf2.state_dict())
    q_opt = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=args.lr)
    a_opt = torch.optim.Adam(actor.parameters(), lr=args.lr)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=args.lr)

    # a replay buffer of latent beliefs (the filter's output), not of frames
    size = min(args.buffer_size, args.total_timesteps)
    b_obs = np.zeros((size, obs_dim), np.float32)
    b_next = np.zeros((size, obs_dim), np.float32)
    b_act = np.zeros((size, act_dim), np.float32)
    b_rew = np.zeros((size, 1), np.float32)
    b_done = np.zeros((size, 1), np.float32)

    returns: list[float] = []
    ep_return = 0.0
    start = time.time()
    obs = envs.reset()
    for step in range(args.total_timesteps):
        # 1. act
        if step < args.learning_starts:
            action = np.array([envs.action_space.sample()])
        else:
            with torch.no_grad():
                action = actor.get_action(torch.from_numpy(obs))[0].numpy()
        next_obs, reward, done, infos = envs.step(action)
        ep_return += float(reward[0])
        # 2. store: at the end of an episode the true next belief is the terminal one;
        #    Pendulum episodes end by time limit only, so we bootstrap through them
        real_next = next_obs.copy()
        if done[0]:
            real_next[0] = infos[0]["terminal_observation"]
            returns.append(ep_return)
            writer.add_scalar("charts/episodic_return", ep_return, step)
            print(f"step={step} episodic_return={ep_return:.1f}")
            ep_return = 0.0
        truncated = infos[0].get("TimeLimit.truncated", False)
        i = step % size
        b_obs[i], b_next[i], b_act[i] = obs[0], real_next[0], action[0]
        b_rew[i], b_done[i] = reward[0], float(done[0] and not truncated)
        obs = next_obs
        # 3. learn
        if step >= args.learning_starts:
            idx = rng.integers(0, min(step + 1, size), args.batch_size)
            o, o2 = torch.from_numpy(b_obs[idx]), torch.from_numpy(b_next[idx])
            a, r, d = (
                torch.from_numpy(b_act[idx]),
                torch.from_numpy(b_rew[idx]),
                torch.from_numpy(b_done[idx]),
            )
            alpha = log_alpha.exp().detach()
            with torch.no_grad():
                a2, logp2, _ = actor.get_action(o2)
                q_next = torch.min(qf1_t(o2, a2), qf2_t(o2, a2)) - alpha * logp2
                target = r + (1 - d) * args.gamma * q_next
            q_loss = F.mse_loss(qf1(o, a), target) + F.mse_loss(qf2(o, a), target)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()
            pi, logp, _ = actor.get_action(o)
            actor_loss = (alpha * logp - torch.min(qf1(o, pi), qf2(o, pi))).mean()
            a_opt.zero_grad()
            actor_loss.backward()
            a_opt.step()
            alpha_loss = -(log_alpha.exp() * (logp.detach() + target_entropy)).mean()
            alpha_opt.zero_grad()
            alpha_loss.backward()
            alpha_opt.step()
            for net, tgt in ((qf1, qf1_t), (qf2, qf2_t)):
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.data.mul_(1 - args.tau).add_(args.tau * p.data)
            if step % 100 == 0:
                writer.add_scalar("losses/q_loss", q_loss.item(), step)
                writer.add_scalar("losses/actor_loss", actor_loss.item(), step)
                writer.add_scalar("losses/alpha", alpha.item(), step)
                writer.add_scalar("charts/SPS", int(step / (time.time() - start)), step)
    envs.close()
    writer.close()
    return float(np.mean(returns[-10:])) if returns else float("nan")


if __name__ == "__main__":
    import argparse
    import dataclasses

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        kind = int if f.type in ("int", int) else float if f.type in ("float", float) else str
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default)
    ns = parser.parse_args()
    if ns.distractor in ("None", "none", ""):
        ns.distractor = None
    print(f"mean of the last 10 episodic returns: {main(Args(**vars(ns))):.1f}")
