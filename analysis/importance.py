"""Parameter importance: Optuna's evaluators (fANOVA, PED-ANOVA) over a sweep's complete trials,
and the sample sizes below which the report does not show it (or shows it with a warning)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

FANOVA_MAX_TRIALS = 200
"""``auto`` importance: fANOVA up to this many complete trials, PED-ANOVA beyond (fANOVA's random
forests take about 5 s for 400 trials here, PED-ANOVA a few hundredths)."""
IMPORTANCE_METHODS = ("auto", "fanova", "ped-anova")

IMPORTANCE_PER_PARAM, FEW_IMPORTANCE_PER_PARAM, MIN_IMPORTANCE_TRIALS = 2, 5, 8


def importance_minimum(n_params: int) -> int:
    """Complete trials below which parameter importance is not shown (2 per parameter, at least 8)."""
    return max(MIN_IMPORTANCE_TRIALS, IMPORTANCE_PER_PARAM * n_params)


@dataclass
class Importance:
    """Importances (summing to 1, largest first), the method that computed them, or why not."""

    method: str | None
    importances: dict[str, float]
    note: str = ""
    n_trials: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.importances)


def param_importance(study: Any, method: str = "auto") -> Importance:
    """Optuna's importance of each parameter for the first objective, over the complete trials."""
    import optuna
    from optuna.trial import TrialState

    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if n < 2:
        return Importance(None, {}, f"needs at least 2 complete trials, there are {n}", n)
    if method == "auto":
        method = "fanova" if n <= FANOVA_MAX_TRIALS else "ped-anova"
    evaluator, name = {
        "fanova": (lambda: optuna.importance.FanovaImportanceEvaluator(seed=0), "fANOVA"),
        "ped-anova": (lambda: optuna.importance.PedAnovaImportanceEvaluator(), "PED-ANOVA"),
    }[method]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(
                study, evaluator=evaluator(), target=lambda t: t.values[0], normalize=True)
    except Exception as err:  # noqa: BLE001 - e.g. no parameter varies
        return Importance(None, {}, f"{name} failed: {str(err).splitlines()[0][:160]}", n)
    if not values:
        return Importance(None, {}, "no parameter varies across the complete trials", n)
    return Importance(name, dict(values), "", n)
