"""Opening the Optuna storage named by ``hydra.sweeper.storage``, in the driver and in jobs.

- ``None``: ``sqlite:///<sweep dir>/optuna.db``;
- ``journal``: Optuna's journal file ``<sweep dir>/optuna.journal`` (several drivers on one file
  system, NFS included, where SQLite's locking is unsafe); ``journal:<path>`` names the file;
- anything else: an SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``, ``mysql://...``).

SQLite gets a long busy timeout and write-ahead logging, so parallel trials writing intermediate
values do not hit "database is locked". RDB storages record heartbeats; the journal storage has
none in Optuna 5 (its trials left RUNNING by a killed driver stay RUNNING).

The sweeper opens the study's storage with these functions; a job's trial side (:mod:`hpo_record.trial`) and
the analysis open it with :func:`open_storage`. Optuna and SQLAlchemy are imported when a storage
is opened, not with this module: importing the contract stays cheap.
"""

from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_record.files import STUDY_DB_FILE, STUDY_JOURNAL_FILE

if TYPE_CHECKING:
    import optuna

SQLITE_TIMEOUT_S = 60  # well below the default grace period: a lock never outlasts a heartbeat

StaleCallback = Callable[["optuna.study.Study", "optuna.trial.FrozenTrial"], None]


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """The storage's full name: a URL, or ``journal:<absolute path>``."""
    if storage is None:
        return f"sqlite:///{sweep_dir / STUDY_DB_FILE}"
    if storage == "journal":
        return f"journal:{sweep_dir / STUDY_JOURNAL_FILE}"
    if storage.startswith("journal:"):
        return f"journal:{Path(storage[len('journal:'):]).absolute()}"
    return _with_driver(storage)


def _with_driver(url: str) -> str:
    """A PostgreSQL URL without a driver names SQLAlchemy's default, psycopg2; when that is not
    installed, psycopg 3 (hpo-app's extra ``postgres`` installs it) is used."""
    if url.startswith("postgres://"):  # Heroku's spelling; SQLAlchemy 2 knows only postgresql://
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


POSTGRES_INSTALL = 'pip install "hpo-app[postgres]"'
"""What installs the PostgreSQL driver (psycopg 3) that a ``postgresql://`` storage uses."""


class DriverMissing(ImportError):
    """The database driver a storage URL needs is not installed; the message is one line saying what
    to install."""


def check_driver(url: str) -> None:
    """Raise :class:`DriverMissing` when ``url`` is a PostgreSQL URL whose driver is not installed
    (SQLAlchemy's own error names neither the driver nor what installs it)."""
    dialect, _, driver = url.split("://", 1)[0].partition("+")
    if dialect != "postgresql" or "://" not in url:
        return
    module = {"": "psycopg2", "psycopg_async": "psycopg"}.get(driver, driver)
    if importlib.util.find_spec(module) is not None:
        return
    if driver in ("", "psycopg", "psycopg_async"):
        raise DriverMissing(f"the PostgreSQL driver is not installed: {POSTGRES_INSTALL}")
    raise DriverMissing(f"the PostgreSQL driver {driver} (postgresql+{driver}://) is not installed; "
                        f"postgresql:// uses psycopg 3: {POSTGRES_INSTALL}")


def display_url(url: str) -> str:
    """The storage URL as it may be shown: without its password."""
    if url.startswith("journal:") or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: show nothing of it
        return "<storage URL>"


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    on_stale: StaleCallback | None = None,
) -> optuna.storages.BaseStorage:
    """The storage at ``url``; heartbeats on when ``heartbeat_interval`` is given (RDB only). A
    PostgreSQL URL whose driver is not installed raises :class:`DriverMissing`."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal:"):])
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    check_driver(url)
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": on_stale,
        }
    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else None
    return _created(lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine, **heartbeat))


def _created(make: Callable[[], Any], attempts: int = 5) -> Any:
    """``make()``, again after a short pause when another driver was creating the same tables at
    that moment: two drivers started together on a new PostgreSQL database both run Optuna's
    CREATE TABLE, and the second fails on PostgreSQL's catalog (UniqueViolation on pg_type) or
    finds a table half made. Once the first has finished, the tables exist and are used."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return make()
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random() * (attempt + 1))
    raise AssertionError("unreachable")


def use_wal(url: str) -> None:
    """Switch an SQLite database to write-ahead logging (persistent in the file: done once, by
    the driver, before Optuna opens it)."""
    if not url.startswith("sqlite"):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT_S})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    import optuna

    return isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None
