"""The trial time limit (``hydra.sweeper.trial_timeout``): stop the worker of a job past it.

A job says where it runs when it opens its link to the trial (``hpo_record.trial.current_trial``
records host, process id, the process's start time and Ray node in the trial's system attribute
``hpo:worker``). The driver, once a job has run longer than the limit (counted from when a slot was
free for it), first records the jobs that returned meanwhile, then fails the trials still
running and kills their processes: with Ray, by tasks pinned to the workers' nodes that need no
CPU (the nodes' CPUs may all be busy), so a worker on any machine of the cluster is reached;
otherwise on this host by process id. A process stopped with SIGSTOP is killed all the same. The
kill checks the process's start time, so a pid reused by another process is never hit. A job
that never said where it runs (an application that does not open the link) is failed and left to
end by itself.

Ray reuses a worker process for the next task once a job returns. The driver records the jobs
that returned before it kills, and a kill task that lands in the job's own (now idle) worker
kills nothing; what is left is a window of Ray's own latency in which a job that returned at the
very limit is still counted as timed out and its worker, already given the next trial, is killed.
That next trial then fails as "worker died"; no trial is ever recorded as a success it was not.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any

from hpo_record.job import one_line
from hpo_record.trial import start_time

STOP_WAIT_S = 15.0
"""How long the driver waits, all timed-out trials together, for their workers to be killed."""


class TrialTimeout(RuntimeError):
    """A trial ran longer than ``hydra.sweeper.trial_timeout``."""


def kill(pid: int, started: int | None) -> str:
    """SIGKILL ``pid`` if it is still the process that started at ``started`` (run on its node, in a
    Ray worker: if that is the job's own worker, the job has returned and freed it)."""
    if pid == os.getpid() or (started is not None and start_time(pid) != started):
        return "had already ended"
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "had already ended"
    return "was killed"


def stop_workers(workers: list[dict[str, Any] | None]) -> list[str]:
    """Kill the processes the jobs run in, all at once; one clause per job saying what became of it."""
    out: list[str | None] = [None] * len(workers)
    pending: dict[int, Any] = {}  # index -> Ray task
    ray = sys.modules.get("ray")
    for i, worker in enumerate(workers):
        if not worker:
            out[i] = "its job never said where it runs, so it may still be running"
            continue
        try:
            pid, host, started = int(worker["pid"]), str(worker.get("host")), worker.get("started")
            node = worker.get("ray_node_id")
            if node and ray is not None and ray.is_initialized():
                from ray.util.scheduling_strategies import (
                    NodeAffinitySchedulingStrategy,
                )

                task = ray.remote(num_cpus=0, max_retries=0)(kill).options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False))
                pending[i] = task.remote(pid, started)
            elif host == socket.gethostname() and pid != os.getpid():
                out[i] = f"its process {pid} on {host} {kill(pid, started)}"
            else:
                out[i] = f"its process {pid} on {host} is out of reach (not under Ray), so it may still be running"
        except Exception as err:  # noqa: BLE001 - the trial is failed either way; say why it may live on
            out[i] = f"its process could not be stopped ({one_line(err)})"
    deadline = time.monotonic() + STOP_WAIT_S
    for i, ref in pending.items():
        worker = workers[i] or {}
        what = f"its process {worker.get('pid')} on {worker.get('host')}"
        try:
            out[i] = f"{what} {ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))}"
        except Exception as err:  # noqa: BLE001 - a node that does not answer
            try:
                ray.cancel(ref, force=True)  # a late kill must not run later (its start-time check aside)
            except Exception:  # noqa: BLE001, S110 - nothing more to do
                pass
            out[i] = f"{what} could not be stopped ({one_line(err)})"
    return [text or "" for text in out]
