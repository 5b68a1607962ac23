"""Common corruptions (CIFAR-10-C / ImageNet-C style): the operations and the probe.

    ds = probe.corruptions.run(model, data, n=1000)    # (corruption, severity, sample)
    probe.corruptions.summary(ds)                      # clean_accuracy, corruption_accuracy, mce, ...

`corrupt(x, name, severity, params=, generator=)` applies one of the 15 benchmark
`CORRUPTIONS` or 4 `EXTRA_CORRUPTIONS` at severity 1..5 to a batch; `parameter_set` records
the parameters used.  Families live in `noise`, `blur`, `weather` and `digital`; the tables
and the rule for other image sizes in `params`; the probe in `probe` (per-chunk computation,
`run`) and `summaries` (accuracies, mCE, `summary`).

The published tables are kept as they are; four of them are not monotone in severity
(elastic_transform, glass_blur, spatter, saturate: `params` says how).  Frost uses the
reference's photographs when the `imagecorruptions` package is installed (`frost_photos`).
"""
from probe.corruptions.params import parameter_set, resolve_family, severity_params
from probe.corruptions.probe import CorruptionProbe, finalize, run
from probe.corruptions.registry import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, FAMILIES, FUNCTIONS, corrupt
from probe.corruptions.summaries import summarize, summary

__all__ = ["CorruptionProbe", "finalize", "run", "summarize", "summary",
           "ALL_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "FAMILIES", "FUNCTIONS", "corrupt",
           "parameter_set", "resolve_family", "severity_params"]
