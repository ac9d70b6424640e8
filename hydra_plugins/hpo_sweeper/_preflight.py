"""What a sweep checks before its first trial, each refusal one line: a sweep directory that can be
written, a study storage that opens; and how that storage is shown to a user."""

from __future__ import annotations

import dataclasses
import errno
import math
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hpo_record.files import STUDY_DB_FILE, STUDY_JOURNAL_FILE
from hpo_record.job import one_line
from hpo_record.storage import DriverMissing, display_url

from hydra_plugins.hpo_sweeper._results import shown_path
from hydra_plugins.hpo_sweeper.config import HpoSweeperConf


class SweepError(ValueError):
    """Invalid sweep input, found before any trial starts; the message is one line."""


def shown_storage(storage: str | None, url: str, sweep_dir: Path) -> str:
    """The study's storage as a user reads it: the sweep's own file as a path, a URL without its password."""
    if storage is None:
        return shown_path(sweep_dir / STUDY_DB_FILE)
    if storage == "journal":
        return shown_path(sweep_dir / STUDY_JOURNAL_FILE)
    return display_url(url)


PROBE_BYTES = 256 * 1024
"""Written and removed in the sweep directory before any trial: the study's first writes and the
first job directories need about this much."""


def writable(sweep_dir: Path) -> None:
    """Refuse, in one line naming the directory and the operating system's reason, a sweep
    directory that cannot be created or written (under a file, read-only, full disk)."""
    probe = sweep_dir / f".hpo-write-test-{os.getpid()}"
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(bytes(PROBE_BYTES))
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        reason = err.strerror or str(err)
        if err.errno == errno.ENOTDIR:
            reason += ": a part of the path is a file"
        raise SweepError(f"sweep directory {shown_path(sweep_dir)}: cannot write there ({reason})") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass  # it was never created


def opened(url: str, open_it: Any) -> Any:
    """``open_it()``, with a storage that cannot be opened or written refused in one line that
    names it (without its password) and the reason the database gave, or the driver to install."""
    if url.split("?", 1)[0] in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        raise SweepError(f"storage {url}: an in-memory SQLite database lives in the driver's process only, where "
                         "the trials' jobs cannot reach it: name a file (sqlite:///path/optuna.db), or leave "
                         "hydra.sweeper.storage null for the sweep directory's own")
    try:
        return open_it()
    except ValueError:
        raise
    except DriverMissing as err:  # not installed here: say what installs it
        raise SweepError(f"storage {display_url(url)}: {err}") from None
    except Exception as err:  # noqa: BLE001 - SQLAlchemy's and the drivers' errors
        reason = one_line(getattr(err, "orig", None) or err)
        if "already exists" in reason:  # two drivers creating the same new storage's tables at once
            raise SweepError(
                f"storage {display_url(url)}: another driver was creating this study's tables at the same moment "
                f"({reason}); start one driver, then the others with hydra.sweeper.resume=true"
            ) from None
        raise SweepError(f"storage {display_url(url)}: cannot open or write the study ({reason})") from None


def _numbers(node: Any, prefix: str) -> list[tuple[str, float]]:
    """Every float in a plain config tree, with its dotted key."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _numbers(v, f"{prefix}.{k}")]
    if isinstance(node, list):
        return [pair for i, v in enumerate(node) for pair in _numbers(v, f"{prefix}[{i}]")]
    return [(prefix, node)] if isinstance(node, float) else []


def check_settings(s: Any) -> None:
    """The sweeper's own settings (``config.HpoSweeperConf``, the attributes of ``s``), each refusal one line."""
    if s.unknown:
        known = sorted(f.name for f in dataclasses.fields(HpoSweeperConf) if f.name not in ("_target_", "defaults"))
        raise SweepError(f"hydra.sweeper.{s.unknown[0]}: unknown key (known: {', '.join(known)})")
    for key, value in _numbers(OmegaConf.to_container(s.config.hydra.sweeper, resolve=False), "hydra.sweeper"):
        if math.isnan(value):  # NaN passes no range test, and Hydra would see the sweeper's config "changed"
            raise SweepError(f"{key}=nan: not a number")
    if int(s.n_trials) < 1:
        raise SweepError(f"hydra.sweeper.n_trials={s.n_trials}: must be at least 1")
    if not 0.0 <= float(s.max_failure_rate) <= 1.0:
        raise SweepError(f"hydra.sweeper.max_failure_rate={s.max_failure_rate}: must be between 0 and 1")
    if s.n_jobs is not None and int(s.n_jobs) < 1:
        raise SweepError(f"hydra.sweeper.n_jobs={s.n_jobs}: must be at least 1 (or null: as many as CPUs)")
    if int(s.queue) < 0:
        raise SweepError(f"hydra.sweeper.queue={s.queue}: must be 0 or more")
    if int(s.heartbeat_interval) < 1 or int(s.grace_period) < 2 * int(s.heartbeat_interval) + 2:
        raise SweepError(
            f"hydra.sweeper.heartbeat_interval={s.heartbeat_interval}, grace_period={s.grace_period}: "
            "the interval must be at least 1 s and the grace period at least twice the interval plus 2 s "
            "(heartbeats are stored to the second; a live driver's trials must never look stale)"
        )
    if s.trial_timeout is not None and not float(s.trial_timeout) > 0:
        raise SweepError(f"hydra.sweeper.trial_timeout={float(s.trial_timeout):g}: must be a number of seconds above 0 "
                         "(or null: no limit)")
    subdir = OmegaConf.to_container(s.config.hydra.sweep, resolve=False).get("subdir")  # type: ignore[union-attr]
    if str(subdir) != "${hydra.job.num}":
        raise SweepError(f"hydra.sweep.subdir={subdir}: this sweeper names job directories by job number "
                         "(hydra.sweep.subdir=${hydra.job.num})")
    for direction in s.directions:
        if direction not in ("minimize", "maximize"):
            raise SweepError(f"hydra.sweeper.direction={direction}: minimize or maximize")
    if s.metrics and len(s.metrics) != len(s.directions):
        raise SweepError(f"hydra.sweeper.metric: {len(s.metrics)} name(s) for {len(s.directions)} direction(s)")
