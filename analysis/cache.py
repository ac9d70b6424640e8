"""What a report computed, kept in ``<out>/.cache/`` so that the next report into the same
directory computes again only what changed (``--no-cache``: neither read nor written).

Three kinds of entries, each found by a key that changes whenever its result could:

- ``load``: a sweep directory's studies, trial rows and learning curves; the key is the size and
  modification time of every file under the directory (its ``optuna.db`` or journal included). A
  sweep whose study lives elsewhere (PostgreSQL) is read every time: its files say nothing of it.
- ``summary``, ``rerun``: the costly parts of a sweep's summary (Optuna's importance, the deflated
  Sharpe ratio, the probability of backtest overfitting; the checked re-run command); the key is a
  hash of the data they are computed from (the sweep's trial rows and validation returns; the best
  job's ``.hydra`` files and the files of the config directory it composes with).
- ``plot``: a PNG, keyed by a hash of what it draws.

Every key also holds the code (the sources of ``analysis``, ``hpo_app`` and the sweeper) and the
versions of the libraries that compute or draw. Entries the report did not use are removed at its
end. Entries are pickles: the cache is for the user's own output directory, not for sharing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

CACHE_DIR = ".cache"
_PACKAGES = ("analysis", "hpo_app", "hydra_plugins.hpo_sweeper")
_LIBRARIES = ("optuna", "matplotlib", "pandas", "numpy", "scipy", "scikit-learn", "hydra-core", "omegaconf",
              "hydra-optuna-sweeper", "hydra-ray-launcher")  # Hydra's plugins take part in composing a re-run


@lru_cache(maxsize=1)
def code_key() -> str:
    """A hash of the code that computes a report: its packages' sources and library versions."""
    from importlib import import_module, metadata

    h = hashlib.sha256(sys.version.encode())
    for name in _PACKAGES:
        folder = Path(import_module(name).__file__ or "").parent
        for path in sorted(folder.glob("*.py")):
            h.update(path.name.encode() + path.read_bytes())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            h.update(lib.encode())
    return h.hexdigest()


SETTLED_S = 2.0
"""A directory with a file modified less than this ago is not cached: a file system's clock ticks
(a few milliseconds) could hide a second write in the same tick."""


def tree_stats(root: Path, skip: Path | None = None) -> bytes:
    """Path, size, modification and change times, inode and mode of every file under ``root``
    (``skip``: a directory left out; a copy that keeps times, a ``chmod``, show in the change time
    or the inode); raises :class:`Uncacheable` when a file was modified less than ``SETTLED_S`` ago
    or a link is found."""
    out: list[str] = []
    recent = time.time_ns() - int(SETTLED_S * 1e9)
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_symlink():
                    raise Uncacheable(f"{e.path}: a link (what it points to could change unseen)")
                if e.is_dir():
                    if skip is None or Path(e.path) != skip:
                        stack.append(Path(e.path))
                    continue
                st = e.stat()
                if e.name.endswith("-shm") or (e.name.endswith("-wal") and not st.st_size):
                    continue  # SQLite's index and empty log, made by any reader of a WAL database
                if st.st_mtime_ns > recent:
                    raise Uncacheable(f"{e.path}: being written")
                out.append(f"{os.path.relpath(e.path, root)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
                           f"\0{st.st_ino}\0{st.st_mode}")
    return "\n".join(sorted(out)).encode()


class Uncacheable(Exception):
    """A directory whose files do not say whether it changed: one is being written, or is a link."""


def frame_bytes(df: Any, alone: bool = False) -> bytes:
    """A DataFrame's content as bytes for a key: columns, dtypes and a hash of every row.
    ``alone``: one sweep's rows of a table of several, as they would be alone: without the columns
    only other sweeps fill, numbers as floats (another sweep's missing value makes a column float)."""
    import pandas as pd

    if df is None:
        return b"none"
    if alone:
        df = df.dropna(axis=1, how="all")
        df = df.astype({c: "float64" for c, t in df.dtypes.items()
                        if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)})
    head = repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode()
    try:
        return head + pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
    except TypeError:  # unhashable cells (lists): their text
        return head + df.to_csv(index=False).encode()


class Memo:
    """The cache of one output directory (``root`` None: off, every lookup misses)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.used: set[str] = set()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def key(self, kind: str, *parts: Any) -> str:
        h = hashlib.sha256(code_key().encode() + kind.encode())
        for p in parts:
            data = p if isinstance(p, bytes) else repr(p).encode()
            h.update(len(data).to_bytes(8, "little") + data)
        return f"{kind}-{h.hexdigest()[:32]}"

    def _path(self, key: str, suffix: str) -> Path:
        assert self.root is not None
        return self.root / f"{key}{suffix}"

    def get(self, key: str | None) -> Any:
        """The value stored under ``key``, or None (off, missing, or unreadable: dropped)."""
        if self.root is None or key is None:
            return None
        path = self._path(key, ".pkl")
        try:
            with open(path, "rb") as f:
                value = pickle.load(f)
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # noqa: BLE001 - a truncated or foreign file is a miss
            _remove(path)
            self.misses += 1
            return None
        self.used.add(path.name)
        self.hits += 1
        return value

    def put(self, key: str | None, value: Any) -> None:
        if self.root is None or key is None:
            return
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - something that cannot be pickled is computed again next time
            return
        self._write(self._path(key, ".pkl"), data)

    def get_file(self, key: str, dest: Path, digest: str) -> bool:
        """Write the file stored under ``key`` to ``dest`` if its SHA-256 is ``digest``; False
        when there is none or it is damaged."""
        if self.root is None:
            return False
        path = self._path(key, dest.suffix)
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                raise OSError(f"{path}: damaged")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        except OSError:
            self.misses += 1
            return False
        self.used.add(path.name)
        self.hits += 1
        return True

    def put_file(self, key: str, src: Path) -> str | None:
        """Keep a copy of ``src`` under ``key``; its SHA-256 (None when the cache is off)."""
        if self.root is None:
            return None
        data = src.read_bytes()
        self._write(self._path(key, src.suffix), data)
        return hashlib.sha256(data).hexdigest()

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            self.used.add(path.name)
        except OSError:  # a read-only or full disk: the report goes on without its cache
            pass

    def prune(self) -> None:
        """Remove the entries this report did not use."""
        if self.root is None or not self.root.is_dir():
            return
        stale = time.time() - 3600
        for path in self.root.iterdir():
            entry = path.name.split("-", 1)[0] in ("load", "summary", "rerun", "plot")
            left = path.name.startswith(".") and path.name.endswith(".tmp")  # by a report that was killed
            if path.is_file() and ((entry and path.name not in self.used) or (left and path.stat().st_mtime < stale)):
                _remove(path)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # a cache another user owns: left as it is
        pass
