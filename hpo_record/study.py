"""What a sweep's Optuna study holds beyond Optuna's own fields: the names of the attributes the
sweeper sets on the study and its trials, and how a population-based training trial's lineage
is read back from them.

The sweeper writes them, but ``hpo:worker``, which a job's link to its trial writes; the
analysis, the benchmarks and the tests read them. Optuna's dashboard shows the user attributes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpo_record.files import METRICS_FILE

# The study's user attributes.
ATTR_IDENTITY = "sweep_identity"  # what makes a resume the same sweep (hydra_plugins/hpo_sweeper/_identity.py)

# Each trial's user attributes.
ATTR_JOB_NUM = "job_num"  # Hydra's job number: the job directory's name in the sweep directory
ATTR_JOB_DIR = "job_dir"  # the job directory, absolute, as the driver made it
ATTR_ERROR = "error"  # one line (hpo_record.job.one_line) when the job failed or was cut short
ATTR_INTERRUPTED = "interrupted"  # True on a trial cut short (Ctrl-C): it does not count toward n_trials

# A population-based training interval's user attributes (one trial is one interval of a member).
ATTR_MEMBER = "pbt_member"  # the member this interval trained
ATTR_START = "pbt_start"  # its steps at the start of the interval
ATTR_END = "pbt_end"  # its steps at the end (what the job was asked to reach)
ATTR_PARENT = "pbt_parent"  # the trial whose checkpoint it continued (None: trained from scratch)
ATTR_EXPLOITED = "pbt_exploited"  # the member whose checkpoint it cloned before this interval, if any
ATTR_REASON = "pbt_reason"  # why it starts where it does: first, continue, exploit, replace, retry, restart

# What a trial is for (user attribute ATTR_ROLE; absent: a trial of the search).
ATTR_ROLE = "role"
ROLE_CONTROL = "control"  # the untuned default configuration, the search's first trial
ROLE_CONFIRMATION = "confirmation"  # a run of the raced confirmation (never pruned)

# The raced confirmation: a second study beside the search's, named <study><CONFIRM_SUFFIX>.
CONFIRM_SUFFIX = ":confirm"
ATTR_CANDIDATES = "candidates"  # the study's: [{label, params, search_value, trial}], the control first
ATTR_SEEDS = "confirm_seeds"  # the study's: the confirmation seeds, in the order of the rounds
ATTR_RACES = "confirm_races"  # the study's: how many races it held (absent: 1); a resume that changed the search's top starts another
ATTR_DECISION = "decision"  # the study's: the recommendation, once the race is decided (_race.Decision)
ATTR_PBT_DECISION = "pbt_recommendation"  # a PBT study's: the best member against the control member
ATTR_CANDIDATE = "candidate"  # a run's: the candidate it trained ("control", "trial <n>")
ATTR_CONFIRM_SEED = "confirm_seed"  # a run's: its seed
ATTR_SCORES = "scores"  # a run's: its per-observation scores (the app's paired_scores hook), higher is better

# Each trial's system attribute, written by its job.
ATTR_WORKER = "hpo:worker"  # where the job runs: host, pid, its start time, Ray node (to stop it past the time limit)

INTERRUPTED = "interrupted: the sweep was stopped while this trial ran"
"""``error`` of a trial cut short by Ctrl-C (and the failed job record the application leaves)."""


def lineage(trials: Sequence[Any], number: int) -> list[Any]:
    """The intervals that led to trial ``number``, first to last (following ``ATTR_PARENT``);
    ``trials`` are Optuna's ``FrozenTrial``s of one study."""
    by_number = {t.number: t for t in trials}
    chain: list[Any] = []
    current = by_number.get(number)
    while current is not None and current not in chain:
        chain.append(current)
        parent = current.user_attrs.get(ATTR_PARENT)
        current = by_number.get(parent) if parent is not None else None
    return chain[::-1]


def job_dir(sweep_dir: Path, number: int, attrs: dict[str, Any]) -> Path | None:
    """Where trial ``number``'s job directory is now: the directory named by its job number in the
    sweep directory ``sweep_dir`` (a sweep moved or copied since the driver recorded ``job_dir`` is
    read where it is now, damage included), unless the job record there names another trial (drivers
    sharing a study number their jobs alike, each in its own sweep directory) or there is none: then
    the recorded one."""
    recorded = Path(attrs[ATTR_JOB_DIR]) if attrs.get(ATTR_JOB_DIR) else None
    if attrs.get(ATTR_JOB_NUM) is None:
        return recorded
    here = Path(sweep_dir) / str(attrs[ATTR_JOB_NUM])
    if not here.is_dir():
        return recorded if recorded is not None and recorded.is_dir() else here
    try:
        other = json.loads((here / METRICS_FILE).read_text(encoding="utf-8"))["trial"]["number"] != number
    except (OSError, ValueError, KeyError, TypeError):  # no record yet, a damaged one: it is this sweep's
        other = False
    return recorded if other and recorded is not None else here
