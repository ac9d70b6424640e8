"""``python -m hpo_app.export <sweep or run directory> [--trial N] --out DIR``: the agent a run trained,
as a bundle (``hpo_app.bundle``) that ``python -m hpo_app.apply`` runs on new prices.

From a sweep directory the default is the sweep's recommendation (its raced confirmation's
decision: the control's search trial, or the recommended trial); a sweep without a decision gives
its best trial by the search's objective; ``--trial N`` picks a trial. From a run directory
(``outputs/<date>/<time>``), its own agent. Bad input is one line, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hpo_app.bundle import BundleError, write
from hpo_record import files
from hpo_record.study import ATTR_DECISION, ATTR_ROLE, CONFIRM_SUFFIX, ROLE_CONTROL, job_dir


def pick(sweep_dir: Path, trial: int | None) -> tuple[Path, dict[str, Any]]:
    """The job directory to export from a sweep, and why it was picked."""
    import optuna

    from hpo_record.storage import open_storage, storage_url

    setting = None
    if (sweep_dir / files.MULTIRUN_FILE).is_file():
        setting = OmegaConf.select(OmegaConf.load(sweep_dir / files.MULTIRUN_FILE), "hydra.sweeper.storage")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(setting, sweep_dir)
    try:
        storage = open_storage(url)
        names = [n for n in optuna.study.get_all_study_names(storage) if not n.endswith(CONFIRM_SUFFIX)]
    except Exception as err:  # noqa: BLE001 - a damaged or unreachable database: whatever its driver raises
        raise BundleError(f"{sweep_dir}: cannot read the sweep's study ({url}): {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from None
    if len(names) != 1:
        raise BundleError(f"{sweep_dir}: {len(names)} studies of a sweep there ({', '.join(names) or 'none'}): "
                          "export from a sweep directory of one study, or from a run directory")
    study = optuna.load_study(study_name=names[0], storage=storage)
    by_number = {t.number: t for t in study.trials}
    how: dict[str, Any] = {"sweep": str(sweep_dir.resolve()), "study": names[0]}
    if trial is None:
        decision = _decision(storage, names[0])
        if decision is not None:
            how["decision"] = {k: decision[k] for k in ("recommended", "p_value", "reason")}
            if decision["recommended"] == "control":
                control = [t for t in study.trials if t.user_attrs.get(ATTR_ROLE) == ROLE_CONTROL]
                if not control:
                    raise BundleError(f"{sweep_dir}: the recommendation is the control, which has no search trial "
                                      "here (a default outside the search space): train it with the sweep's command "
                                      "without -m, and export that run directory")
                trial = control[0].number
            else:
                trial = int(str(decision["recommended"]).split()[-1])
            how["picked"] = "the sweep's recommendation"
        else:
            trial = _best(study, sweep_dir)
            how["picked"] = "the best trial by the search's objective (the sweep has no confirmation's decision)"
    elif trial not in by_number:
        raise BundleError(f"--trial {trial}: no such trial in {sweep_dir} (trials 0-{len(by_number) - 1})")
    else:
        how["picked"] = f"trial {trial}, as asked"
    how["trial"] = trial
    job = job_dir(sweep_dir, trial, by_number[trial].user_attrs)
    if job is None:
        raise BundleError(f"{sweep_dir}: trial {trial} has no job directory recorded in the study")
    return job, how


def _best(study: Any, sweep_dir: Path) -> int:
    """The study's best trial by its objective: one line when there is none to pick."""
    if len(study.directions) > 1:
        raise BundleError(f"{sweep_dir}: a sweep of several objectives has no single best trial: pick one of its "
                          "Pareto front (the report lists it) with --trial N")
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        raise BundleError(f"{sweep_dir}: no trial of the sweep completed: nothing to export")
    return int(study.best_trial.number)


def _decision(storage: Any, name: str) -> dict[str, Any] | None:
    import optuna

    try:
        return optuna.load_study(study_name=name + CONFIRM_SUFFIX, storage=storage).user_attrs.get(ATTR_DECISION)
    except KeyError:
        return None


def export(source: Path, out: Path, trial: int | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the bundle; returns the job directory it came from and why."""
    if not source.is_dir():
        raise BundleError(f"{source}: no such directory")
    if (source / files.HYDRA_DIR / "config.yaml").is_file():
        if trial is not None:
            raise BundleError(f"--trial {trial}: {source} is a run directory, not a sweep's")
        job, how = source, {"picked": "the run directory given"}
    elif (source / files.MULTIRUN_FILE).is_file() or (source / files.STUDY_DB_FILE).is_file():
        job, how = pick(source, trial)
    else:
        raise BundleError(f"{source}: neither a run directory (no .hydra/config.yaml) nor a sweep directory")
    write(job, out, how)
    return job, how


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hpo_app.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a sweep directory (multirun/<date>/<time>) or a run directory")
    parser.add_argument("--trial", type=int, default=None, help="the sweep's trial to export (default: its recommendation)")
    parser.add_argument("--out", type=Path, required=True, help="the bundle's directory")
    args = parser.parse_args(argv)
    try:
        job, how = export(args.source, args.out, args.trial)
    except (BundleError, ValueError, OSError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    print(f"Exported {how['picked']} ({job}) to {args.out}")
    print(f"Apply it to new prices: python -m hpo_app.apply {args.out} <prices.csv>")


if __name__ == "__main__":
    main()
