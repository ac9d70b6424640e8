"""``python -m hpo_app``: train one agent and return its validation objective (a sweep's trial)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from hpo_app import cli_help
from hpo_app.app import USER_ERRORS, run

cli_help.register()  # the help page's list of config groups (conf/config.yaml: hydra.help)


@hydra.main(config_path="pkg://hpo_app.conf", config_name="config")
def main(cfg: DictConfig) -> float | list[float]:
    hydra_cfg = HydraConfig.get()
    try:
        return run(cfg, Path(hydra_cfg.runtime.output_dir))
    except USER_ERRORS as err:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # the sweeper records the trial as failed
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
