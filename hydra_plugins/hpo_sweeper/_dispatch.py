"""Asynchronous dispatch: each trial's job goes through the launcher's public ``launch()``.

Hydra's launcher interface is blocking (``launch(job_overrides, initial_job_idx)`` returns when
its jobs have returned). To keep ``slots`` trials running and start a new one as soon as any
finishes, each job is launched on its own in a daemon thread that waits for it; the driver's
thread asks, tells and prints. ``queue`` more jobs than slots are launched, so that the launcher
(Ray's scheduler) starts the next job the moment a slot frees, without waiting for the driver.

A serial launcher (Hydra's basic launcher runs the task in the driver's process, changing
process-wide state) is called in the driver's thread, one job at a time; Ctrl-C then reaches
the running task itself.

Nothing here knows about Optuna: a job is its overrides and number, and comes back with the
``JobReturn`` (or the exception ``launch`` raised: a config that did not compose, a dead worker).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


@dataclass
class Job:
    job_num: int
    overrides: Sequence[str]
    payload: Any  # the caller's (the Optuna trial and its bookkeeping)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None  # when a slot was free for it (it may wait in the queue)


@dataclass(frozen=True)
class Finished:
    job: Job
    ret: JobReturn | BaseException
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - (self.job.started or self.job.submitted)


class Dispatcher:
    def __init__(self, launcher: Launcher, *, slots: int, queue_depth: int, serial: bool,
                 stop_jobs: Callable[[], None] | None = None) -> None:
        self.launcher = launcher
        self._stop_jobs = stop_jobs  # how to stop the jobs still running (Ray: shut it down)
        self.slots = 1 if serial else max(1, slots)
        self.capacity = 1 if serial else self.slots + max(0, queue_depth)
        self.serial = serial
        self.inline_running = False  # a serial job is running in the driver's thread right now
        self.in_flight: dict[int, Job] = {}  # by job number, in order of submission
        self._done: queue.Queue[Finished] = queue.Queue()
        self._forgotten: set[int] = set()  # given up on (timed out): what they return is dropped
        self._threads: list[threading.Thread] = []

    @property
    def has_room(self) -> bool:
        return len(self.in_flight) < self.capacity

    @property
    def n_running(self) -> int:
        return min(len(self.in_flight), self.slots)

    def submit(self, job: Job) -> None:
        self.in_flight[job.job_num] = job
        if sum(j.started is not None for j in self.in_flight.values()) < self.slots:
            job.started = time.perf_counter()
        if self.serial:
            self.inline_running = True
            try:  # in this thread: a KeyboardInterrupt reaches the caller
                ret: JobReturn | BaseException = self._launch(job)
            except Exception as err:  # noqa: BLE001 - this job's failure, not the sweep's
                ret = err
            finally:
                self.inline_running = False
            self._done.put(Finished(job, ret, time.perf_counter()))
            return
        thread = threading.Thread(target=self._wait_for, args=(job,), name=f"hpo-job-{job.job_num}", daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def wait(self, timeout: float) -> list[Finished]:
        """The jobs that finished: at least one, unless ``timeout`` seconds passed first."""
        try:
            first = self._done.get(timeout=timeout)
        except queue.Empty:
            return []
        firsts = [] if first.job.job_num in self._forgotten else [first]
        return self._collect(firsts + self.finished_now())

    def finished_now(self) -> list[Finished]:
        """What has finished, without waiting."""
        out = []
        while True:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return out
            if item.job.job_num not in self._forgotten:
                out.append(item)

    def collect_now(self) -> list[Finished]:
        return self._collect(self.finished_now())

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop the jobs still running, where the launcher allows it, and wait (a bounded time)
        for their threads. A thread that was still inside ``launch()`` before submitting may
        have started the launcher's backend again (the Ray launcher starts Ray when it is not
        running): it is stopped a second time."""
        if self._stop_jobs is None or self.serial:
            return
        self._stop_jobs()
        deadline = time.monotonic() + wait_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._stop_jobs()

    def overdue(self, seconds: float) -> list[Job]:
        """The jobs that have run longer than ``seconds`` since a slot was free for them."""
        now = time.perf_counter()
        return [j for j in self.in_flight.values() if j.started is not None and now - j.started > seconds]

    def forget(self, job: Job) -> None:
        """Give up on a running job (it timed out and its worker was stopped): its slot is free,
        and whatever its launch returns later is dropped."""
        self._forgotten.add(job.job_num)
        self._collect([Finished(job, TimeoutError(), time.perf_counter())])

    def abandon(self) -> list[Job]:
        """Forget the jobs still in flight (the sweep is stopping) and return them."""
        jobs = list(self.in_flight.values())
        self.in_flight.clear()
        return jobs

    def _collect(self, finished: list[Finished]) -> list[Finished]:
        """Forget the finished jobs; each freed slot took the oldest queued job (an estimate of
        when it started: the launcher does not say)."""
        for item in finished:
            self.in_flight.pop(item.job.job_num, None)
        waiting = [j for j in self.in_flight.values() if j.started is None]
        free = max(0, self.slots - (len(self.in_flight) - len(waiting)))
        for job, ended in zip(waiting[:free], sorted(f.ended for f in finished)):
            job.started = ended
        return finished

    def _launch(self, job: Job) -> JobReturn:
        (ret,) = self.launcher.launch([list(job.overrides)], initial_job_idx=job.job_num)
        return ret

    def _wait_for(self, job: Job) -> None:
        try:
            ret: JobReturn | BaseException = self._launch(job)
        except BaseException as err:  # noqa: BLE001 - reported to the driver's thread
            ret = err
        self._done.put(Finished(job, ret, time.perf_counter()))
