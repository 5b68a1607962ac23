"""Common corruptions (CIFAR-10-C / ImageNet-C style), batched on tensors.

`corrupt(x, name, severity, params=, generator=)` applies one of the 15 benchmark
`CORRUPTIONS` or 4 `EXTRA_CORRUPTIONS` at severity 1..5; `parameter_set` records the
parameters used.  Families live in `noise`, `blur`, `weather` and `digital`; the tables and
the rule for other image sizes in `params`.
"""
from probe.corruptions.params import parameter_set, resolve_family, severity_params
from probe.corruptions.registry import (ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, FAMILIES, FUNCTIONS,
                                        corrupt)
from probe.corruptions.probe import CorruptionProbe, main, summarize  # the probe and its CLI

__all__ = ["CorruptionProbe", "main", "summarize",
           "ALL_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "FAMILIES", "FUNCTIONS", "corrupt",
           "parameter_set", "resolve_family", "severity_params"]
