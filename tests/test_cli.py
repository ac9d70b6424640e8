"""The real command, ``python -m hpo_app``, in a subprocess: a tiny run, and bad inputs that must
end with ONE line on stderr naming the file or key and the fault, a non-zero exit, no traceback.

Each subprocess pays a few seconds of imports (torch, SB3, Hydra), so all of them are started
together, a few at a time, by one module fixture; the tests then check their results.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from hpo_record import files
from tests.conftest import REPO_ROOT, SPY_SAMPLE

pytestmark = pytest.mark.slow

PARALLEL = 3
TIMEOUT = 300
TINY_RUN = ("data.n_bars=600", "model=a2c", "train.total_timesteps=64", "train.eval_every=32")


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    needle: str  # the file or key the error line must name
    fault: str  # words of the fault the error line must contain


def _bad_csvs(folder: Path) -> dict[str, Path]:
    """Real-layout CSV files, each with one fault, made from the fixture download."""
    sample = pd.read_csv(SPY_SAMPLE)
    csvs = {}
    csvs["no_close"] = folder / "no_close_column.csv"
    sample.drop(columns=["Close", "Adj Close"]).to_csv(csvs["no_close"], index=False)
    csvs["duplicates"] = folder / "duplicate_dates.csv"
    duplicated = sample.copy()
    duplicated.loc[200, "Date"] = duplicated.loc[199, "Date"]
    duplicated.to_csv(csvs["duplicates"], index=False)
    csvs["short"] = folder / "too_short.csv"
    sample.head(150).to_csv(csvs["short"], index=False)
    return csvs


def _cases(folder: Path) -> dict[str, Case]:
    csvs = _bad_csvs(folder)
    missing = folder / "no_such_prices.csv"
    return {
        "missing_file": Case(("data=csv", f"data.path={missing}"), missing.name, "not found"),
        "no_close_column": Case(("data=csv", f"data.path={csvs['no_close']}"), csvs["no_close"].name, "close"),
        "duplicate_timestamps": Case(
            ("data=csv", f"data.path={csvs['duplicates']}"), csvs["duplicates"].name, "duplicate"
        ),
        "too_few_rows": Case(("data=csv", f"data.path={csvs['short']}"), csvs["short"].name, "too few rows"),
        "csv_without_path": Case(("data=csv",), "data.path", ""),
        "unknown_model_key": Case(("+model.foo=1",), "model.foo", "unknown key"),
        "unknown_top_key": Case(("+foo=1",), "foo", "unknown key"),
        # hyperparameters that blow the weights up: the divergence, not SB3's traceback nor numpy's warnings
        "diverged": Case((*TINY_RUN, "env.reward_scale=1e300"), "training diverged", "non-finite weights"),
    }


BAD_INPUTS = [
    "missing_file",
    "no_close_column",
    "duplicate_timestamps",
    "too_few_rows",
    "csv_without_path",
    "unknown_model_key",
    "unknown_top_key",
    "diverged",
]


SMALL_FILES = (
    "import resource, runpy, signal, sys; limit = int(sys.argv.pop(1)); "
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
    "sys.argv[0] = 'hpo_app'; runpy.run_module('hpo_app', run_name='__main__', alter_sys=True)")
"""``python -c`` that runs the app with every file it writes limited to argv[1] bytes: writing past it
fails with EFBIG (the signal that would kill the process ignored), as a full disk fails with ENOSPC."""


def _hpo_app(args: tuple[str, ...], run_dir: Path, file_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    program = ["-m", "hpo_app"] if file_limit is None else ["-c", SMALL_FILES, str(file_limit)]
    command = [sys.executable, *program, *args, f"hydra.run.dir={run_dir}"]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT)


@dataclass(frozen=True)
class Ran:
    case: Case
    run_dir: Path
    process: subprocess.CompletedProcess[str]


def _overlays(folder: Path) -> dict[str, Case]:
    """A user's own configs: one more model file beside the app's (--config-dir), and a whole
    copy of conf/ with another seed (--config-path)."""
    extra = folder / "my_conf"
    (extra / "model").mkdir(parents=True)
    text = (REPO_ROOT / "conf" / "model" / "a2c.yaml").read_text()
    (extra / "model" / "my_a2c.yaml").write_text(text + "learning_rate: 0.00123\n")
    whole = folder / "whole_conf"
    shutil.copytree(REPO_ROOT / "conf", whole)
    (whole / "config.yaml").write_text((whole / "config.yaml").read_text() + "seed: 7\n")
    return {
        "help": Case(("--help",), "", ""),
        "help_dqn": Case(("model=dqn", "--help"), "", ""),
        "config_dir": Case(("--config-dir", str(extra), "model=my_a2c", "search_space=a2c", "--cfg", "job"), "", ""),
        "config_path": Case(("--config-path", str(whole), "--cfg", "job"), "", ""),
    }


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    folder = tmp_path_factory.mktemp("cli")
    cases = {"tiny_run": Case(TINY_RUN, "", ""), **_overlays(folder), **_cases(folder)}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {name: pool.submit(_hpo_app, case.args, folder / f"run_{name}") for name, case in cases.items()}
        ran = {name: Ran(cases[name], folder / f"run_{name}", f.result()) for name, f in futures.items()}
    # A disk that takes the tiny run's equity.csv but not its model.zip (limit between their sizes).
    tiny = ran["tiny_run"].run_dir
    sizes = sorted((tiny / name).stat().st_size for name in (files.EQUITY_FILE, files.MODEL_FILE))
    assert (tiny / files.MODEL_FILE).stat().st_size == sizes[1], "the test needs model.zip larger than equity.csv"
    full = folder / "run_full_disk"
    ran["full_disk"] = Ran(Case(TINY_RUN, files.MODEL_FILE, "too large"), full, _hpo_app(TINY_RUN, full, sum(sizes) // 2))
    return ran


def test_tiny_run_exits_0_and_writes_its_outputs_in_the_run_dir(ran: dict[str, Ran]) -> None:
    tiny = ran["tiny_run"]
    assert tiny.process.returncode == 0, tiny.process.stderr
    assert "Traceback" not in tiny.process.stderr
    metrics = json.loads((tiny.run_dir / files.METRICS_FILE).read_text())
    assert metrics["state"] == files.STATE_COMPLETE and metrics["model"] == "a2c"
    assert metrics["timesteps"] == 64
    for name in (files.EVAL_CURVE_FILE, files.EQUITY_FILE, files.MODEL_FILE):
        assert (tiny.run_dir / name).is_file(), name
    hydra_dir = tiny.run_dir / files.HYDRA_DIR
    assert (hydra_dir / "config.yaml").is_file()
    assert (hydra_dir / "overrides.yaml").read_text().count("train.total_timesteps=64") == 1
    log = (tiny.run_dir / "hpo_app.log").read_text()  # the job is named after the app
    assert "a2c complete" in log and "objective val/sharpe" in log


def test_help_explains_the_app_its_groups_and_examples(ran: dict[str, Ran]) -> None:
    """``--help`` is the app's page: what it does, every option of every config group with a
    meaning (from the option's file), the option the command would use marked, and examples."""
    from hpo_app import cli_help

    process = ran["help"].process
    assert process.returncode == 0, process.stderr
    text = process.stdout
    assert text.startswith("hpo_app: train a reinforcement-learning trading agent")
    assert "powered by Hydra" not in text
    lines = text.splitlines()
    for group, options in cli_help.options().items():
        start = lines.index(f"  {group}: {cli_help.GROUPS[group]}")
        section = lines[start + 1:start + 1 + 3 * len(options)]
        for option, meaning in options.items():
            assert meaning and meaning != "-", f"conf/{group}/{option}.yaml has no leading comment"
            line = next(x for x in section if x[6:].split(" ", 1)[0] == option)
            assert " ".join(meaning.split()[:3]) in line, (group, option, line)
    chosen = {line.split()[1] for line in lines if line.startswith("    * ")}
    assert {"ppo", "edge", "holdout", "sharpe", "tpe", "none"} <= chosen
    examples = lines[lines.index("Examples:") + 1:]
    commands = [line for line in examples if line.strip().startswith("python -m ")]
    assert len(commands) == 5, examples
    dqn = ran["help_dqn"].process.stdout.splitlines()
    assert any(line.startswith("    * dqn ") for line in dqn) and not any(line.startswith("    * ppo ") for line in dqn)


def test_a_users_config_dir_and_config_path_overlay_the_apps_configs(ran: dict[str, Ran]) -> None:
    extra = ran["config_dir"].process
    assert extra.returncode == 0, extra.stderr
    assert "learning_rate: 0.00123" in extra.stdout and "name: a2c" in extra.stdout
    whole = ran["config_path"].process
    assert whole.returncode == 0, whole.stderr
    assert "seed: 7" in whole.stdout.splitlines()


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_exits_non_zero_with_one_line_naming_the_fault(ran: dict[str, Ran], name: str) -> None:
    case, process = ran[name].case, ran[name].process
    assert process.returncode != 0
    assert "Traceback" not in process.stderr, process.stderr
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, process.stderr
    line = lines[-1]
    assert line.startswith("error: ")
    assert case.needle in line, line
    assert case.fault.lower() in line.lower(), line


def test_a_disk_that_refuses_a_file_is_one_line_naming_it_and_keeping_the_result(ran: dict[str, Ran]) -> None:
    """A real write failure (the OS's file size limit: EFBIG, as a full disk gives ENOSPC): one line
    naming the file, with the objective that was computed (the same run's, as the unlimited run
    wrote it), no truncated model.zip left, and the failure recorded in the files that fit."""
    full, tiny = ran["full_disk"], ran["tiny_run"]
    assert full.process.returncode == 2, full.process.stderr
    lines = [line for line in full.process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in full.process.stderr, full.process.stderr
    model = full.run_dir / files.MODEL_FILE
    assert lines[0].startswith(f"error: cannot write {model}: File too large; its objective, computed: val/sharpe = ")
    objective = json.loads((tiny.run_dir / files.METRICS_FILE).read_text())["objective"]["values"][0]
    assert float(re.search(r"val/sharpe = (\S+)$", lines[0]).group(1)) == pytest.approx(objective, abs=0.005)
    assert not model.exists()
    assert (full.run_dir / files.EQUITY_FILE).is_file()
    record = json.loads((full.run_dir / files.METRICS_FILE).read_text())
    assert record["state"] == files.STATE_FAILED and "File too large" in record["error"]
