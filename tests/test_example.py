"""``examples/README.md`` runs as written: its commands, pasted in order into a shell in a
directory that holds ``examples/prices.csv``, succeed and print what the README shows.

The README's expected output is real output of these commands. Numbers change from run to run
(trials finish in a different order on Ray), so each expected line is compared with its numbers
masked and its spacing ignored; progress lines of single trials (``[k/n] trial ...``) and the best trial's parameter
values and the verdict's words are not compared, as which trial wins, and by how much, varies.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

README = REPO_ROOT / "examples" / "README.md"
_NUMBER = re.compile(r"[-+]?\d[\d.,]*(?:e[-+]?\d+)?%?")
_STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d [^\]]*\](?:\[[^\]]*\])+(?: - | )")  # [time][logger][LEVEL] - , [time][HYDRA]
_VARIES = ("[", "params:", "trial ", "multirun/example:")  # progress, the winner, the verdict


def _blocks(text: str) -> list[tuple[str, str]]:
    """(kind, body) of every fenced block: ``bash`` blocks are commands, plain ones output."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, flags=re.DOTALL)]


def _shape(line: str) -> str:
    """The line without its log stamp, with numbers masked and runs of spaces (column widths) as one."""
    return " ".join(_NUMBER.sub("#", _STAMP.sub("", line.strip())).split())


def _steps() -> list[tuple[str, list[str]]]:
    """Each command with the expected output block that follows it (possibly none)."""
    steps: list[tuple[str, list[str]]] = []
    for kind, body in _blocks(README.read_text()):
        if kind == "bash":
            steps += [(line, []) for line in body.splitlines() if line.strip() and not line.startswith("#")]
        elif steps and kind == "":
            steps[-1][1].extend(line for line in body.splitlines() if line.strip() and line.strip() != "...")
    return steps


def test_the_example_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    steps = _steps()
    assert len(steps) >= 3
    for command, expected in steps:
        args = shlex.split(command)
        assert args[0] == "python"
        proc = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                              timeout=900)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{command}\n{out[-4000:]}"
        shapes = {_shape(line) for line in out.splitlines()}
        for line in expected:
            if _STAMP.sub("", line.strip()).lstrip().startswith(_VARIES):
                continue
            assert _shape(line) in shapes, f"{command}: expected a line like\n{line}\n--- got ---\n{out[-4000:]}"
    assert (tmp_path / "multirun" / "example" / "report" / "report.html").is_file()
