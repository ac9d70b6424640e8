"""Forked worker processes for the report (reading sweeps, drawing plots): how many, and a pool
whose workers die with the report (a report killed with ``kill -9`` leaves no process behind)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def cpus() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _die_with(parent: int) -> None:
    """Pool initializer: the kernel kills this worker when the report's process dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def fork_pool(n: int) -> ProcessPoolExecutor | None:
    """A pool of ``n`` forked workers (they inherit the parent's memory), or None when ``n < 2``
    or fork is not available (the caller then works in its own process)."""
    if n < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"), initializer=_die_with,
                               initargs=(os.getpid(),))
