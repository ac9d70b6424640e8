"""The raced confirmation's rule (hydra_plugins/hpo_sweeper/_race.py) on constructed studies where the
answer is known: per-observation scores drawn around a control, one candidate truly better, one not."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from hydra_plugins.hpo_sweeper._race import CONTROL, POWER, Candidate, Race, Run

SEEDS = [1000, 1001, 1002]
BARS = 600
MARKET_SD = 0.01  # the per-bar spread of the returns every run shares


def _race(**kwargs: float) -> Race:
    candidates = [Candidate(CONTROL, {"lr": 3e-4}, 0.9, 0)]
    candidates += [Candidate(label, {"lr": i * 1e-3}, 1.5, i + 1) for i, label in enumerate(kwargs)]
    return Race(candidates, SEEDS, level=0.05, min_rounds=2)


def _play(race: Race, edges: dict[str, float], noise: float = 0.004, seed: int = 0) -> list[str]:
    """Run the race to its end: a run's per-bar scores are the market's common returns plus the
    candidate's edge and its own (seed's) noise."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, MARKET_SD, BARS)
    lines: list[str] = []
    while not race.done:
        for label, s in race.pending():
            scores = market + edges[label] + rng.normal(0, noise, BARS)
            race.record(label, s, Run(value=float(scores.mean() / scores.std() * 16), scores=scores))
        lines += race.close_round()
    return lines


@pytest.mark.parametrize("seed", range(5))
def test_a_candidate_that_truly_beats_the_control_is_recommended(seed: int) -> None:
    race = _race(**{"trial 3": 0.0, "trial 7": 0.0})
    _play(race, {CONTROL: 0.0, "trial 3": 0.002, "trial 7": -0.0005}, seed=seed)
    decision = race.decide()
    assert decision.recommended == "trial 3"
    assert decision.p_value is not None and decision.p_value < 0.05
    assert "trial 7" not in decision.better
    assert decision.difference == pytest.approx(0.002, abs=0.0005)


@pytest.mark.parametrize("seed", range(5))
def test_nothing_better_than_the_control_keeps_the_control(seed: int) -> None:
    race = _race(**{"trial 3": 0.0, "trial 7": 0.0, "trial 9": 0.0})
    _play(race, {CONTROL: 0.0, "trial 3": 0.0, "trial 7": 0.0, "trial 9": -0.0003}, seed=seed)
    decision = race.decide()
    assert decision.recommended == CONTROL and decision.better == ()
    assert decision.p_value is not None and decision.p_value >= 0.05
    assert "no candidate beats the control" in decision.reason


def test_a_clear_loser_stops_before_the_last_seed() -> None:
    race = _race(**{"trial 3": 0.0, "trial 7": 0.0})
    lines = _play(race, {CONTROL: 0.0, "trial 3": 0.0, "trial 7": -0.003})
    loser = race.standings["trial 7"]
    assert loser.out is not None and "worse than" in loser.out and len(loser.runs) == race.min_rounds
    assert any(line.startswith("trial 7:") for line in lines)
    assert len(race.standings["trial 3"].runs) == len(SEEDS) == len(race.control.runs)


def test_no_candidate_is_eliminated_before_min_rounds() -> None:
    race = _race(**{"trial 3": 0.0})
    rng = np.random.default_rng(0)
    for label, s in race.pending():
        race.record(label, s, Run(1.0, rng.normal(-0.01 if label != CONTROL else 0.0, 0.001, BARS)))
    assert race.close_round() == [] and race.standings["trial 3"].out is None


def test_a_failed_run_takes_its_candidate_out_and_a_failed_control_keeps_the_control() -> None:
    race = _race(**{"trial 3": 0.0})
    race.record("trial 3", SEEDS[0], Run(None, None, "RuntimeError: boom"))
    assert "failed" in str(race.standings["trial 3"].out)
    assert [label for label, _ in race.pending()] == [CONTROL]
    race.record(CONTROL, SEEDS[0], Run(None, None, "RuntimeError: boom"))
    assert race.done
    assert race.decide().recommended == CONTROL and "control's runs failed" in race.decide().reason


def test_a_race_starts_with_the_control() -> None:
    with pytest.raises(ValueError):
        Race([Candidate("trial 1", {}, 1.0, 1)], SEEDS, level=0.05, min_rounds=2)


def test_the_resolution_is_the_advantage_a_single_candidate_needs_to_be_called_4_times_in_5() -> None:
    """Rule 4: on constructed scores, the detectable advantage is what the noise of the difference
    allows (each seed's own noise, averaged over the seeds), and a candidate whose true advantage is
    that large is called in about 80 % of races (SPA, one candidate)."""
    noise = 0.004
    race = _race(**{"trial 3": 0.0, "trial 7": 0.0})
    _play(race, {CONTROL: 0.0, "trial 3": 0.001, "trial 7": 0.0}, noise=noise)
    res = race.resolution()
    assert res["candidate"] == "trial 3" and res["observations"] == BARS
    assert res["advantage"] == pytest.approx(0.001, abs=3 * res["advantage_se"])
    expected_se = noise * np.sqrt(2 / len(SEEDS)) / np.sqrt(BARS)  # two runs' noise, each averaged over the seeds
    assert res["advantage_se"] == pytest.approx(expected_se, rel=0.1)
    z = NormalDist().inv_cdf(1 - race.level) + NormalDist().inv_cdf(POWER)
    assert res["detectable"] == pytest.approx(z * expected_se, rel=0.06)  # a two-sided z would be 13 % higher
    assert res["run_sd"] == pytest.approx(np.hypot(MARKET_SD, noise), rel=0.1)  # one run: the market's and its own noise
    called = 0
    for seed in range(60):
        single = Race([Candidate(CONTROL, {}, 0.9, 0), Candidate("trial 3", {}, 1.5, 1)], SEEDS, level=0.05, min_rounds=2)
        _play(single, {CONTROL: 0.0, "trial 3": res["detectable"]}, noise=noise, seed=100 + seed)
        called += single.decide().recommended == "trial 3"
    assert abs(called / 60 - POWER) <= 0.15, called


def test_the_report_says_the_resolution_in_sharpe_a_year_and_why_the_control_stayed() -> None:
    """A true edge below the resolution: the control stays, and the report's paragraph gives the best
    candidate's advantage and the detectable one in annualized Sharpe (per bar over the control's
    per-bar deviation, times the square root of bars a year) and says that more bars would tell."""
    from analysis.confirmation import resolution as report_resolution

    race = _race(**{"trial 3": 0.0})
    _play(race, {CONTROL: 0.0, "trial 3": 0.0001}, noise=0.004, seed=3)
    decision = race.decide()
    res = race.resolution()
    assert decision.recommended == CONTROL and 0 < res["advantage"] < res["detectable"]
    [block] = report_resolution({"recommended": decision.recommended, "level": race.level, "resolution": res}, 252.0)
    scale = np.sqrt(252.0) / res["run_sd"]
    assert f"was {res['advantage'] * scale:+.2f} ± {res['advantage_se'] * scale:.2f} Sharpe a year" in block.text
    assert f"only from about {res['detectable'] * scale:.2f} Sharpe a year" in block.text
    assert "would take more validation bars" in block.text
    times = (res["detectable"] / res["advantage"]) ** 2  # the detectable advantage goes as one over root bars
    assert f"about {times * res['observations']:,.0f} validation bars, {times:.1f} times these" in block.text
    tiny = {**res, "advantage": res["detectable"] / 11}  # 121 times the bars: no count of bars is given
    [block] = report_resolution({"recommended": decision.recommended, "level": race.level, "resolution": tiny}, 252.0)
    assert "would take over 100 times these validation bars" in block.text
    from analysis.confirmation import glance

    line = glance({"recommended": CONTROL, "p_value": decision.p_value, "candidates": [], "resolution": res},
                  "val/sharpe", 252.0)
    assert line.endswith(f"; these bars resolve an advantage of about {res['detectable'] * scale:.2f} Sharpe a year or more")
