"""Which hyperparameters mattered: importance computed from the trial table alone.

An in-memory Optuna study is rebuilt from the complete trials (``optuna.create_study()`` +
``study.add_trial(optuna.trial.create_trial(...))``) so Optuna's own evaluators run without the
persisted study. Methods, in order of preference, each named in the result:

1. fANOVA (``optuna.importance.FanovaImportanceEvaluator``, Optuna's default; needs scikit-learn).
   Optuna 2.10's implementation fails under numpy >= 1.24 (a ragged-array ValueError); it is probed
   once per process and skipped with the reason when it fails.
2. Mean decrease in impurity of a random forest
   (``optuna.importance.MeanDecreaseImpurityImportanceEvaluator``; needs scikit-learn).
3. Without scikit-learn: rank correlation with the objective (|Spearman rho| for numeric
   parameters, the correlation ratio eta for categorical ones), normalized to sum to 1.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .load import PARAM_PREFIX, ParamSpec

FANOVA = "fANOVA (optuna.importance.FanovaImportanceEvaluator)"
MDI = "mean decrease impurity of a random forest (optuna.importance.MeanDecreaseImpurityImportanceEvaluator)"
RANK = "rank correlation with the objective (|Spearman rho| numeric, eta categorical; scipy)"
SHORT_NAMES = {FANOVA: "fANOVA", MDI: "MDI (random forest)", RANK: "rank correlation"}


@dataclass
class ImportanceResult:
    """Importances (summing to 1, largest first) and the method that computed them."""

    method: str | None
    importances: dict[str, float]
    note: str = ""
    n_trials: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.importances)

    @property
    def short_method(self) -> str:
        return SHORT_NAMES.get(self.method or "", self.method or "none")


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def distribution(spec: ParamSpec) -> Any:
    """The Optuna distribution of a parameter (FloatDistribution & co. on Optuna >= 3, legacy on 2.x)."""
    import optuna.distributions as d

    if spec.is_categorical:
        return d.CategoricalDistribution(list(spec.choices or ()))
    assert spec.low is not None and spec.high is not None
    if hasattr(d, "FloatDistribution"):  # Optuna >= 3
        if spec.type == "int":
            return d.IntDistribution(
                int(spec.low), int(spec.high), log=spec.log, step=1 if spec.log else int(spec.step or 1)
            )
        return d.FloatDistribution(spec.low, spec.high, log=spec.log, step=None if spec.log else spec.step)
    if spec.type == "int":
        if spec.log:
            return d.IntLogUniformDistribution(int(spec.low), int(spec.high))
        return d.IntUniformDistribution(int(spec.low), int(spec.high), step=int(spec.step or 1))
    if spec.log:
        return d.LogUniformDistribution(spec.low, spec.high)
    if spec.step:
        return d.DiscreteUniformDistribution(spec.low, spec.high, spec.step)
    return d.UniformDistribution(spec.low, spec.high)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _fit_spec(spec: ParamSpec, values: Sequence[Any]) -> ParamSpec:
    """Widen a spec so that every observed value lies inside it (a re-ranged or pinned sweep)."""
    if spec.is_categorical:
        choices = list(spec.choices or ())
        for v in values:
            if v not in choices:
                choices.append(v)
        return ParamSpec(spec.name, "categorical", choices=tuple(choices))
    nums = [float(v) for v in values]
    low, high = min([spec.low or min(nums), *nums]), max([spec.high or max(nums), *nums])
    if spec.log and low <= 0:
        return ParamSpec(spec.name, spec.type, low, high, log=False, step=spec.step)
    step = spec.step
    if (
        step
        and spec.type == "float"
        and any(abs((v - low) / step - round((v - low) / step)) > 1e-6 for v in nums)
    ):
        step = None
    return ParamSpec(spec.name, spec.type, low, high, log=spec.log, step=step)


def _usable(
    trials: pd.DataFrame, specs: dict[str, ParamSpec]
) -> tuple[pd.DataFrame, dict[str, ParamSpec], str]:
    """Complete trials with an objective, restricted to parameters that vary and are all known."""
    done = trials[(trials["state"] == "complete") & trials["objective"].notna()]
    params = []
    for name in specs:
        col = PARAM_PREFIX + name
        if col in done.columns and done[col].notna().any() and done[col].dropna().astype(str).nunique() > 1:
            params.append(name)
    cols = [PARAM_PREFIX + p for p in params]
    done = done.dropna(subset=cols) if cols else done
    note = ""
    if not params:
        note = "no parameter varies across the complete trials"
    return done, {p: specs[p] for p in params}, note


def build_study(trials: pd.DataFrame, specs: dict[str, ParamSpec], direction: str = "maximize") -> Any:
    """An in-memory Optuna study holding the complete trials (first objective) of one sweep."""
    import optuna

    done, used, _ = _usable(trials, specs)
    fitted = {p: _fit_spec(s, [_py(v) for v in done[PARAM_PREFIX + p]]) for p, s in used.items()}
    dists = {p: distribution(s) for p, s in fitted.items()}
    with _quiet_optuna():
        study = optuna.create_study(direction=direction)
        for _, row in done.iterrows():
            params = {p: _py(row[PARAM_PREFIX + p]) for p in fitted}
            for p, s in fitted.items():
                if s.type == "int":
                    params[p] = int(params[p])
                elif s.type == "float":
                    params[p] = float(params[p])
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, value=float(row["objective"]))
            )
    return study


@functools.lru_cache(maxsize=1)
def fanova_problem() -> str | None:
    """None when Optuna's fANOVA works here, else why not (probed once on a tiny study)."""
    try:
        import optuna
        import sklearn  # noqa: F401
    except ImportError as e:
        return f"fANOVA needs scikit-learn ({e})"
    rng = np.random.default_rng(0)
    specs = {"x": ParamSpec("x", "float", 0.0, 1.0), "c": ParamSpec("c", "categorical", choices=("a", "b"))}
    df = pd.DataFrame(
        {"state": "complete", f"{PARAM_PREFIX}x": rng.uniform(0, 1, 8), f"{PARAM_PREFIX}c": ["a", "b"] * 4}
    )
    df["objective"] = df[f"{PARAM_PREFIX}x"] ** 2
    try:
        with _quiet_optuna():
            study = build_study(df, specs)
            optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=4, seed=0)
            )
    except Exception as e:  # noqa: BLE001 - any failure means: use the next method
        return f"fANOVA unavailable with optuna {optuna.__version__} / numpy {np.__version__} ({type(e).__name__})"
    return None


def _optuna_importance(study: Any, evaluator: Any) -> dict[str, float]:
    import optuna

    with _quiet_optuna():
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def _rank_importance(done: pd.DataFrame, specs: dict[str, ParamSpec]) -> dict[str, float]:
    from scipy.stats import rankdata, spearmanr

    y = rankdata(done["objective"].to_numpy(float))
    raw: dict[str, float] = {}
    for name, spec in specs.items():
        col = done[PARAM_PREFIX + name]
        if spec.is_categorical:
            groups = col.astype(str).to_numpy()
            mean = y.mean()
            between = sum(
                len(y[groups == g]) * (y[groups == g].mean() - mean) ** 2 for g in np.unique(groups)
            )
            total = ((y - mean) ** 2).sum()
            raw[name] = math.sqrt(between / total) if total > 0 else 0.0
        else:
            rho = spearmanr(col.to_numpy(float), y).statistic
            raw[name] = 0.0 if not np.isfinite(rho) else abs(float(rho))
    total = sum(raw.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}


def param_importance(
    trials: pd.DataFrame, specs: dict[str, ParamSpec], direction: str = "maximize"
) -> ImportanceResult:
    """Importance of each searched parameter for the (first) objective of one sweep."""
    done, used, note = _usable(trials, specs)
    if len(done) < 2:
        return ImportanceResult(
            None, {}, f"{len(done)} complete trial(s) with an objective, need at least 2", len(done)
        )
    if not used:
        return ImportanceResult(None, {}, note, len(done))
    notes: list[str] = []
    attempts: list[tuple[str, Callable[[], dict[str, float]]]] = []
    try:
        import optuna
        import sklearn  # noqa: F401

        problem = fanova_problem()
        if problem is None:
            attempts.append(
                (
                    FANOVA,
                    lambda: _optuna_importance(
                        build_study(done, used, direction),
                        optuna.importance.FanovaImportanceEvaluator(seed=0),
                    ),
                )
            )
        else:
            notes.append(problem)
        attempts.append(
            (
                MDI,
                lambda: _optuna_importance(
                    build_study(done, used, direction),
                    optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0),
                ),
            )
        )
    except ImportError:
        notes.append("scikit-learn is not installed: Optuna's fANOVA and MDI evaluators are unavailable")
    attempts.append((RANK, lambda: _rank_importance(done, used)))
    for method, compute in attempts:
        try:
            values = compute()
        except Exception as e:  # noqa: BLE001
            notes.append(f"{method.split(' (')[0]} failed ({type(e).__name__}: {str(e)[:80]})")
            continue
        ordered = dict(sorted(((k, float(v)) for k, v in values.items()), key=lambda kv: -kv[1]))
        return ImportanceResult(method, ordered, "; ".join(notes), len(done))
    return ImportanceResult(None, {}, "; ".join(notes), len(done))
