"""The launcher seam: what the sweeper knows about launchers (which run jobs in the driver's process,
and Ray), behind :class:`Launcher`, the one thing the sweep's set-up (``_impl``) asks.

The launcher is named by its config's ``_target_`` (public configuration, not a private class).
With the Ray launcher the driver starts Ray itself, before any job, to count the CPUs it can
schedule on; the launcher then finds Ray running and uses it. Nothing sets
``object_store_memory``, which breaks joining an existing cluster (Hydra #2893, in the 1.2
launcher).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hpo_record.trial import start_time

from hydra_plugins.hpo_sweeper import _procs
from hydra_plugins.hpo_sweeper._private import BASIC_LAUNCHER

log = logging.getLogger("hydra_plugins.hpo_sweeper")

DRIVER_ENV = "HPO_SWEEPER_RAY_DRIVER"
"""Set (``<pid>:<start time>``) in the environment of a driver that starts a local Ray: every Ray
process started from it (GCS, raylet, agents, workers) inherits it, whatever it renames itself."""


RAY_LAUNCHERS = ("hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher",)
SERIAL_LAUNCHERS = (BASIC_LAUNCHER,)


def _target(config: DictConfig) -> str:
    return str(OmegaConf.select(config, "hydra.launcher._target_", default=""))


def is_serial(config: DictConfig) -> bool:
    """The launcher runs each job in the driver's own process, one after another."""
    return _target(config) in SERIAL_LAUNCHERS


def is_ray(config: DictConfig) -> bool:
    return _target(config) in RAY_LAUNCHERS


def cpus_per_job(config: DictConfig) -> float:
    value = OmegaConf.select(config, "hydra.launcher.ray.remote.num_cpus", default=None)
    return float(value) if value else 1.0


def start_ray(config: DictConfig) -> None:
    """Start (or join, with ``hydra.launcher.ray.init.address``) Ray once, quietly."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = OmegaConf.to_container(config.hydra.launcher.ray.init, resolve=True) or {}  # type: ignore[assignment]
    options = {k: v for k, v in options.items() if v is not None or k == "address"}
    if options.get("address"):  # a cluster's own settings apply
        options.pop("num_cpus", None)
        options.pop("include_dashboard", None)
    level = options.pop("logging_level", "WARNING")
    options["logging_level"] = level if isinstance(level, int) else getattr(logging, str(level).upper(), logging.WARNING)
    if options.get("address"):  # a cluster's
        ray.init(**options)
        return
    reap_left_behind()
    # The mark reaches the processes ray.init starts (GCS, raylet; the raylet's own children inherit
    # it from the raylet), and no later child of this driver.
    before = os.environ.get(DRIVER_ENV)
    os.environ[DRIVER_ENV] = f"{os.getpid()}:{start_time(os.getpid())}"
    try:
        ray.init(**options)
    finally:
        if before is None:
            os.environ.pop(DRIVER_ENV, None)
        else:
            os.environ[DRIVER_ENV] = before


def ray_processes(driver_pid: int | None = None) -> dict[str, set[int]]:
    """The processes of local Rays that sweep drivers started, by driver (``<pid>:<start time>``);
    only those of ``driver_pid`` if given."""
    out: dict[str, set[int]] = {}
    for pid, (_, cmdline) in _procs.processes().items():
        value = _procs.environment_value(pid, DRIVER_ENV)
        if value and "ray" in cmdline and (driver_pid is None or value.split(":")[0] == str(driver_pid)):
            out.setdefault(value, set()).add(pid)
    return out


def reap_left_behind() -> None:
    """Stop the processes of local Rays whose sweep driver has died (``kill -9``: Ray's agents
    outlive it by a minute or more, listening). A live driver's Ray, and Rays started otherwise
    (``ray start``, other programs), are not touched; nor is this process or any of its ancestors.
    A courtesy: whatever goes wrong here, the sweep goes on."""
    try:
        spared = {os.getpid()} | _procs.ancestors(os.getpid())
        for driver, pids in ray_processes().items():
            pid, _, started = driver.partition(":")
            if _procs.running(int(pid), int(started) if started.isdigit() else None):
                continue  # that driver lives
            stopped = _procs.kill(pids - spared)
            if stopped:
                log.info("Stopped %d Ray process(es) left running by a sweep driver that was killed (pid %s)",
                         stopped, pid)
    except Exception as err:  # noqa: BLE001 - see above
        log.debug("reaping Ray processes of dead drivers failed: %s", err)


def ray_slots(config: DictConfig) -> int:
    """Trials Ray can run at once: the CPUs it schedules on (a container's limit, a cluster's
    total) over the CPUs each job asks for."""
    import ray

    start_ray(config)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // cpus_per_job(config)))


def stop_ray() -> None:
    """Disconnect from Ray; a local Ray started here stops with its running jobs."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def slots(config: DictConfig, n_jobs: int | None, queue: int) -> tuple[int, int]:
    """Trials in parallel, and trials queued beyond them. A queued job waits in Ray's queue only if
    every CPU Ray has is taken: with fewer trials in parallel than Ray could run, it would run at
    once, so there is no queue then."""
    if not is_ray(config):
        return (int(n_jobs or 1), queue)
    capacity = ray_slots(config)
    n = capacity if n_jobs is None else int(n_jobs)
    if n < capacity and queue:
        log.info("hydra.sweeper.n_jobs=%d is below the %d trials Ray can run at once: no queue", n, capacity)
        return (n, 0)
    return (n, queue)


class Launcher:
    """The sweep's launcher as the sweep sees it: whether jobs run in the driver, how many at once,
    starting what it needs first (Ray), and stopping its jobs (Ray's: with it)."""

    def __init__(self, config: DictConfig) -> None:
        self.config, self.ray = config, is_ray(config)
        self.serial = is_serial(config)
        self.stop_jobs: Callable[[], None] | None = stop_ray if self.ray else None

    def start(self, n_jobs: int | None, queue: int) -> tuple[int, int]:
        """Start what the launcher needs before any job; the trials in parallel and queued (``slots``)."""
        if self.ray:
            start_ray(self.config)
        return slots(self.config, n_jobs, queue)

    def stop(self) -> None:
        if self.stop_jobs is not None:
            self.stop_jobs()
