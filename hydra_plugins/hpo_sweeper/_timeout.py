"""The trial time limit (``hydra.sweeper.trial_timeout``): stop the worker of a job past it.

A job says where it runs when it opens its link to the trial (``trial.current_trial`` records
host, process id and Ray node in the trial's system attribute ``hpo:worker``). The driver fails a
trial whose job has run longer than the limit, counted from when a slot was free for it, and
kills that process: with Ray, by a task pinned to the worker's node that needs no CPU (the node's
CPUs may all be busy), so it reaches a worker on any machine of the cluster; otherwise on this
host by process id. A process stopped with SIGSTOP is killed all the same. A job that never said
where it runs (an application that does not open the link) is failed and left to end by itself.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any

from hydra_plugins.hpo_sweeper._outcome import one_line

ATTR_WORKER = "hpo:worker"
STOP_WAIT_S = 60.0


class TrialTimeout(RuntimeError):
    """A trial ran longer than ``hydra.sweeper.trial_timeout``."""


def where_this_runs() -> dict[str, Any]:
    """This process, as the driver needs it to stop the job (recorded by the job)."""
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    ray = sys.modules.get("ray")  # a Ray worker has it imported and initialized; never import it here
    if ray is not None and ray.is_initialized():
        info["ray_node_id"] = ray.get_runtime_context().get_node_id()
    return info


def kill(pid: int) -> str:
    """SIGKILL ``pid`` (run on the worker's node)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "had already ended"
    return "was killed"


def stop_worker(worker: dict[str, Any] | None) -> str:
    """Kill the process a job runs in; says what became of it (one clause for the trial's error)."""
    if not worker:
        return "its job never said where it runs, so it may still be running"
    pid, host = int(worker["pid"]), str(worker.get("host"))
    what = f"its process {pid} on {host}"
    local = host == socket.gethostname()
    if local and pid == os.getpid():
        return "it runs in the driver's own process (hydra/launcher=basic), which cannot stop it"
    try:
        node = worker.get("ray_node_id")
        ray = sys.modules.get("ray")
        if node and ray is not None and ray.is_initialized():
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            task = ray.remote(num_cpus=0, max_retries=0)(kill)
            pinned = task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False))
            return f"{what} {ray.get(pinned.remote(pid), timeout=STOP_WAIT_S)}"
        if local:
            return f"{what} {kill(pid)}"
        return f"{what} is on another machine and not under Ray, so it may still be running"
    except Exception as err:  # noqa: BLE001 - the trial is failed either way; say why it may live on
        return f"{what} could not be stopped ({one_line(err)})"
