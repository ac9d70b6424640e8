"""Finding sweeps: the sweep directories under the paths given to the report, their short labels,
and where each one's Optuna study is. A *sweep directory* holds the study (``optuna.db`` or
``optuna.journal``), or a ``multirun.yaml`` whose ``hydra.sweeper.storage`` names it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from hpo_record.files import MULTIRUN_FILE, STUDY_DB_FILE, STUDY_JOURNAL_FILE

_SQLITE_HEADER = b"SQLite format 3\x00"


class NoSweepError(ValueError):
    """A path given to the report holds no sweep; the message is one line."""


def storage_of(path: Path) -> str | None:
    """The study's storage URL for a sweep directory, or None when it has none."""
    db = path / STUDY_DB_FILE
    if db.is_file():
        with open(db, "rb") as f:  # never let Optuna create a database out of another file
            if f.read(16) != _SQLITE_HEADER:
                raise ValueError(f"{db}: not an SQLite database")
        return f"sqlite:///{db}"
    if (path / STUDY_JOURNAL_FILE).is_file():
        return f"journal:{path / STUDY_JOURNAL_FILE}"
    if (path / MULTIRUN_FILE).is_file():
        import yaml

        config = yaml.safe_load((path / MULTIRUN_FILE).read_text()) or {}
        storage = (((config.get("hydra") or {}).get("sweeper") or {}).get("storage"))
        if not storage or "${" in str(storage):
            return None
        from hpo_record.storage import storage_url

        return storage_url(str(storage), path)  # as the sweeper opened it (the driver of a bare postgresql://)
    return None


def is_sweep_dir(path: Path) -> bool:
    return any((path / f).is_file() for f in (STUDY_DB_FILE, STUDY_JOURNAL_FILE, MULTIRUN_FILE))


def find_sweep_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Sweep directories in the given paths (each a sweep, a date directory or a multirun root;
    two levels are searched). Raises NoSweepError naming the first path without one."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise NoSweepError(f"{raw}: {'not a directory' if path.exists() else 'no such directory'}")
        sweeps = _sweeps_below(path.resolve(), depth=2)
        if not sweeps:
            raise NoSweepError(f"{raw}: no sweep found ({STUDY_DB_FILE}, {STUDY_JOURNAL_FILE} or {MULTIRUN_FILE}, "
                               "here or in its subdirectories)")
        found.extend(s for s in sweeps if s not in found)
    return found


def _sweeps_below(path: Path, depth: int) -> list[Path]:
    if is_sweep_dir(path):
        return [path]
    if depth == 0:
        return []
    children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [s for child in children for s in _sweeps_below(child, depth - 1)]


def sweep_labels(sweep_dirs: Sequence[Path]) -> list[str]:
    """Short unique labels: ``<date>/<time>`` (the last two path parts), longer if needed."""
    n = 2
    while True:
        labels = ["/".join(p.parts[-n:]) for p in sweep_dirs]
        if len(set(labels)) == len(labels) or n >= max(len(p.parts) for p in sweep_dirs):
            return labels
        n += 1
