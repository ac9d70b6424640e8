"""Experiment loggers, a config group (``logger=none|tensorboard|mlflow|many``, as lightning-hydra-template
does it): each option builds its logger with ``hydra.utils.instantiate``; the training code sees a
list of loggers (:class:`Loggers`), never their settings.

- :class:`TensorBoard` writes stable-baselines3's own training scalars (``train/...``, ``rollout/...``)
  and the run's validation evaluations (``val/<metric>`` at their timesteps) to ``<run>/tensorboard``:
  ``tensorboard --logdir <sweep directory>`` shows every trial side by side.
- :class:`MLflow` makes one MLflow run per job: its config as parameters, the validation curve and the
  final metrics per segment as metrics, the job record and the model as artifacts, its state
  (complete: FINISHED, pruned: KILLED with tag ``hpo.state=pruned``, failed: FAILED). In a sweep the
  runs are children of one parent run per sweep directory. The tracking URI defaults to a SQLite
  store in the sweep (or run) directory; it can name a server.

A logger that fails (an unreachable tracking server) is switched off after saying so once: the run
goes on and its results on disk are the same.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunInfo:
    """What a logger is told about the run when it opens."""

    output_dir: Path
    name: str  # "ppo trial 3 (job 3)", or the run directory's name
    params: dict[str, Any]  # the run's config, flattened (model.learning_rate, env.window, ...)
    trial: dict[str, Any] | None = None  # number, study, role: in a sweep
    sweep_dir: Path | None = None  # the sweep's directory, in a sweep


class Logger:
    """What every logger does; each method may raise (the :class:`Loggers` around them catch it)."""

    def open(self, info: RunInfo) -> None: ...

    def sb3_outputs(self) -> list[Any]:  # stable-baselines3 KVWriters for its own scalars
        return []

    def evaluation(self, timesteps: int, metrics: dict[str, float]) -> None: ...

    def close(self, state: str, metrics: dict[str, float], artifacts: list[Path]) -> None: ...


class TensorBoard(Logger):
    def __init__(self, log_dir: str | None) -> None:  # the setting's default: conf/logger/tensorboard.yaml
        self.log_dir = log_dir  # None: <run directory>/tensorboard

    def open(self, info: RunInfo) -> None:
        from stable_baselines3.common.logger import TensorBoardOutputFormat

        self.output = TensorBoardOutputFormat(str(Path(self.log_dir) if self.log_dir else info.output_dir / "tensorboard"))

    def sb3_outputs(self) -> list[Any]:
        return [self.output]

    def evaluation(self, timesteps: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.output.writer.add_scalar(name, value, timesteps)
        self.output.writer.flush()

    def close(self, state: str, metrics: dict[str, float], artifacts: list[Path]) -> None:
        self.output.writer.add_text("state", state)
        self.output.close()


class MLflow(Logger):
    PARENT_FILE = "mlflow_parent.json"

    def __init__(self, tracking_uri: str | None, experiment: str) -> None:  # defaults: conf/logger/mlflow.yaml
        self.tracking_uri, self.experiment = tracking_uri, experiment

    def open(self, info: RunInfo) -> None:
        # An unreachable server must fail fast, once, not retry for minutes inside every trial.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        home = info.sweep_dir or info.output_dir
        # With the default store the artifacts go beside it (MLflow's own default is ./mlruns, in
        # whatever directory the command ran from); a server keeps them where it is told to.
        artifacts = None if self.tracking_uri else (home.resolve() / "mlartifacts").as_uri()
        uri = self.tracking_uri or f"sqlite:///{home.resolve() / 'mlflow.db'}"
        with _store_lock(uri):  # a new SQLite store is made by one job at a time
            self.client = MlflowClient(uri)
            experiment = self._experiment(artifacts)
        tags = {"hpo.run_dir": str(info.output_dir.resolve())}
        if info.trial:
            tags.update({f"hpo.trial.{k}": str(v) for k, v in info.trial.items()})
        if info.sweep_dir is not None:
            tags["mlflow.parentRunId"] = self._parent(info.sweep_dir, experiment)
        self.run_id = self.client.create_run(experiment, run_name=info.name, tags=tags).info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in sorted(info.params.items())]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters a call
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def _experiment(self, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(self.experiment, artifact_location=artifact_location))
        except Exception:  # noqa: BLE001 - another job created it first
            return str(self.client.get_experiment_by_name(self.experiment).experiment_id)

    def _parent(self, sweep_dir: Path, experiment: str) -> str:
        """The sweep's parent run, named in PARENT_FILE. A job that finds no file makes a parent run
        and publishes it with a hard link (atomic: the file appears whole or not at all, so a job
        killed on the way leaves no half-written claim to wait on); one that loses the race deletes
        its own and uses the published one."""
        path = sweep_dir / self.PARENT_FILE
        if not path.exists():
            parent = self.client.create_run(experiment, run_name=f"sweep {sweep_dir.name}",
                                            tags={"hpo.sweep_dir": str(sweep_dir.resolve())})
            run_id = str(parent.info.run_id)
            self.client.set_terminated(run_id, "FINISHED")  # a container: its children hold the runs
            draft = path.with_name(f".{path.name}.{os.getpid()}.{run_id}")
            draft.write_text(json.dumps({"run_id": run_id, "tracking_uri": self.client.tracking_uri}))
            try:
                if _publish(draft, path):
                    return run_id
                self.client.delete_run(run_id)  # another job published first
            finally:
                draft.unlink(missing_ok=True)
        try:
            return str(json.loads(path.read_text())["run_id"])
        except (ValueError, KeyError, TypeError) as err:
            raise RuntimeError(f"{path}: not the sweep's parent run ({err!r}); delete the file and run again") from None

    def evaluation(self, timesteps: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), stamp, timesteps) for k, v in metrics.items()])

    def close(self, state: str, metrics: dict[str, float], artifacts: list[Path]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        final = [Metric(f"final/{k}", float(v), stamp, 0) for k, v in metrics.items()]
        for i in range(0, len(final), 1000):
            self.client.log_batch(self.run_id, metrics=final[i:i + 1000])
        for path in artifacts:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_tag(self.run_id, "hpo.state", state)
        self.client.set_terminated(self.run_id, {"complete": "FINISHED", "pruned": "KILLED"}.get(state, "FAILED"))


def _publish(draft: Path, path: Path) -> bool:
    """Make ``path`` the (whole) ``draft`` unless it exists: True when this call made it."""
    try:
        os.link(draft, path)
        return True
    except FileExistsError:  # another job's; or ours, when a network file system lost the reply
        return path.exists() and os.path.samefile(draft, path)
    except OSError:  # a file system without hard links: an exclusive create, then the content
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as out:
            out.write(draft.read_text())
        return True


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Jobs that start together on a new SQLite store would each run MLflow's schema migrations on
    it and fail: the first to hold the lock beside it makes it, the others then find it. Other
    stores, and file systems without locks, go as they are."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    try:
        import fcntl

        handle = open(uri[len("sqlite:///"):] + ".lock", "a")  # noqa: SIM115 - held across the yield
        fcntl.flock(handle, fcntl.LOCK_EX)
    except (ImportError, OSError):
        yield
        return
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@dataclass
class Loggers:
    """The run's loggers, each switched off (with one line saying why) the first time it fails."""

    loggers: list[Logger] = field(default_factory=list)

    def _each(self, what: str, call: Any) -> list[Any]:
        out = []
        for logger in list(self.loggers):
            try:
                out.append(call(logger))
            except Exception as err:  # noqa: BLE001 - tracking must never fail the run
                self.loggers.remove(logger)
                log.warning("%s: tracking failed while it %s (%s: %s); the run goes on without it",
                            type(logger).__name__, what, type(err).__name__, str(err).splitlines()[0] if str(err) else "")
        return out

    def open(self, info: RunInfo) -> None:
        self._each("opened the run", lambda lg: lg.open(info))

    def sb3_outputs(self) -> list[Any]:
        return [w for ws in self._each("set up stable-baselines3's logger", lambda lg: lg.sb3_outputs()) for w in ws]

    def evaluation(self, timesteps: int, metrics: dict[str, float]) -> None:
        self._each("logged an evaluation", lambda lg: lg.evaluation(timesteps, metrics))

    def close(self, state: str, metrics: dict[str, float], artifacts: list[Path]) -> None:
        self._each("closed the run", lambda lg: lg.close(state, metrics, artifacts))


TARGETS = ("hpo_app.loggers.*",)
"""The ``_target_``s a logger config may name."""


def build(node: Any, info: RunInfo) -> Loggers:
    """The loggers a ``logger`` config node names (each entry a ``_target_``), opened."""
    from hydra.utils import instantiate

    loggers = Loggers([instantiate(conf, _execution_whitelist_=TARGETS) for conf in (node or {}).values() if conf])
    loggers.open(info)
    return loggers
