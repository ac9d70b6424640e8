"""The report's cache (``<out>/.cache``): a report made again over unchanged sweeps takes everything
from it and says the same, byte for byte; a sweep whose study or job records changed is read
again (and only that one); a damaged cache is computed again; ``--no-cache`` keeps nothing."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from analysis.cache import CACHE_DIR, Memo, Uncacheable, frame_bytes, tree_stats
from analysis.load import NoSweepError, load_multirun
from analysis.report import REPORT_HTML, SUMMARY_MD, TRIALS_CSV, build_report, main
from hpo_record import files

# ---------------------------------------------------------------------------- the cache itself


def _age(root: Path, seconds: float = 60.0) -> None:
    """Every file under ``root`` as written ``seconds`` ago (a sweep that finished a while ago)."""
    then = time.time() - seconds
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(Path(folder) / name, (then, then))


def test_entries_round_trip_and_a_damaged_one_is_a_miss_and_removed(tmp_path: Path) -> None:
    memo = Memo(tmp_path / CACHE_DIR)
    key = memo.key("summary", "sweep", b"\x00data")
    assert memo.get(key) is None and memo.misses == 1
    memo.put(key, {"importance": [0.7, 0.3]})
    assert Memo(tmp_path / CACHE_DIR).get(key) == {"importance": [0.7, 0.3]}
    path = tmp_path / CACHE_DIR / f"{key}.pkl"
    path.write_bytes(path.read_bytes()[:5])
    again = Memo(tmp_path / CACHE_DIR)
    assert again.get(key) is None and again.misses == 1 and not path.exists()


def test_keys_change_with_every_part_and_a_disabled_cache_keeps_nothing(tmp_path: Path) -> None:
    memo = Memo(tmp_path / CACHE_DIR)
    df = pd.DataFrame({"trial": [0, 1], "objective": [0.5, 1.5], "params_model.lr": [1e-3, 3e-4]})
    changed = df.copy()
    changed.loc[1, "objective"] = 1.5000001
    assert frame_bytes(df) == frame_bytes(df.copy())
    assert frame_bytes(changed) != frame_bytes(df)
    assert frame_bytes(df.astype({"trial": "float64"})) != frame_bytes(df)  # dtypes are part of it
    assert memo.key("plot", "history", frame_bytes(df)) != memo.key("plot", "slices", frame_bytes(df))
    assert memo.key("plot", "history", frame_bytes(df)) != memo.key("plot", "history", frame_bytes(changed))
    off = Memo(None)
    off.put(off.key("load", "x"), 1)
    assert off.get(off.key("load", "x")) is None and not (tmp_path / CACHE_DIR).exists()


def test_prune_removes_what_the_report_did_not_use(tmp_path: Path) -> None:
    first = Memo(tmp_path / CACHE_DIR)
    old, kept = first.key("load", "old"), first.key("load", "kept")
    first.put(old, 1)
    first.put(kept, 2)
    (tmp_path / CACHE_DIR / "notes.txt").write_text("not an entry")
    second = Memo(tmp_path / CACHE_DIR)
    assert second.get(kept) == 2
    second.prune()
    assert sorted(p.name for p in (tmp_path / CACHE_DIR).iterdir()) == sorted([f"{kept}.pkl", "notes.txt"])


def test_tree_stats_sees_size_and_time_skips_the_output_and_refuses_a_file_being_written(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "metrics.json").write_text('{"a": 1}')
    (sweep / "report").mkdir()
    (sweep / "report" / "summary.md").write_text("x")
    _age(sweep)
    before = tree_stats(sweep, skip=sweep / "report")
    (sweep / "report" / "summary.md").write_text("the report's own output changes every time")
    assert tree_stats(sweep, skip=sweep / "report") == before
    with pytest.raises(Uncacheable):  # the report's output is not skipped: it was just written
        tree_stats(sweep)
    (sweep / "0" / "metrics.json").write_text('{"a": 2}')  # same size, new time
    with pytest.raises(Uncacheable):
        tree_stats(sweep, skip=sweep / "report")
    _age(sweep, 30.0)
    changed = tree_stats(sweep, skip=sweep / "report")
    assert changed != before
    (sweep / "optuna.db-shm").write_bytes(b"\0" * 64)  # what any reader of a WAL database leaves
    (sweep / "optuna.db-wal").write_bytes(b"")
    assert tree_stats(sweep, skip=sweep / "report") == changed
    (sweep / "optuna.db-wal").write_bytes(b"a trial not yet in the database file")
    _age(sweep, 30.0)
    assert tree_stats(sweep, skip=sweep / "report") != changed
    settled = tree_stats(sweep, skip=sweep / "report")
    (sweep / "0" / "metrics.json").chmod(0o600)  # mode and change time: a file made readable again
    assert tree_stats(sweep, skip=sweep / "report") != settled
    (sweep / "shared").symlink_to(tmp_path)  # what a link points to can change unseen
    with pytest.raises(Uncacheable):
        tree_stats(sweep, skip=sweep / "report")


# ---------------------------------------------------------------------------- a real day, twice


@pytest.fixture
def day(real_day: Path, tmp_path: Path) -> Path:
    """A copy of the real day (without its report), finished a minute ago."""
    copy = tmp_path / "2026-11-28"
    shutil.copytree(real_day, copy, ignore=shutil.ignore_patterns("report"))
    _age(copy)
    return copy


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def _entries(out: Path, kind: str) -> set[str]:
    return {p.name for p in (out / CACHE_DIR).glob(f"{kind}-*")}


@pytest.mark.slow
def test_a_second_report_takes_everything_from_the_cache_and_says_the_same(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    first = build_report([day], out)
    assert first.cache_hits == 0 and first.cache_misses > 0
    written = _outputs(out)
    assert {SUMMARY_MD, TRIALS_CSV, REPORT_HTML} <= set(written) and len([n for n in written if n.endswith(".png")]) > 6
    assert len(_entries(out, "load")) == len(first.analysis.sweeps) and _entries(out, "plot")
    for name in written:
        (out / name).unlink()
    second = build_report([day], out)
    assert second.cache_misses == 0 and second.cache_hits >= first.cache_misses
    assert _outputs(out) == written  # the same tables, page and PNGs, byte for byte
    uncached = build_report([day], tmp_path / "uncached", cache=False)
    assert uncached.cache_hits == 0 and not (tmp_path / "uncached" / CACHE_DIR).exists()
    assert (tmp_path / "uncached" / TRIALS_CSV).read_bytes() == written[TRIALS_CSV]
    assert (tmp_path / "uncached" / SUMMARY_MD).read_text() == written[SUMMARY_MD].decode().replace(
        str(out), str(tmp_path / "uncached"))


@pytest.mark.slow
def test_a_sweep_that_changed_is_read_again_and_only_that_one(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_report([day], out)
    loads, summaries, plots = _entries(out, "load"), _entries(out, "summary"), _entries(out, "plot")
    # 10-00-00: a job's record changed; 11-00-00: a trial added to its study; 12-00-00: untouched
    study10 = optuna.load_study(study_name=None, storage=f"sqlite:///{day / '10-00-00' / files.STUDY_DB_FILE}")
    trial = next(t for t in study10.trials if t.state.name == "COMPLETE")
    job = day / "10-00-00" / str(trial.user_attrs["job_num"])
    record = json.loads((job / files.METRICS_FILE).read_text())
    record["metrics"]["test/sharpe"] = 123.25
    (job / files.METRICS_FILE).write_text(json.dumps(record))
    storage11 = f"sqlite:///{day / '11-00-00' / files.STUDY_DB_FILE}"
    study11 = optuna.load_study(study_name=optuna.study.get_all_study_names(storage11)[0], storage=storage11)
    n11 = len(study11.trials)
    study11.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    _age(day / "10-00-00", 30.0)
    _age(day / "11-00-00", 30.0)

    again = build_report([day], out)
    assert again.cache_hits > 0 and again.cache_misses > 0
    after = _entries(out, "load")
    assert len(after) == len(again.analysis.sweeps) and len(after & loads) == 1  # 12-00-00's load was kept, the other two read again
    assert len(_entries(out, "summary") & summaries) == 1  # and its importance, significance and plots
    pngs12 = list(out.glob("2026-11-28_12-00-00_*.png"))
    assert len(pngs12) >= 5 and len(_entries(out, "plot") & plots) >= len(pngs12)
    trials = pd.read_csv(out / TRIALS_CSV)
    row = trials[(trials["sweep"] == "2026-11-28/10-00-00") & (trials["trial"] == trial.number)]
    assert row["test/sharpe"].tolist() == [123.25]
    assert (trials["sweep"] == "2026-11-28/11-00-00").sum() == n11 + 1
    assert trials.equals(pd.read_csv(build_report([day], tmp_path / "fresh", cache=False).files["trials"]))


@pytest.mark.slow
def test_a_damaged_cache_is_computed_again_and_no_cache_writes_none(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_report([day], out)
    summary = (out / SUMMARY_MD).read_text()
    for entry in (out / CACHE_DIR).iterdir():
        entry.write_bytes(b"damaged")
    (out / SUMMARY_MD).unlink()
    again = build_report([day], out)
    assert again.cache_hits == 0 and (out / SUMMARY_MD).read_text() == summary
    assert build_report([day], out).cache_misses == 0  # and written again
    pngs = sorted((out / CACHE_DIR).glob("plot-*.png"))
    for png in pngs:  # a damaged picture is drawn again, not copied
        png.write_bytes(png.read_bytes()[:100])
    (out / SUMMARY_MD).unlink()
    redrawn = build_report([day], out)
    assert redrawn.cache_misses == len(pngs) and (out / SUMMARY_MD).read_text() == summary
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert main([str(day), "--out", str(tmp_path / "bare"), "--no-cache"]) == 0
    assert not (tmp_path / "bare" / CACHE_DIR).exists()


def _journal_study(path: Path, name: str) -> optuna.study.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(path)))
    return optuna.create_study(study_name=name, storage=storage, load_if_exists=True)


def test_a_study_outside_the_sweep_directory_is_read_every_time(tmp_path: Path) -> None:
    """A sweep whose ``multirun.yaml`` names a journal other sweeps share: nothing under its directory
    changes when that journal does, so its load is never cached."""
    shared = tmp_path / "shared.journal"
    study = _journal_study(shared, "ppo")
    study.add_trial(optuna.trial.create_trial(value=1.0, params={"x": 0.5},
                                              distributions={"x": optuna.distributions.FloatDistribution(0, 1)}))
    sweep = tmp_path / "multirun" / "2026-11-28" / "10-00-00"
    sweep.mkdir(parents=True)
    (sweep / files.MULTIRUN_FILE).write_text(f"hydra:\n  sweeper:\n    storage: journal:{shared}\n")
    _age(sweep)
    memo = Memo(tmp_path / "report" / CACHE_DIR)
    assert len(load_multirun([sweep], memo).trials) == 1
    study.add_trial(optuna.trial.create_trial(value=2.0, params={"x": 0.25},
                                              distributions={"x": optuna.distributions.FloatDistribution(0, 1)}))
    assert len(load_multirun([sweep], memo).trials) == 2 and memo.hits == 0


def test_an_unreadable_multirun_yaml_is_reported_as_without_the_cache(tmp_path: Path) -> None:
    sweep = tmp_path / "2026-11-28" / "10-00-00"
    sweep.mkdir(parents=True)
    (sweep / files.MULTIRUN_FILE).write_text("hydra: [unclosed\n")
    _age(sweep)
    for memo in (Memo(None), Memo(tmp_path / CACHE_DIR)):
        with pytest.raises(NoSweepError, match="10-00-00"):
            load_multirun([sweep], memo)
