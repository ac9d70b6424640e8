"""What the sweeper hands to the application's hooks (``hydra.sweeper.hooks``; the hooks and
when each is called: ``hydra_plugins/hpo_sweeper/hooks.py``, docs/sweeper.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FailedJob:
    """A trial whose job ended without its task's own outcome (the ``job_failed`` hook's argument)."""

    job_dir: Path
    job_num: int | None
    trial_number: int
    study_name: str
    error: str  # one line: what happened
    details: str  # a traceback, or the same line again
