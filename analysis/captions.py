"""What each plot of the report is called and how to read it (its caption in the report), by
plot kind; the drawing is in :mod:`analysis.plots`."""

CAPTIONS: dict[str, str] = {
    "history": "Optuna's optimization history: the objective of each complete trial in the order they ran and the best "
    "value so far (the line; a multi-objective sweep shows its first objective); orange x: pruned trials at their "
    "last evaluation; triangles at the bottom: failed or unfinished trials; green dashes: buy-and-hold on the same "
    "validation segment. A line that stopped rising long ago means more trials of this search space would not help much.",
    "importance": "Optuna's parameter importance: how much of the variation of the objective each hyperparameter "
    "explains over the complete trials, by the evaluator named in the title (fANOVA up to 200 trials, PED-ANOVA "
    "beyond). Parameters near zero could be pinned in the next sweep; with few trials the estimate is rough.",
    "parallel": "Optuna's parallel coordinates: one line per complete trial across its hyperparameters (the six most "
    "important by Optuna's importance when there are more; the first six of the search space when importance could not "
    "be computed) and the objective (first axis); the colour is the objective (colour bar). Bands where the lines of "
    "good trials gather show good regions.",
    "slices": "The objective against each hyperparameter separately, one small panel each (the same six parameters; "
    "complete trials; colour: trial number). A clear trend or a peak shows a parameter that matters; a flat cloud one "
    "that does not.",
    "curves": "Validation objective during training, one line per trial (blue: complete, a dot at its end; orange: pruned, "
    "with an x where the pruner stopped it; grey: running or failed). The black line is the best trial. Curves still "
    "rising at the end suggest a larger training budget.",
    "val_test": "Validation objective (what the sweep optimized) against the same metric on the test segment, which the "
    "sweep never saw. Points on the dashed diagonal generalize perfectly; points far below it overfit validation. The "
    "top trials by validation are labelled; the green star is buy-and-hold. A weak rank correlation (rho in the "
    "title) means the validation ranking says little about the future.",
    "equity": "Equity of the best trial (net of costs, starting at 1) against buy-and-hold and staying flat (and, on the "
    "planted-edge market, the reference policy that holds the sign of the last return), on the validation segment "
    "(chosen on it) and on the unseen test segment.",
    "pareto": "Optuna's Pareto front of a multi-objective sweep: every complete trial on the two objectives; the front "
    "(no other trial is better on both) is highlighted. Pick along it by the trade-off you want.",
    "pbt_scores": "Population-based training: each member's validation score at the end of each of its intervals "
    "(colour: member), over training steps. A dashed line joins the checkpoint an interval continued (its parent's "
    "score) to the interval's score; a diamond marks where a member cloned another (exploit, or the replacement of a "
    "failed member). The black line is the best member's lineage. Scores that fall after a clone show explore's "
    "changes or luck of the validation segment.",
    "pbt_schedules": "Population-based training: the hyperparameters PBT explored, in force over training steps, for "
    "every member (thin, colour: member) and along the best member's lineage (black: the schedule its result was "
    "trained with). A schedule that settles shows a value the population agreed on; one that wanders, a parameter "
    "that matters little here.",
    "comparison": "Distribution of the objective of the complete trials of each sweep (box: quartiles, whiskers: 1.5 "
    "IQR, dots: trials, red star: the best trial by validation), on validation and on test. Green dashes mark "
    "buy-and-hold on each sweep's data. Compare models by the whole distribution, not only the best trial, which is "
    "partly luck.",
    "tearsheet": (
        "The chosen agent (the sweep's recommendation; its best trial when the sweep has none) on validation and test, "
        "beside buy-and-hold: how far below its running peak its equity stood (drawdown), its Sharpe ratio over the last "
        "63 bars, its return in each month, and the share of the last 20 bars it held a position. Net of costs; "
        "statistics by empyrical."),
}
TITLES: dict[str, str] = {
    "history": "Optimization history", "importance": "Parameter importance", "parallel": "Parallel coordinates",
    "slices": "Objective against each parameter", "curves": "Learning curves", "val_test": "Validation against test",
    "equity": "Equity of the best trial", "pareto": "Pareto front", "comparison": "Comparison of sweeps",
    "pbt_scores": "Population: scores and clones", "pbt_schedules": "Population: hyperparameter schedules",
    "tearsheet": "Tearsheet of the chosen agent",
}
