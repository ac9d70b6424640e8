"""A sweep on a real two-node Ray cluster with its study in a real PostgreSQL server, both started
by the test on this machine; the worker node is killed mid-sweep."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_record import files, job as job_record
from tests.servers import PG_BIN, RayCluster, ray_cluster
from tests.sweep_helpers import REPO, TINY, job_dirs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_BIN, reason="PostgreSQL is not installed")]


@pytest.fixture
def cluster() -> Iterator[RayCluster]:
    with ray_cluster(cpus_per_node=1) as c:
        yield c


def _study(url: str) -> optuna.study.Study | None:
    try:
        return optuna.load_study(study_name="a2c", storage=url.replace("postgresql://", "postgresql+psycopg://"))
    except Exception:  # noqa: BLE001 - not created yet
        return None


def _node(trial: optuna.trial.FrozenTrial) -> str | None:
    return (trial.system_attrs.get("hpo:worker") or {}).get("ray_node_id")


def test_a_sweep_on_two_nodes_with_a_postgresql_study_survives_losing_the_worker_node(
        cluster: RayCluster, postgres: str, tmp_path: Path) -> None:
    sweep, n_trials = tmp_path / "sweep", 6
    nodes = cluster.node_ids()
    worker = next(node for node, role in nodes.items() if role == "worker")
    driver = subprocess.Popen(
        [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep}", *TINY, "train.total_timesteps=6000",
         f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.max_failure_rate=0.5",
         f"hydra.launcher.ray.init.address={cluster.address}", f"hydra.sweeper.storage={postgres}"],
        cwd=REPO, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Once a trial has completed on the worker node and another is running there: kill the node.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            study = _study(postgres)
            trials = study.get_trials() if study else []
            done_there = [t for t in trials if t.state == TrialState.COMPLETE and _node(t) == worker]
            # mid-training there: it has reported some of its 30 evaluations, far from all
            running_there = [t for t in trials if t.state == TrialState.RUNNING and _node(t) == worker
                             and 1 <= len(t.intermediate_values) <= 10]
            if done_there and running_there:
                break
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            time.sleep(0.3)
        else:
            raise AssertionError("no trial ran on the worker node")
        cluster.kill_worker_node()
        killed_at = datetime.now()
        lost = {t.number for t in running_there}
        out, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
    (tmp_path / "driver.log").write_text(out)
    assert driver.returncode == 0, out[-4000:]
    assert "s3cret" not in out

    trials = _study(postgres).get_trials()
    assert len(trials) == n_trials and not [t for t in trials if t.state == TrialState.RUNNING]
    by_state = {s: [t for t in trials if t.state == s] for s in (TrialState.COMPLETE, TrialState.FAIL)}
    assert len(by_state[TrialState.COMPLETE]) + len(by_state[TrialState.FAIL]) == n_trials
    # Trials ran on both nodes; each is in the study once, with a job directory of its own that agrees.
    assert {_node(t) for t in by_state[TrialState.COMPLETE]} == set(nodes)
    assert sorted(t.user_attrs["job_num"] for t in trials) == [int(d.name) for d in job_dirs(sweep)]
    for trial in trials:
        job = job_record.read(sweep / str(trial.user_attrs["job_num"]))
        if trial.state == TrialState.COMPLETE:
            assert job.state == files.STATE_COMPLETE and job.objective.values[0] == pytest.approx(trial.value)
        else:  # the trials the dead node was running: failed, with the reason, in the study and on disk
            assert trial.number in lost or _node(trial) in (None, worker), trial
            assert job.state == files.STATE_FAILED and job.error == trial.user_attrs["error"], (job, trial)
    failed = {t.number for t in by_state[TrialState.FAIL]}
    assert lost & failed
    assert all(t.number in failed or t.datetime_complete < killed_at for t in trials if t.number in lost)
    assert all(_node(t) != worker for t in by_state[TrialState.COMPLETE] if t.datetime_complete > killed_at)
