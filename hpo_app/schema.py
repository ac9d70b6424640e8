"""The one definition of every config key the run reads: type, default, range and meaning, side by
side (structured configs registered in Hydra's ConfigStore, as Hydra's own plugins do it).

``conf/config.yaml`` starts from :class:`AppConf` (``hpo_app_schema``); each option of a group
(``conf/data/edge.yaml``, ``conf/env/model/dqn.yaml``, ``conf/hpo/standard.yaml``...) only chooses
and overrides values, and a model's file starts from its schema in ``hpo_app.model_schema``
(``- /schema/model/ppo@_here_``). A test fails when a file restates a default written here.
The engine takes these dataclasses themselves (``TrainingEngine(data=DataConf(source="edge"))``
gets the defaults the command line gets); :mod:`hpo_app.checks` checks them against the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from hpo_app.model_schema import MODEL_SCHEMAS
from hpo_app.rules import Rule, key

SEED_MAX = 2**32 - 1  # numpy takes seeds below 2**32
SOURCES = ("edge", "synthetic", "csv")
FEATURE_SETS = ("returns", "returns_volatility", "price", "all")
VALIDATION_KINDS = ("holdout", "walkforward")
SHAPES = ("momentum", "reversal", "lag", "regimes")  # of the planted edge (hpo_app.synthetic.edge_prices)


@dataclass
class DataConf:
    """The market: a generated one (``edge``, ``synthetic``) or a CSV file of prices."""

    source: str = key(MISSING, Rule("where the prices come from", kind="choice", options=SOURCES))
    path: Optional[str] = key(None, Rule("the CSV file (data=csv); relative to the directory you run from",
                                         kind="text", optional=True))
    n_bars: Optional[int] = key(3000, Rule("bars of generated data", kind="integer", low=2, optional=True))
    seed: Optional[int] = key(0, Rule("the generated data's seed", kind="integer", low=0, high=SEED_MAX,
                                      optional=True))
    edge: float = key(0.15, Rule("the planted edge, an AR(1) coefficient: the market is stationary below 1 in size",
                                 low=-1, high=1, low_open=True, high_open=True))
    vol: float = key(0.01, Rule("the generated market's daily volatility (at most 1: a 100 % move a bar)",
                                low=0, low_open=True, high=1))
    shape: str = key("momentum", Rule("the planted edge's shape (data=edge): momentum (AR(1)), reversal (AR(1) with "
                                      "-edge), lag (an effect data.lag bars later), regimes (drifts of +-edge x vol "
                                      "lasting weeks); each with its reference policy", kind="choice", options=SHAPES))
    lag: int = key(5, Rule("shape=lag: the bars between a return and the one it moves", kind="integer", low=2))
    use_adjusted: bool = key(True, Rule("whether a CSV's Adj Close column is used", kind="bool"))
    train_frac: float = key(0.6, Rule("the training segment's share of the bars", low=0, high=1, low_open=True,
                                      high_open=True))
    val_frac: float = key(0.2, Rule("the validation segment's share of the bars (test: the rest)", low=0, high=1,
                                    low_open=True, high_open=True))


@dataclass
class EnvConf:
    """The trading environment: one asset, positions short, flat or long, costs per change."""

    window: int = key(1, Rule("bars of features in an observation", kind="integer", low=1))
    features: Any = key("returns", Rule(f"a feature set ({', '.join(FEATURE_SETS)}) or a list of feature names",
                                        kind="any"))
    cost_bps: float = key(5.0, Rule("the transaction cost, basis points of equity per unit of position change", low=0))
    allow_short: bool = key(True, Rule("whether short positions are allowed (false: flat or long)", kind="bool"))
    episode_length: Optional[int] = key(256, Rule("bars per training episode, a random window of the training "
                                                  "segment (null: the whole segment)", kind="integer", low=2,
                                                  optional=True))
    obs_noise: float = key(0.0, Rule("the std of Gaussian noise on training observations, in units of the scaled "
                                     "features (regularization)", low=0))
    reward_scale: float = key(1.0, Rule("the training reward's multiplier", low=0, low_open=True))
    n_envs: int = key(1, Rule("copies of the training environment stepped together (SB3's DummyVecEnv, copy i "
                              "seeded seed+i): a rollout is model.n_steps x n_envs steps", kind="integer", low=1))


@dataclass
class TrainConf:
    """How long one agent trains, how it is evaluated, what is kept."""

    total_timesteps: int = key(30000, Rule("environment steps of training", kind="integer", low=1))
    eval_every: int = key(5000, Rule("steps between deterministic evaluations on validation", kind="integer", low=1))
    n_seeds: int = key(1, Rule("runs per fold, with seeds seed, seed+1, ...; the objective aggregates them",
                               kind="integer", low=1))
    keep: str = key("last", Rule("the policy scored at the end: the last one, or the best validation evaluation's",
                                 kind="choice", options=("last", "best")))
    save_model: bool = key(True, Rule("whether model.zip is written", kind="bool"))
    save_replay_buffer: bool = key(False, Rule("whether an off-policy model's replay buffer is saved beside "
                                               "model.zip (scheduler=pbt sets it)", kind="bool"))
    init_from: Optional[str] = key(None, Rule("a job directory whose model.zip this run continues "
                                              "(scheduler=pbt sets it)", kind="text", optional=True))
    device: str = key("cpu", Rule("torch's device (cuda on a machine without a GPU: stable-baselines3 trains on "
                                  "the CPU)", kind="text", pattern=r"auto|cpu|mps|cuda(:\d+)?",
                                  shape="cpu, cuda, cuda:<n>, mps or auto"))


@dataclass
class ResourcesConf:
    cpus_per_trial: int = key(1, Rule("CPUs per run: torch threads in a run, Ray CPUs per trial in a sweep",
                                      kind="integer", low=1))


@dataclass
class ValidationConf:
    """How the validation objective is measured: one holdout block, or walk-forward folds."""

    kind: str = key("holdout", Rule("holdout, or walk-forward folds over everything before the test segment",
                                    kind="choice", options=VALIDATION_KINDS))
    folds: int = key(4, Rule("walk-forward folds: the span is cut into folds + 1 blocks", kind="integer", low=1))
    scheme: str = key("expanding", Rule("walk-forward training: every earlier block, or the last train_blocks",
                                        kind="choice", options=("expanding", "rolling")))
    train_blocks: int = key(2, Rule("blocks a rolling fold trains on", kind="integer", low=1))
    gap: int = key(30, Rule("bars dropped at the start of each validation block (no overlap with training)",
                            kind="integer", low=0))
    aggregate: str = key("mean", Rule("how the runs' validation values make the objective",
                                      kind="choice", options=("mean", "mean_minus_std")))
    penalty: float = key(1.0, Rule("mean_minus_std: mean - penalty * std", low=0))


@dataclass
class ObjectiveConf:
    """The validation metric a run returns and a sweep optimizes (conf/objective/*.yaml choose it)."""

    metric: Any = key(MISSING, Rule("<segment>/<metric>, a validation metric (or a list of them)", kind="any"))
    direction: Any = key(MISSING, Rule("maximize or minimize (a list: one per metric)", kind="any"))


@dataclass
class AppConf:
    """The primary config's schema (``conf/config.yaml`` starts from it)."""

    seed: int = key(0, Rule("seeds torch, numpy and the environment; recorded in metrics.json", kind="integer",
                            low=0, high=SEED_MAX))
    train: TrainConf = field(default_factory=TrainConf)
    resources: ResourcesConf = field(default_factory=ResourcesConf)
    data: DataConf = field(default_factory=DataConf)
    env: EnvConf = field(default_factory=EnvConf)
    validation: ValidationConf = field(default_factory=ValidationConf)
    objective: ObjectiveConf = field(default_factory=ObjectiveConf)
    model: Any = MISSING  # a model's file brings its schema (hpo_app.model_schema)
    logger: Any = field(default_factory=dict)  # conf/logger/*.yaml: {name: {_target_: hpo_app.loggers.<Class>, ...}}


GROUP_SCHEMAS: dict[str, type] = {"data": DataConf, "env": EnvConf, "train": TrainConf, "resources": ResourcesConf,
                                  "validation": ValidationConf, "objective": ObjectiveConf}
"""The schema of each node of the run's config, by its key (the model's: ``MODEL_SCHEMAS``)."""


def register() -> None:
    """Put the schemas in Hydra's ConfigStore (done on import: Hydra needs them to compose)."""
    store = ConfigStore.instance()
    store.store(name="hpo_app_schema", node=AppConf, provider="hpo_app")
    for name, schema in MODEL_SCHEMAS.items():
        store.store(group="schema/model", name=name, node=schema, provider="hpo_app")


register()
