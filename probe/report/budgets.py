"""How much work each stage of the report does under each budget.

`quick` is sized so that the whole report of the embedded-sample LeNet takes well under a
minute on a two-core CPU; `standard` a few minutes; `thorough` as long as it needs (the probes'
published settings).  `n` is the number of samples of a stage (None: the whole split); the
other keys are the stage's own options.  A probe of the registry that this table does not
know runs with its defaults on `DEFAULT_SAMPLES` samples.
"""
from __future__ import annotations

BUDGETS: dict[str, dict[str, dict]] = {
    "quick": {
        "evaluate": {"n": 2000},
        "pipeline": {"n": 256},
        "masking": {"n": 64, "steps": [1, 10]},
        "sparsefool": {"n": 64},
        "margins": {"n": 16, "max_iter": 50},
        "lp": {"n": 200, "norms": ["L0", "L2", "Linf"], "levels": 4},
        "corruptions": {"n": 128},
        "flatness": {"n": 256, "directions": 6, "filter_norm": True, "radii": [0.05, 0.1],
                     "hessian": "top:1,trace:10"},
        "adversarial_corruptions": {"n": 32, "radius": [0.0, 0.015], "steps": 5},
    },
    "standard": {
        "evaluate": {"n": 10000},
        "pipeline": {"n": 512},
        "masking": {"n": 128, "steps": [1, 5, 20]},
        "sparsefool": {"n": 128},
        "margins": {"n": 64},
        "lp": {"n": 500, "levels": 6},
        "corruptions": {"n": 500},
        "flatness": {"n": 1000, "directions": 20, "filter_norm": True, "hessian": "top:3,trace:20"},
        "adversarial_corruptions": {"n": 128},
    },
    "thorough": {
        "evaluate": {"n": None},
        "pipeline": {"n": 1024},
        "masking": {"n": 500, "steps": [1, 5, 20, 50]},
        "sparsefool": {"n": 500},
        "margins": {"n": 256},
        "lp": {"n": 1000},
        "corruptions": {"n": 2000, "corruptions": "all"},
        "flatness": {"n": 2000, "directions": 50, "filter_norm": True, "hessian": "top:5,trace:50,density"},
        "adversarial_corruptions": {"n": 500},
    },
}
DEFAULT_SAMPLES = {"quick": 32, "standard": 128, "thorough": 500}


def stage_options(budget: str, stage: str) -> tuple[int | None, dict]:
    """(samples, own options) of `stage` under `budget`."""
    options = dict(BUDGETS[budget].get(stage, {"n": DEFAULT_SAMPLES[budget]}))
    return options.pop("n"), options
