"""The study's storage: a sweep directory or database that cannot be used is refused before any
trial in one line (the path or URL, without its password, and the operating system's or the
database's reason); a real PostgreSQL server holds a real sweep's study, which the report reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.load import open_studies
from hpo_record import files, job as job_record
from hpo_record.storage import open_storage, storage_url
from hydra_plugins.hpo_sweeper._preflight import SweepError, opened
from tests.conftest import REPO_ROOT
from tests.servers import free_port
from tests.sweep_helpers import TINY, explain, run_app

QUICK = [*TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=2"]


def _refused(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused sweep ends on (exit code 2, no traceback)."""
    assert proc.returncode == 2, explain(proc)
    assert "Traceback" not in proc.stderr, explain(proc)
    return proc.stderr.strip().splitlines()[-1]


def test_a_sweep_directory_under_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    line = _refused(run_app(QUICK, tmp_path / "afile" / "sweep", timeout=120))
    assert line.startswith(f"error: sweep directory {tmp_path / 'afile' / 'sweep'}: cannot write there (Not a directory")


def test_a_full_disk_is_refused_before_any_trial_with_the_reason(tiny_fs: Path) -> None:
    (tiny_fs / "fill").write_bytes(bytes(60 * 1024))
    line = _refused(run_app(QUICK, tiny_fs / "sweep", timeout=120))
    assert line == f"error: sweep directory {tiny_fs / 'sweep'}: cannot write there (No space left on device)"
    assert list((tiny_fs / "sweep").iterdir()) == []  # the probe is gone; no study, no job


def test_a_read_only_file_system_is_refused_with_the_reason(tiny_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    line = _refused(run_app(QUICK, tiny_fs / "sweep", timeout=120))
    assert line == f"error: sweep directory {tiny_fs / 'sweep'}: cannot write there (Read-only file system)"


def test_an_unreachable_database_is_refused_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://hpo:s3cret@127.0.0.1:{free_port()}/hpo"
    proc = run_app([*QUICK, f"hydra.sweeper.storage={url}"], tmp_path / "sweep", timeout=120)
    line = _refused(proc)
    assert line.startswith("error: storage postgresql+psycopg://hpo:***@127.0.0.1:") and "Connection refused" in line
    assert "s3cret" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("given", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_an_in_memory_storage_is_refused_before_any_trial(given: str, tmp_path: Path) -> None:
    """An in-memory SQLite database exists in the driver's process only: the jobs could not reach the
    study (each trial failed with 'Record does not exist', and the printed resume could not work)."""
    url = storage_url(given, tmp_path)
    opened_it = []
    with pytest.raises(SweepError, match=rf"^storage {re.escape(given)}: an in-memory SQLite database .* the trials' jobs"):
        opened(url, lambda: opened_it.append(open_storage(url)))
    assert not opened_it


@pytest.mark.parametrize("given, shown", [
    ("postgresql://hpo:s3cret@db:5432/hpo", "postgresql://hpo:***@db:5432/hpo"),
    ("postgres://hpo:s3cret@db:5432/hpo", "postgresql://hpo:***@db:5432/hpo"),
    ("postgresql+psycopg://hpo:s3cret@db:5432/hpo", "postgresql+psycopg://hpo:***@db:5432/hpo"),
])
def test_a_postgresql_storage_without_its_driver_is_refused_naming_the_extra(monkeypatch, tmp_path, given, shown):
    """psycopg is the extra `postgres`: without it (nor psycopg2) the sweep's line says what to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails, find_spec finds nothing
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    url = storage_url(given, tmp_path)
    with pytest.raises(SweepError) as refused:
        opened(url, lambda: open_storage(url))  # as the sweeper opens its study (_impl.py)
    assert str(refused.value) == f'storage {shown}: the PostgreSQL driver is not installed: pip install "hpo-app[postgres]"'
    (tmp_path / files.MULTIRUN_FILE).write_text(f"hydra:\n  sweeper:\n    storage: {given}\n")
    assert open_studies(tmp_path, "sweep") == ([], [
        'sweep: study unreadable (DriverMissing: the PostgreSQL driver is not installed: pip install "hpo-app[postgres]")'])


# -- a real PostgreSQL server (the `postgres` fixture: tests/conftest.py) --------------------------


@pytest.mark.slow
def test_a_sweep_keeps_its_study_in_postgresql_and_the_report_reads_it(postgres: str, tmp_path: Path) -> None:
    import optuna

    sweep_dir = tmp_path / "sweep"
    proc = run_app([*TINY, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={postgres}"], sweep_dir, timeout=600)
    assert proc.returncode == 0, explain(proc)
    study = optuna.load_study(study_name="a2c", storage=postgres.replace("postgresql://", "postgresql+psycopg://"))
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    job_dirs = [Path(t.user_attrs["job_dir"]) for t in trials]
    assert len(set(job_dirs)) == 4 and all(d.parent == sweep_dir for d in job_dirs)
    for trial, job_dir in zip(trials, job_dirs):
        job = job_record.read(job_dir)
        assert job.trial["number"] == trial.number and job.objective.values[0] == pytest.approx(trial.value)

    report = subprocess.run([sys.executable, "-m", "analysis.report", str(sweep_dir), "--out", str(tmp_path / "report")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert report.returncode == 0, report.stderr[-3000:]
    rows = (tmp_path / "report" / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4
    shown = [proc.stdout, proc.stderr, report.stdout, report.stderr, (sweep_dir / "optimization_results.yaml").read_text(),
             *(p.read_text() for p in (tmp_path / "report").glob("*.*") if p.suffix in (".md", ".html", ".csv"))]
    assert not [text for text in shown if "s3cret" in text]  # the password stays in the config files only


@pytest.mark.slow
def test_two_drivers_started_at_once_on_one_new_sweep_directory_lose_nothing(tmp_path: Path) -> None:
    """Both create the same new SQLite study at the same moment: each either runs its sweep or is
    refused with one line (exit 2, no traceback); every trial in the study is complete, with its own
    job directory."""
    import optuna

    sweep_dir = tmp_path / "sweep"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep_dir}", *QUICK]
    drivers = [subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outcomes = [(d.wait(timeout=300), *d.communicate()) for d in drivers]
    for code, out, err in outcomes:
        assert code in (0, 2), err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        if code == 2:
            assert err.strip().splitlines()[-1].startswith("error: "), err[-3000:]
    assert 0 in [code for code, _, _ in outcomes]
    study = optuna.load_study(study_name="a2c", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    assert len({t.user_attrs["job_num"] for t in study.trials}) == len(study.trials)


@pytest.mark.slow
def test_two_drivers_with_their_own_sweep_directories_share_one_postgresql_study(postgres: str, tmp_path: Path) -> None:
    """How several machines share a study: drivers started together on one PostgreSQL study (both
    with resume=true), each with its own sweep directory. Each runs its n_trials; every trial is in
    the study once, with a job directory of its own (job numbers count per directory) whose record
    agrees; the reseeded samplers do not draw the same points."""
    import optuna

    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    dirs = [tmp_path / "machine_a", tmp_path / "machine_b"]
    drivers = [subprocess.Popen([sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={d}", *QUICK,
                                 f"hydra.sweeper.storage={postgres}", "hydra.sweeper.resume=true"],
                                cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for d in dirs]
    outputs = [d.communicate(timeout=600)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    study = optuna.load_study(study_name="a2c", storage=postgres.replace("postgresql://", "postgresql+psycopg://"))
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4  # 2 per driver (QUICK: n_trials=2)
    job_dirs = [Path(t.user_attrs["job_dir"]) for t in trials]
    assert len(set(job_dirs)) == 4 and {d.parent for d in job_dirs} == set(dirs)
    assert sorted(p for d in dirs for p in d.iterdir() if p.name.isdigit()) == sorted(job_dirs)
    for trial, job_dir in zip(trials, job_dirs):
        job = job_record.read(job_dir)
        assert job.state == "complete" and job.objective.values[0] == pytest.approx(trial.value)
        assert job_dir.name == str(trial.user_attrs["job_num"])
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4


_OPEN_AT = """
import sys, time
from hpo_record.storage import open_storage, storage_url
start = float(sys.argv[2])
while time.time() < start:
    pass
try:
    open_storage(storage_url(sys.argv[1], None))
    print("ok")
except Exception as err:
    print(type(err).__name__, str(err).splitlines()[0])
"""


@pytest.mark.slow
def test_drivers_opening_a_new_postgresql_database_at_the_same_moment_all_get_it(postgres: str) -> None:
    """Six drivers create Optuna's tables in one new database at once: PostgreSQL refuses all but one
    CREATE (UniqueViolation on its catalog); the others wait for the tables and use them."""
    import time

    start = time.time() + 5  # every process imported and waiting when the moment comes
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, postgres, str(start)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["ok"] * 6
