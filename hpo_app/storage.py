"""Optuna storage shared by the sweeper (driver) and the trials (workers)."""

from __future__ import annotations

import optuna

SQLITE_TIMEOUT_S = 120


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage; SQLite gets a long busy timeout and WAL so parallel trials don't lock."""
    if url.startswith("sqlite"):
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        )
        with storage.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        return storage
    return optuna.storages.RDBStorage(url)
