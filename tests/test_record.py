"""The job record: one typed record, written atomically, read back equal; old records still load."""

from __future__ import annotations

import json

import pytest

from hpo_record import files, job as job_record


def _complete() -> job_record.JobRecord:
    return job_record.JobRecord(
        state="complete", model="ppo",
        objective=job_record.Objective(("val/sharpe",), ("maximize",), (1.25,)),
        metrics={"val/sharpe": 1.25, "test/sharpe": -0.5},
        baselines={"buy_and_hold": {"val/sharpe": 0.7}, "flat": {"val/sharpe": 0.0}},
        timesteps=2048, seconds=3.5, seed=7, periods_per_year=252.0, data_source="synthetic",
        segments={"val": {"start": "2020-01-02", "end": "2020-06-30", "bars": 120}},
        trial={"number": 3, "study": "ppo"},
    )


def test_a_record_round_trips_through_its_file(tmp_path):
    written = _complete()
    path = job_record.write(tmp_path / "job", written)
    assert path == tmp_path / "job" / files.METRICS_FILE
    assert json.loads(path.read_text())["schema"] == job_record.SCHEMA
    assert job_record.read(tmp_path / "job") == written
    assert [p.name for p in (tmp_path / "job").iterdir()] == [files.METRICS_FILE]  # no temp file left


def test_a_schema_1_record_loads(tmp_path):
    """As the engine wrote them before folds and lineage existed."""
    (tmp_path / files.METRICS_FILE).write_text(json.dumps({
        "schema": 1, "state": "pruned", "model": "a2c",
        "objective": {"metrics": "val/sharpe", "directions": "maximize", "values": [0.5]},
        "metrics": {"val/sharpe": 0.5}, "baselines": {}, "timesteps": 400, "seconds": 1.0, "seed": 0,
        "periods_per_year": 252.0, "segments": {}, "error": None, "trial": None,
    }))
    rec = job_record.read(tmp_path)
    assert rec.state == "pruned" and rec.objective == job_record.Objective(("val/sharpe",), ("maximize",), (0.5,))
    assert rec.folds == [] and rec.lineage is None and rec.data_source is None


@pytest.mark.parametrize("content, message", [
    (None, "no job record"),
    ('{"state": "comp', "unreadable (JSONDecodeError"),
    ('{"model": "ppo"}', "not a job record"),
    ('{"state": "finished"}', "state 'finished'"),
])
def test_an_unreadable_record_is_one_line_naming_the_file(tmp_path, content, message):
    if content is not None:
        (tmp_path / files.METRICS_FILE).write_text(content)
    with pytest.raises(job_record.RecordError) as err:
        job_record.read(tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)
    if content is not None and "finished" not in content:
        assert str(tmp_path / files.METRICS_FILE) in str(err.value)


def test_a_failed_record():
    rec = job_record.failed("interrupted: stopped", trial={"number": 1, "study": "s"})
    assert rec.state == files.STATE_FAILED and rec.error == "interrupted: stopped" and rec.metrics == {}
