"""The private names of other libraries that the sweeper still needs, in one place.

Each is pinned by an exact version in ``pyproject.toml`` (the Hydra 1.4 release candidates);
re-check every one when moving the pins.
"""

from __future__ import annotations

from typing import Any

from hydra.core.utils import JobReturn, JobStatus

# hydra-optuna-sweeper 1.4.0rc3: how Hydra's sweep grammar (choice, range, interval, tag(log))
# becomes Optuna distributions, and the grid points of a distribution. The released sweeper has
# no public API for either; reusing them keeps this sweeper's grammar identical to the released
# one's (including range() excluding its end, as Hydra and Python do).
from hydra_plugins.hydra_optuna_sweeper._impl import (  # noqa: F401 - the second is used by _space
    OptunaSweeperImpl,
    create_optuna_distribution_from_override,
)

grid_choices = OptunaSweeperImpl._to_grid_sampler_choices

# hydra-core 1.4.0rc3 and hydra-ray-launcher 1.4.0rc3: the loggers of the basic launcher (a private
# module) and of the Ray launcher, which log every job's overrides at INFO as they launch it, and
# the basic launcher's class path (to tell a launcher that runs jobs in the driver's process).
LAUNCHER_LOGGERS = ("hydra_plugins.hydra_ray_launcher", "hydra._internal.core_plugins.basic_launcher")
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def job_error(ret: JobReturn) -> BaseException | None:
    """The exception a failed job raised, without re-raising it.

    hydra-core 1.4.0rc3: ``JobReturn.return_value`` re-raises the job's exception and writes
    "Error executing job with overrides: ..." to stderr; the sweeper only needs to read it, so
    it takes the stored ``_return_value``.
    """
    if ret.status == JobStatus.COMPLETED:
        return None
    value: Any = ret._return_value  # noqa: SLF001 - see the docstring
    return value if isinstance(value, BaseException) else RuntimeError(f"job failed: {value!r}")
