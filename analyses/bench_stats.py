"""Benchmark: coverage of the 95 % intervals of `probe.stats` on seeded subsets of a fixed population.

A population of stored per-sample outcomes of a corruption result (15 corruptions × 5
severities; each sample has a hardness, so its cells are correlated, as a real model's are)
is drawn once.  Each of `--subsets` seeded subsets of `--n` samples gives the CIFAR-style mCE
with its paired percentile bootstrap interval (`probe.corruptions.summaries.derived`,
`probe.stats.bootstrap`); the benchmark prints how often that interval covers the population's
mCE, next to the coverage of the median (order statistics) and proportion (Wilson) intervals
on margins and correctness of the same population.

    python -m analyses.bench_stats [--subsets 500] [--n 200] [--population 20000] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import xarray as xr

from probe import stats
from probe.corruptions.summaries import derived

CORRUPTIONS, SEVERITIES = 15, 5


def population(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correct (corruption, severity, sample), clean correct, margins with 8 % +inf) of `size` samples."""
    rng = np.random.default_rng(seed)
    hardness = rng.normal(size=size)
    difficulty = rng.normal(0.0, 0.7, CORRUPTIONS)[:, None, None] + 0.35 * np.arange(SEVERITIES)[None, :, None]
    correct = rng.random((CORRUPTIONS, SEVERITIES, size)) < 1 / (1 + np.exp(hardness + difficulty - 1.5))
    clean = rng.random(size) < 1 / (1 + np.exp(hardness - 2.0))
    margins = np.exp(0.6 * rng.normal(size=size) - 0.3 * hardness)
    margins[rng.random(size) < 0.08] = math.inf
    return correct, clean, margins


def corruption_result(correct: np.ndarray, clean: np.ndarray) -> xr.Dataset:
    """The per-sample part of a corruption result that `derived` reads."""
    names = [f"c{i}" for i in range(CORRUPTIONS)]
    return xr.Dataset({"correct": (("corruption", "severity", "sample"), correct),
                       "finite": (("corruption", "severity", "sample"), np.ones_like(correct)),
                       "clean_correct": ("sample", clean), "clean_finite": ("sample", np.ones_like(clean))},
                      coords={"corruption": names, "severity": np.arange(1, SEVERITIES + 1)},
                      attrs={"mce_corruptions": names})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsets", type=int, default=500)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--population", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    correct, clean, margins = population(args.population, args.seed)
    true_mce = 100.0 - 100.0 * correct.mean()
    true_median, true_accuracy = np.median(margins), clean.mean()
    covered = {"mCE (bootstrap)": 0, "median margin (order statistics)": 0, "clean accuracy (Wilson)": 0}
    start = time.perf_counter()
    for subset in range(args.subsets):
        chosen = np.random.default_rng(subset).permutation(args.population)[:args.n]
        ds = corruption_result(correct[:, :, chosen], clean[chosen])
        low, high = stats.bootstrap(lambda counts: derived(ds, counts), args.n)  # noqa: B023 (called at once)
        covered["mCE (bootstrap)"] += bool(low[1] <= true_mce <= high[1])
        median = stats.median(margins[chosen])
        covered["median margin (order statistics)"] += bool(median.low <= true_median <= median.high)
        share = stats.proportion(clean[chosen])
        covered["clean accuracy (Wilson)"] += bool(share.low <= true_accuracy <= share.high)
    seconds = time.perf_counter() - start
    print(f"{args.subsets} seeded subsets of n = {args.n} from a population of {args.population} "
          f"(population mCE {true_mce:.2f} %), 95 % intervals, {stats.RESAMPLES} bootstrap resamples each:")
    for name, count in covered.items():
        rate = count / args.subsets
        error = math.sqrt(rate * (1 - rate) / args.subsets)
        print(f"  {name:<34} coverage {100 * rate:.1f} % ± {100 * error:.1f}")
    print(f"  ({1000 * seconds / args.subsets:.0f} ms per subset)")


if __name__ == "__main__":
    main()
