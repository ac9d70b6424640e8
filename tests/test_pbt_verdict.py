"""PBT's recommendation (``hydra_plugins.hpo_sweeper._pbt_verdict``) on constructed studies where the
answer is known: exploits rank on the first part of validation, the rest decides against the control
member (the real ``arch`` SPA through ``_race``, real Optuna trials).

The per-observation scores stand where the application's ``paired_scores`` hook reads a job record:
a dict from job directory to scores (the seam's input, not the thing under test).
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpo_record.study import ATTR_END, ATTR_JOB_DIR, ATTR_MEMBER, ATTR_ROLE, ATTR_START, ROLE_CONTROL
from hydra_plugins.hpo_sweeper._pbt import Interval, Population
from hydra_plugins.hpo_sweeper._pbt_settings import PbtSettings
from hydra_plugins.hpo_sweeper._pbt_verdict import cut, decide, lines, rank_score

N, TOTAL = 400, 300
DISTS = {"model.learning_rate": FloatDistribution(1e-5, 1e-2, log=True)}


def _study(scores: dict[int, np.ndarray]) -> list[optuna.trial.FrozenTrial]:
    """Each member's last interval (to TOTAL steps), member 0 the control; its value: the mean score."""
    study = optuna.create_study(direction="maximize")
    for member, s in scores.items():
        study.add_trial(optuna.trial.create_trial(
            params={"model.learning_rate": 1e-3 * (member + 1)}, distributions=DISTS, value=float(np.nanmean(s)),
            state=TrialState.COMPLETE,
            user_attrs={ATTR_MEMBER: member, ATTR_START: 200, ATTR_END: TOTAL, ATTR_JOB_DIR: f"/sweep/{member}",
                        **({ATTR_ROLE: ROLE_CONTROL} if member == 0 else {})}))
    return study.get_trials()


def _hook(scores: dict[int, np.ndarray]):
    return lambda job_dir: scores[int(job_dir.rsplit("/", 1)[1])]


def _noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, N)


def test_a_member_that_truly_beats_the_control_on_held_out_bars_is_recommended() -> None:
    scores = {m: _noise(m) for m in range(4)}
    scores[2] = scores[2] + np.r_[np.zeros(cut(N, 0.5)), np.full(N - cut(N, 0.5), 0.01)]  # an edge after the cut
    verdict = decide(_study(scores), TOTAL, 0.5, 0.05, _hook(scores))
    assert verdict["recommended"] == "member 2" and verdict["trial"] == 2
    assert verdict["p_value"] < 0.05 and "member 2" in verdict["better"]
    held = scores[2][cut(N, 0.5):] - scores[0][cut(N, 0.5):]
    assert verdict["difference"] == pytest.approx(held.mean())
    rows = {r["label"]: r for r in verdict["members"]}
    assert rows["control"]["observations"] == N - cut(N, 0.5)
    assert any(line.startswith("Recommended: member 2") for line in lines(verdict, lambda n: f"/sweep/{n}"))
    res = verdict["resolution"]  # the best held-out mean against the control, and what these bars can resolve
    assert res["candidate"] == "member 2" and res["advantage"] == pytest.approx(held.mean())
    assert res["observations"] == len(held) and res["detectable"] > 0
    assert lines(verdict, str)[-1].startswith("  resolution: member 2")


def test_a_lead_only_on_the_bars_the_exploits_ranked_on_does_not_count() -> None:
    """Member 3 is far ahead on the ranking share (what a lucky clone looks like) and level after it:
    its objective is the best, the decision keeps the control."""
    scores = {m: _noise(m) for m in range(4)}
    scores[3] = scores[3] + np.r_[np.full(cut(N, 0.5), 0.02), np.zeros(N - cut(N, 0.5))]
    trials = _study(scores)
    assert max(trials, key=lambda t: t.value).user_attrs[ATTR_MEMBER] == 3
    verdict = decide(trials, TOTAL, 0.5, 0.05, _hook(scores))
    assert verdict["recommended"] == "control" and verdict["p_value"] >= 0.05
    assert lines(verdict, str)[0].startswith("Recommended: the control member")


def test_no_control_member_or_a_member_without_scores_is_said_not_guessed() -> None:
    scores = {m: _noise(m) for m in range(1, 3)}
    assert decide(_study(scores), TOTAL, 0.5, 0.05, _hook(scores))["recommended"] is None
    scores = {m: _noise(m) for m in range(4)}
    scores[3] = scores[3].copy()
    scores[3][-1] = np.nan  # a broken record: left out, the others decide
    broken = _hook(scores)

    def hook(job_dir: str) -> np.ndarray:
        if job_dir.endswith("/1"):
            raise ValueError("its job record has no validation returns")
        return broken(job_dir)

    verdict = decide(_study(scores), TOTAL, 0.5, 0.05, hook)
    rows = {r["label"]: r for r in verdict["members"]}
    assert "no validation returns" in rows["member 1"]["out"] and "all finite" in rows["member 3"]["out"]
    assert rows["member 2"]["out"] is None and verdict["recommended"] == "control" and verdict["p_value"] is not None

    def no_control(job_dir: str) -> np.ndarray:  # nothing to compare with is not "the control wins"
        if job_dir.endswith("/0"):
            raise ValueError("its job record has no validation returns")
        return broken(job_dir)

    verdict = decide(_study(scores), TOTAL, 0.5, 0.05, no_control)
    assert verdict["recommended"] is None and "control member's held-out scores" in verdict["reason"]
    assert lines(verdict, str) == [f"Recommended: nothing decided: {verdict['reason']}"]


def test_exploits_rank_on_the_first_share_only() -> None:
    """Two members, one interval each: the one whose first half is worse is the bottom one and
    clones the other, whatever the second half (and so the objective) says."""
    first_good = np.r_[np.full(50, 0.01), np.full(50, -0.05)]
    first_bad = np.r_[np.full(50, -0.01), np.full(50, 0.05)]
    scores = {"/sweep/0": first_good, "/sweep/1": first_bad}
    ranking = rank_score(PbtSettings(population_size=2, interval=100, total=300, rank_fraction=0.5, mutable=tuple(DISTS),
                                     seed=0, quantile_fraction=0.5), scores.__getitem__)
    assert ranking is not None and ranking("/sweep/1") == pytest.approx(-0.01)
    settings = PbtSettings(population_size=2, interval=100, total=300, quantile_fraction=0.5, mutable=tuple(DISTS),
                           seed=0, rank_fraction=0.5)
    pop = Population(settings, DISTS, "maximize", None, ranking)
    for member, objective in ((0, float(first_good.mean())), (1, float(first_bad.mean()))):
        interval = pop.next_interval()
        assert interval is not None and interval.member == member
        pop.started(interval, {"model.learning_rate": 1e-3})
        assert objective < 0 if member == 0 else objective > 0  # the objective ranks them the other way
    for member in (0, 1):
        pop.finished_interval(Interval(member, None, 0, 100, None, None, None, "first"), member, f"/sweep/{member}",
                              -1.0 if member == 0 else 1.0)
    nxt = pop.next_interval()
    assert nxt is not None and nxt.member == 0 and nxt.reason == "continue"
    nxt = pop.next_interval()
    assert nxt is not None and nxt.member == 1 and nxt.reason == "exploit" and nxt.exploited == 0


def test_an_interval_that_cannot_be_ranked_goes_on_ranked_last() -> None:
    """A record without scores neither stops the member nor loops it: it ranks last and is cloned over."""
    settings = PbtSettings(population_size=2, interval=100, total=300, quantile_fraction=0.5, mutable=tuple(DISTS),
                           seed=0, rank_fraction=0.5)
    scores = {"/sweep/0": np.full(100, 0.01)}
    pop = Population(settings, DISTS, "maximize", None, rank_score(settings, scores.__getitem__))
    for member in (0, 1):
        interval = pop.next_interval()
        assert interval is not None
        pop.started(interval, {"model.learning_rate": 1e-3})
        said = pop.finished_interval(interval, member, f"/sweep/{member}", 1.0)
    assert "ranked last" in said and pop.members[1].score == -np.inf and pop.members[1].timesteps == 100
    assert [pop.next_interval().reason for _ in range(2)] == ["continue", "exploit"]
