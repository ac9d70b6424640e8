"""Loggers as a config group (``logger=tensorboard|mlflow|many``): what TensorBoard and MLflow's client
read back from real (small) runs and sweeps, a real ``mlflow server``, and a tracking server that
cannot be reached."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo_app.api import train
from tests.conftest import REPO_ROOT, SMALL_DATA, TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RUN = [*SMALL_DATA, *TINY_MODEL["a2c"], "train.total_timesteps=512", "train.eval_every=128"]


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_holds_sb3s_training_scalars_and_the_validation_curve(tmp_path: Path) -> None:
    result = train([*RUN, "logger=tensorboard"], tmp_path / "run")
    scalars = _scalars(tmp_path / "run" / "tensorboard")
    assert any(tag.startswith("train/") for tag in scalars)  # stable-baselines3's own
    curve = scalars["val/sharpe"]
    import pandas as pd

    expected = pd.read_csv(tmp_path / "run" / "eval_curve.csv")
    assert [s for s, _ in curve] == expected["timesteps"].tolist()
    assert [v for _, v in curve] == pytest.approx(expected["val/sharpe"].tolist(), rel=1e-6)
    assert result.record.state == "complete"


def test_no_logger_writes_nothing_of_its_own(tmp_path: Path) -> None:
    train(RUN, tmp_path / "run")
    assert not (tmp_path / "run" / "tensorboard").exists() and not (tmp_path / "run" / "mlflow.db").exists()


def _client(uri: str):  # noqa: ANN202 - mlflow is imported here only
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def test_mlflow_holds_the_run_its_params_curve_metrics_and_artifacts(tmp_path: Path) -> None:
    result = train([*RUN, "logger=mlflow"], tmp_path / "run")
    client = _client(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hpo_app").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["hpo.state"] == "complete"
    assert float(run.data.params["model.learning_rate"]) == pytest.approx(2e-4)
    history = sorted(client.get_metric_history(run.info.run_id, "val/sharpe"), key=lambda m: m.step)
    import pandas as pd

    curve = pd.read_csv(tmp_path / "run" / "eval_curve.csv")
    assert [m.step for m in history] == curve["timesteps"].tolist()
    assert [m.value for m in history] == pytest.approx(curve["val/sharpe"].tolist(), rel=1e-6)
    assert run.data.metrics["final/test/sharpe"] == pytest.approx(result.record.metrics["test/sharpe"])
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "model.zip"} <= names
    # beside the store, in the run's directory: nothing in the directory the command ran from
    assert (tmp_path / "run" / "mlartifacts").is_dir() and not (Path.cwd() / "mlruns").exists()


def test_an_unreachable_tracking_server_says_so_once_and_the_run_completes(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, "-m", "hpo_app", *RUN, "logger=mlflow",
                           f"logger.mlflow.tracking_uri=http://127.0.0.1:{port}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert text.count("tracking failed") == 1, text[-3000:]
    assert (tmp_path / "run" / "metrics.json").is_file()


@pytest.mark.slow
def test_a_sweep_logs_a_parent_run_and_a_child_per_trial(tmp_path: Path) -> None:
    from tests.sweep_helpers import TINY, explain, load_study, run_app

    sweep = tmp_path / "sweep"
    proc = run_app([*TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=3", "hydra.sweeper.max_failure_rate=1.0", "logger=many",
                    "env.reward_scale=choice(1, 1e300)"], sweep)
    assert proc.returncode == 0, explain(proc)
    client = _client(f"sqlite:///{sweep / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("hpo_app").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    study = load_study(sweep)
    by_number = {int(r.data.tags["hpo.trial.number"]): r for r in children}
    for trial in study.trials:  # a failed trial (reward scale 1e300: it diverges) is a FAILED run
        expected = "FINISHED" if trial.state.name == "COMPLETE" else "FAILED"
        assert by_number[trial.number].info.status == expected
    assert all((sweep / str(t.user_attrs["job_num"]) / "tensorboard").is_dir() for t in study.trials)


@pytest.mark.slow
def test_a_real_mlflow_server_receives_the_run(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
                               "--port", str(port), "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        uri = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        train([*RUN, "logger=mlflow", f"logger.mlflow.tracking_uri={uri}"], tmp_path / "run")
        client = _client(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("hpo_app").experiment_id])
        assert run.info.status == "FINISHED" and "final/val/sharpe" in run.data.metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


_OPEN = """
import sys
from pathlib import Path
from hpo_app.loggers import MLflow, RunInfo
sweep = Path(sys.argv[1])
MLflow(None, "race").open(RunInfo(sweep / sys.argv[2], sys.argv[2], {}, {"number": int(sys.argv[2])}, sweep))
"""


def test_jobs_racing_for_the_sweeps_parent_run_share_one_and_a_killed_jobs_draft_blocks_nothing(tmp_path: Path) -> None:
    """Three jobs open MLflow at once in a sweep whose directory holds the draft a job killed before
    publishing left: one parent run is published whole, every child names it, the losers' parents
    are deleted, nothing waits; a parent file that is not one (an older version's empty claim) is one
    error naming it."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / ".mlflow_parent.json.99999.dead").write_text("")  # a killed job's draft, never linked
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, str(sweep), str(i)], cwd=REPO_ROOT, stderr=subprocess.PIPE,
                              text=True) for i in range(3)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
    client = _client(f"sqlite:///{sweep / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("race").experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    published = __import__("json").loads((sweep / "mlflow_parent.json").read_text())["run_id"]
    assert len(children) == 3 and {r.data.tags["mlflow.parentRunId"] for r in children} == {published}
    assert [r.info.run_id for r in parents] == [published]  # search_runs leaves deleted runs out
    assert sorted(p.name for p in sweep.glob(".mlflow_parent.json.*")) == [".mlflow_parent.json.99999.dead"]

    (sweep / "mlflow_parent.json").write_text("")
    from hpo_app.loggers import MLflow, RunInfo

    with pytest.raises(RuntimeError, match="mlflow_parent.json: not the sweep's parent run") as info:
        MLflow(f"sqlite:///{sweep / 'mlflow.db'}", "race").open(RunInfo(sweep / "9", "9", {}, {"number": 9}, sweep))
    assert "\n" not in str(info.value)


def test_a_parent_record_is_published_once_and_whole(tmp_path: Path) -> None:
    """The publish step the racing jobs go through: the first draft becomes the file, a later one
    loses (its job deletes its own parent run), and a retried link of the winner's draft still wins."""
    from hpo_app.loggers import _publish

    path = tmp_path / "mlflow_parent.json"
    first, second = tmp_path / ".a", tmp_path / ".b"
    first.write_text('{"run_id": "a"}')
    second.write_text('{"run_id": "b"}')
    assert _publish(first, path) and not _publish(second, path) and _publish(first, path)
    assert path.read_text() == '{"run_id": "a"}'
