"""Several PPO models in one process, batched: what would it save? (issue #23, item 4, investigated)

A walk-forward trial trains one model per fold (and per seed), one after the other, each through
SB3's own PPO. This measures, for K such models of the default PPO (the project's observation and
actions, two hidden layers of 64 tanh units for the policy and for the value, minibatches of 128,
Adam, gradient norm clipped per model), the CPU time of the two parts that make up nearly all of a
trial's training (docs/benchmarks.md, "Where a trial's CPU time goes"):

- one minibatch update (SB3's ``evaluate_actions``, PPO's clipped loss with its value and entropy
  terms, backward, ``clip_grad_norm_``, Adam's step): K SB3 policies one after the other, against one
  update of K models whose weights are stacked (batched matrix products; one Adam over the stacked
  weights, which is K independent Adams since Adam works element by element; each model's gradient
  clipped by its own norm);
- one rollout step's policy forward pass for 4 environments per model: K SB3 ``policy.forward``
  calls against one batched forward of the K stacked models.

The batched form is written here only to be timed: nothing in the project trains with it. Command:
``python bench/bench_batched.py`` (about a minute; writes docs/benchmarks.md's ``trial-batched``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402

OBS, ACTIONS, WIDTH, BATCH, N_ENVS = 4, 3, 64, 128, 4  # the project's env and default PPO
CLIP, ENT, VF, MAX_NORM = 0.2, 0.01, 0.5, 0.5


def sb3_policies(k: int) -> list:
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy

    obs_space = spaces.Box(-5, 5, (OBS,), np.float32)
    return [ActorCriticPolicy(obs_space, spaces.Discrete(ACTIONS), lambda _: 3e-4,
                              net_arch={"pi": [WIDTH, WIDTH], "vf": [WIDTH, WIDTH]}, activation_fn=nn.Tanh)
            for _ in range(k)]


def ppo_loss(log_prob, old_log_prob, adv, values, returns, entropy):
    ratio = torch.exp(log_prob - old_log_prob)
    policy = -torch.min(adv * ratio, adv * torch.clamp(ratio, 1 - CLIP, 1 + CLIP)).mean(-1)
    return policy + VF * ((returns - values) ** 2).mean(-1) - ENT * entropy.mean(-1)


def sb3_update(policies, batch) -> None:
    obs, actions, old_log_prob, adv, returns = batch
    for i, policy in enumerate(policies):
        values, log_prob, entropy = policy.evaluate_actions(obs[i], actions[i])
        loss = ppo_loss(log_prob, old_log_prob[i], adv[i], values.flatten(), returns[i], entropy)
        policy.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), MAX_NORM)
        policy.optimizer.step()


class Stacked(nn.Module):
    """K actor-critic MLPs as stacked weights: every layer one batched matrix product."""

    def __init__(self, k: int) -> None:
        super().__init__()

        def layer(n_in: int, n_out: int) -> tuple[nn.Parameter, nn.Parameter]:
            return nn.Parameter(torch.randn(k, n_in, n_out) / n_in ** 0.5), nn.Parameter(torch.zeros(k, 1, n_out))

        self.pi = nn.ParameterList([*layer(OBS, WIDTH), *layer(WIDTH, WIDTH), *layer(WIDTH, ACTIONS)])
        self.vf = nn.ParameterList([*layer(OBS, WIDTH), *layer(WIDTH, WIDTH), *layer(WIDTH, 1)])
        self.optimizer = torch.optim.Adam(self.parameters(), lr=3e-4)

    @staticmethod
    def _mlp(x, params):
        for j in range(0, len(params), 2):
            x = torch.baddbmm(params[j + 1], x, params[j])
            if j + 2 < len(params):
                x = torch.tanh(x)
        return x

    def forward(self, obs):
        return self._mlp(obs, self.pi), self._mlp(obs, self.vf).squeeze(-1)


def batched_act(model: Stacked, obs):
    """What SB3's ``policy.forward`` does in a rollout step: the values, a sampled action, its log-prob."""
    logits, values = model(obs)
    dist = torch.distributions.Categorical(logits=logits)
    actions = dist.sample()
    return actions, values, dist.log_prob(actions)


def batched_update(model: Stacked, batch) -> None:
    obs, actions, old_log_prob, adv, returns = batch
    logits, values = model(obs)
    dist = torch.distributions.Categorical(logits=logits)
    loss = ppo_loss(dist.log_prob(actions), old_log_prob, adv, values, returns, dist.entropy()).sum()
    model.optimizer.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    norms = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()  # one norm per model
    scale = torch.clamp(MAX_NORM / (norms + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    model.optimizer.step()


def a_batch(k: int, rng: torch.Generator):
    return (torch.randn(k, BATCH, OBS, generator=rng), torch.randint(0, ACTIONS, (k, BATCH), generator=rng),
            torch.randn(k, BATCH, generator=rng) * 0.1 - 1.1, torch.randn(k, BATCH, generator=rng),
            torch.randn(k, BATCH, generator=rng))


def cpu_per_call(fn, calls: int) -> float:
    for _ in range(20):  # warm-up
        fn()
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def measure(ks: tuple[int, ...], calls: int, repeats: int) -> list[str]:
    torch.set_num_threads(1)
    rng = torch.Generator().manual_seed(0)
    rows = []
    for k in ks:
        policies, stacked, batch = sb3_policies(k), Stacked(k), a_batch(k, rng)
        obs = torch.randn(k, N_ENVS, OBS, generator=rng)
        times = {"update": ([], []), "forward": ([], [])}
        for _ in range(repeats):  # taking turns
            times["update"][0].append(cpu_per_call(lambda: sb3_update(policies, batch), calls))
            times["update"][1].append(cpu_per_call(lambda: batched_update(stacked, batch), calls))
            with torch.no_grad():
                times["forward"][0].append(cpu_per_call(lambda: [p(obs[i]) for i, p in enumerate(policies)], calls))
                times["forward"][1].append(cpu_per_call(lambda: batched_act(stacked, obs), calls))
        cells = []
        for part in ("update", "forward"):
            one_by_one, together = (1000 * float(np.median(t)) for t in times[part])
            cells += [f"{one_by_one:.2f}", f"{together:.2f}", f"x{one_by_one / together:.1f}"]
        rows.append(f"| {k} | {' | '.join(cells)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    rows = measure((1, 2, 4, 8, 12), args.calls, args.repeats)
    text = "\n".join([
        f"CPU milliseconds per call, one thread, medians of {args.repeats} rounds of {args.calls} calls taking turns:",
        "K models of the default PPO one after the other through SB3's own policy, or stacked and batched",
        f"(written only to be timed). Update: one minibatch of {BATCH} per model; forward: one rollout step of",
        f"{N_ENVS} environments per model. Command: `python bench/bench_batched.py`.", "",
        "| models (K) | update: SB3, one by one | update: batched | ratio | forward: SB3, one by one | "
        "forward: batched | ratio |", "|---|---|---|---|---|---|---|", *rows])
    write_section(args.docs, "trial-batched", text)
    print(text)


if __name__ == "__main__":
    main()
