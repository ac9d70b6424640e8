"""This machine's processes, read from ``/proc`` (Linux): enough to find and stop the Ray processes
of a session whose driver was killed outright. Elsewhere every function finds nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

PROC = Path("/proc")


def processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, command line)."""
    out = {}
    if not PROC.is_dir():
        return out
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return out


def running(pid: int, started: int | None) -> bool:
    """Whether ``pid`` is the process that started at ``started`` (``hpo_record.trial.start_time``)
    and has not ended (a zombie, killed but not yet waited for by its parent, has ended)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and started is not None and fields[19] == str(started)


def ancestors(pid: int) -> set[int]:
    """``pid``'s parent, its parent's parent, ... up to init."""
    table, out = processes(), set()
    while pid in table and pid not in out and pid > 1:
        pid = table[pid][0]
        out.add(pid)
    return out


def environment_value(pid: int, name: str) -> str | None:
    """``name`` in the environment ``pid`` started with (None if absent or unreadable)."""
    try:
        block = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in block.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def with_descendants(roots: set[int]) -> set[int]:
    table, found = processes(), set(roots)
    while True:
        more = {pid for pid, (parent, _) in table.items() if parent in found} - found
        if not more:
            return found
        found |= more


def kill(pids: set[int]) -> int:
    """SIGKILL each; how many were still there."""
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    return killed
