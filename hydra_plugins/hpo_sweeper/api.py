"""The sweeper's public functions for tools that make or read a sweep's files without running a
sweep (``bench/make_day.py`` writes a synthetic day of sweeps with them): the search space as a
sweep parses it, and ``optimization_results.yaml``'s content as a sweep writes it.

Hydra imports the public modules of a plugin package at start-up: this one imports the
implementation (Optuna, Hydra's override parser) inside its functions only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from hydra_plugins.hpo_sweeper._space import SearchSpace


def search_space(params: Mapping[str, Any], overrides: Sequence[str] = ()) -> SearchSpace:
    """The search space of ``hydra.sweeper.params`` (key -> sweep grammar, as in
    ``conf/search_space/``) followed by command-line ``overrides`` (the last override of a key
    wins); ``SearchSpaceError`` (a ``ValueError``, one line) when an override is broken."""
    from hydra_plugins.hpo_sweeper._space import parse

    return parse([f"{k}={v}" for k, v in params.items()], list(overrides))


def results(study: optuna.study.Study, *, url: str, space: SearchSpace, n_trials: int,
            metrics: list[str]) -> dict[str, Any]:
    """What the sweeper writes to ``optimization_results.yaml`` for ``study``, stored at ``url``
    (shown without its password), searched over ``space``."""
    from hydra_plugins.hpo_sweeper._results import results as summary

    return summary(study, url=url, space=space, n_trials=n_trials, metrics=metrics)


def confirmation_resolution(confirmation: optuna.study.Study) -> dict[str, Any] | None:
    """The resolution (``_race.Race.resolution``) of a finished confirmation study, computed again
    from its runs' recorded scores: for sweeps whose decision was kept before it carried one."""
    import numpy as np
    import optuna
    from optuna.trial import TrialState

    from hpo_record.study import ATTR_CANDIDATE, ATTR_CONFIRM_SEED, ATTR_DECISION, ATTR_SCORES
    from hydra_plugins.hpo_sweeper._race import Candidate, Race, Run

    decision = confirmation.user_attrs.get(ATTR_DECISION)
    if not decision:
        return None
    candidates = [Candidate(r["label"], r["params"], r["search_value"], r["trial"]) for r in decision["candidates"]]
    sign = 1.0 if confirmation.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    race = Race(candidates, decision["seeds"], level=decision["level"], min_rounds=1, sign=sign)
    for t in confirmation.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get(ATTR_SCORES) and t.user_attrs.get(ATTR_CANDIDATE) in race.standings:
            race.record(t.user_attrs[ATTR_CANDIDATE], t.user_attrs[ATTR_CONFIRM_SEED],
                        Run(float(t.value), np.asarray(t.user_attrs[ATTR_SCORES], dtype=float)))
    return race.resolution()
