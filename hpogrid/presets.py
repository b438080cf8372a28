"""hpo_config presets: starting points named after what a search is for (as Ray-Tune HPO modules name them).

`hpogrid hpo_config create NAME --preset standard` and `hpogrid.optimize(..., preset="standard")` start
from the preset's fields; options given explicitly override them; the fields not in the preset keep
hpo_config's defaults (metric loss, mode min: set yours). `hpogrid hpo_config presets` lists them.
"""

from __future__ import annotations

from hpogrid.errors import HpogridError, did_you_mean

# name -> (what it is for, hpo_config fields)
PRESETS: dict[str, tuple[str, dict]] = {
    "quick_test": (
        "check the set-up: 5 random trials, each run to its stop criterion (no early stopping)",
        {"algorithm": "random", "scheduler": "fifo", "num_trials": 5, "max_concurrent": 2},
    ),
    "standard": (
        "most searches: 50 trials of Optuna's TPE, ASHA stops poor trials early",
        {"algorithm": "optuna", "scheduler": "asynchyperband", "num_trials": 50, "max_concurrent": 4},
    ),
    "extensive": (
        "long training runs: 200 trials of Population Based Training (random start, then exploit and "
        "explore; trials need checkpoints and several iterations: set stop)",
        {"algorithm": "random", "scheduler": "pbt", "num_trials": 200, "max_concurrent": 8},
    ),
    "production": (
        "final configurations: 100 trials of Optuna's TPE, every trial trained to its stop criterion "
        "(no early stopping, so values compare) and a fixed seed (the same search again gives the same points)",
        {"algorithm": "optuna", "scheduler": "fifo", "num_trials": 100, "max_concurrent": 4, "seed": 0},
    ),
}


def preset(name: str) -> dict:
    """The hpo_config fields of a preset (a copy)."""
    if name not in PRESETS:
        close = did_you_mean(name, PRESETS)
        raise HpogridError(f"preset: no preset named '{name}'{close}; presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name][1])
