"""The reproduction page generator (`analyses.reproduction`): rows, verdicts and pending rows from
small stored results — written by the real probes where cheap (overlap, SparseFool), else in the
exact format of the analyses (T1, T2, the PRIME ablation's corruption results)."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
import xarray as xr

from analyses import ada_training, prime_primitives, reproduction, sparsefool_sweeps
from analyses.margins_synthetic import PUBLISHED as T1_PUBLISHED
from probe import models, overlap, results, sparsefool
from probe.corruptions.registry import CORRUPTIONS
from probe.corruptions.summaries import summarize
from probe.data import get_batch, load
from probe.errors import ProbeWarning
from probe.spectral import dct_diagonal_blocks


def verdicts(rows: list[reproduction.Row], section: str) -> dict[str, str]:
    return {row.claim.claim: row.verdict for row in rows if row.claim.section == section}


def write_t1(folder, medians: dict[str, dict[str, float]]) -> None:
    """`t1.nc` as `analyses.margins_synthetic` writes it, every sample's margin at the given median."""
    names, subspaces = list(medians), list(next(iter(medians.values())))
    refined = np.array([[np.full(11, medians[m][s]) for s in subspaces] for m in names])
    table = xr.Dataset({"margin": (("model", "subspace", "sample"), 1.5 * refined),
                        "margin_refined": (("model", "subspace", "sample"), refined),
                        "converged": (("model", "subspace", "sample"), np.ones(refined.shape, bool)),
                        "test_accuracy": ("model", [100.0] * len(names)),
                        "train_accuracy": ("model", [100.0] * len(names))},
                       coords={"model": names, "subspace": subspaces, "sample": np.arange(11)},
                       attrs={"probe": "t1_margins", "param_epochs": "500"})
    results.save(table, folder / "t1" / "t1.nc")


def write_t2(folder, cells: dict[float, tuple[float, float, float]]) -> None:
    """`t2.nc` as `analyses.t2_transition` writes it: ε → (margin along u1, along u2, test accuracy)."""
    epsilons = sorted(cells)
    refined = np.array([[np.full(21, cells[e][0]), np.full(21, cells[e][1])] for e in epsilons])
    table = xr.Dataset({"margin": (("epsilon", "subspace", "sample"), refined),
                        "margin_refined": (("epsilon", "subspace", "sample"), refined),
                        "converged": (("epsilon", "subspace", "sample"), np.isfinite(refined)),
                        "test_accuracy": ("epsilon", [cells[e][2] for e in epsilons]),
                        "train_accuracy": ("epsilon", [cells[e][2] for e in epsilons])},
                       coords={"epsilon": epsilons, "subspace": ["u1", "u2"], "sample": np.arange(21)})
    results.save(table, folder / "t2" / "t2.nc")


def write_low_pass(folder, removed_not_converged: dict[str, float], samples: int = 40) -> None:
    """`summary.nc` as `analyses.low_pass_invariance` writes it: variant → share of the images not
    converged in every removed band (all converge in the kept ones; median +inf where most do not)."""
    names, starts = list(removed_not_converged), dct_diagonal_blocks((1, 28, 28)).starts[:, 0]
    removed = starts >= 14
    not_converged = np.array([np.where(removed, removed_not_converged[v], 0.0) for v in names])
    median = np.where(not_converged > 0.5, math.inf, 1.0)
    per_band = ("variant", "subspace")
    table = xr.Dataset({"median": (per_band, median), "median_low": (per_band, 0.9 * median),
                        "median_high": (per_band, np.where(not_converged > 0.3, math.inf, 1.1)),
                        "not_converged": (per_band, not_converged),
                        "gradient_share": (per_band, np.full(median.shape, 0.1)),
                        "band_energy_share": (("variant", "stage", "subspace"), np.full((len(names), 2, 21), 1 / 21)),
                        "removed_energy_share": (("variant", "stage"), np.full((len(names), 2), 0.5)),
                        "test_accuracy": ("variant", np.full(len(names), 85.0))},
                       coords={"variant": names, "stage": ["init", "trained"], "subspace": np.arange(21),
                               "band_start": ("subspace", starts),
                               "model_label": ("variant", [f"{v} label" for v in names])},
                       attrs={"low_pass": 14, "samples": samples, "zero_gradient": 1e-5, "least_removed_share": 0.008})
    results.save(table, folder / "low_pass" / "summary.nc")


def write_corruptions(path, clean: float, corrupted: float, n: int = 1000, shuffle: int | None = None) -> None:
    """A corruption-probe result (`probe.corruptions` variables, summarised by its own code) whose
    clean and per-cell accuracies are the given percentages: the first images are the ones classified
    correctly, or images drawn with seed `shuffle`."""
    shape = (len(CORRUPTIONS), 5, n)
    order = np.arange(n) if shuffle is None else np.random.default_rng(shuffle).permutation(n)
    correct = np.broadcast_to(order < round(corrupted / 100 * n), shape).copy()
    ds = xr.Dataset({"correct": (("corruption", "severity", "sample"), correct),
                     "finite": (("corruption", "severity", "sample"), np.ones(shape, bool)),
                     "clean_correct": ("sample", np.arange(n) < round(clean / 100 * n)),
                     "clean_finite": ("sample", np.ones(n, bool))},
                    coords={"corruption": list(CORRUPTIONS), "severity": [1, 2, 3, 4, 5], "sample": np.arange(n)},
                    attrs={"probe": "corruptions", "recipe": "Recipe(epochs=30, lr=0.21)"})
    results.save(summarize(ds, reference="none"), path)


def test_no_results_every_row_pending_with_its_command(tmp_path):
    rows = reproduction.collect(tmp_path)
    assert rows and all(row.verdict.startswith("pending (run: `python -m ") for row in rows)
    t2 = [row for row in rows if row.claim.claim.startswith("T2, ε = ")]
    assert [row.claim.claim.split(":")[0] for row in t2] == [f"T2, ε = {e:g}" for e in np.arange(11) / 10]
    assert "--epsilons 0.7`" in t2[7].verdict
    assert all(row.measured is None for row in rows)


def test_t1_verdicts_from_published_tolerance_and_ordering(tmp_path):
    mlp = dict(T1_PUBLISHED["mlp"], random=T1_PUBLISHED["mlp"]["random"] / 2)   # 50 % off, still third of four
    logistic = dict(T1_PUBLISHED["logistic"], u1=1.15 * T1_PUBLISHED["logistic"]["u1"], random=500.0)   # random: last
    write_t1(tmp_path, {"mlp": mlp, "logistic": logistic})
    found = verdicts(reproduction.collect(tmp_path), "Thesis: synthetic data")
    assert found["T1: median margin of the MLP 10×500 along u1"] == "reproduced"
    assert found["T1: median margin of the MLP 10×500 along random"] == "qualitatively"
    assert found["T1: median margin of the logistic regression along u1"] == "reproduced"     # within 20 %
    assert found["T1: median margin of the logistic regression along random"] == "not"       # order broken
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim.endswith("MLP 10×500 along complement"))
    assert row.measured.text.startswith("12.36 [12.36, 12.36] (n = 11)")
    assert row.measured.deviation == "500 epochs"


def t2_verdicts(folder) -> dict[str, str]:
    """'T2, ε = E' → the verdict of that row of the page made from `folder`."""
    found = verdicts(reproduction.collect(folder), "Thesis: synthetic data")
    return {key.split(":")[0]: value for key, value in found.items() if key.startswith("T2")}


def test_t2_one_row_per_epsilon_with_regime_checks(tmp_path):
    write_t2(tmp_path, {0.1: (math.inf, 5.2, 100.0),    # ignores u1, u2 at ρ/4: as published
                        0.3: (0.15, 6.0, 100.0),        # uses u1 below the switch: not
                        0.4: (math.inf, 5.0, 57.6),     # ignores u1 but does not fit: qualitatively
                        0.8: (0.41, math.inf, 100.0),   # u1 at ε/2 above the switch: as published
                        1.0: (0.9, 3.0, 100.0)})        # u1 off ε/2 but closer than u2: qualitatively
    by_epsilon = t2_verdicts(tmp_path)
    assert by_epsilon["T2, ε = 0.1"] == "reproduced"
    assert by_epsilon["T2, ε = 0.3"] == "not"
    assert by_epsilon["T2, ε = 0.4"] == "qualitatively"
    assert by_epsilon["T2, ε = 0.8"] == "reproduced"
    assert by_epsilon["T2, ε = 1"] == "qualitatively"
    assert by_epsilon["T2, ε = 0.5"].startswith("pending (run: `python -m analyses.t2_transition")
    assert len(by_epsilon) == 11


def write_t2_seeds(folder, fitted: dict[float, list[bool]], name: str = "t2") -> None:
    """`NAME/t2.nc` of several initialisations per ε, as `analyses.t2_transition.assemble` writes it:
    ε → which seeds fit; the fitted ones ignore u1 (+inf) with margin 5 along u2."""
    epsilons, seeds = sorted(fitted), max(len(f) for f in fitted.values())
    tried = np.array([[i < len(fitted[e]) for i in range(seeds)] for e in epsilons])
    fits = np.array([[i < len(fitted[e]) and fitted[e][i] for i in range(seeds)] for e in epsilons])
    margin = np.where(fits[:, :, None, None], np.array([math.inf, 5.0])[None, None, :, None], np.nan)
    margin = np.broadcast_to(margin, (len(epsilons), seeds, 2, 21)).copy()
    table = xr.Dataset({"tried": (("epsilon", "seed"), tried), "fits": (("epsilon", "seed"), fits),
                        "measured": (("epsilon", "seed"), fits),
                        "test_accuracy": (("epsilon", "seed"), np.where(fits, 100.0, 60.0)),
                        "margin": (("epsilon", "seed", "subspace", "sample"), margin),
                        "margin_refined": (("epsilon", "seed", "subspace", "sample"), margin),
                        "converged": (("epsilon", "seed", "subspace", "sample"), np.isfinite(margin))},
                       coords={"epsilon": epsilons, "seed": np.arange(seeds), "subspace": ["u1", "u2"],
                               "sample": np.arange(21)})
    results.save(table, folder / name / "t2.nc")


def test_t2_calls_an_epsilon_unfit_only_after_three_seeds(tmp_path):
    write_t2_seeds(tmp_path, {0.0: [False], 0.1: [False, False, False], 0.2: [False, False, True]})
    by_epsilon = t2_verdicts(tmp_path)
    assert by_epsilon["T2, ε = 0"].startswith("pending")      # one seed tried, none fits: try more
    assert by_epsilon["T2, ε = 0.1"] == "not"                 # three seeds, none fits
    assert by_epsilon["T2, ε = 0.2"] == "reproduced"          # the seed that fits is measured


def test_t2_falls_back_to_he_initialisation_where_the_default_never_fits(tmp_path):
    write_t2_seeds(tmp_path, {0.0: [False], 0.1: [False, False, False], 0.2: [True]})
    write_t2_seeds(tmp_path, {0.0: [True], 0.1: [False], 0.2: [False]}, name="t2_he")
    rows = {row.claim.claim.split(":")[0]: row for row in reproduction.collect(tmp_path)}
    he = rows["T2, ε = 0"]
    assert he.verdict == "reproduced" and he.measured.text.endswith("(He init: 1 of 1 seeds fit)")
    assert he.measured.deviation.endswith("He-normal initialisation: PyTorch's default did not fit (0 of 1 seeds fit)")
    assert he.claim.files == ("t2_he/t2.nc",) and he.claim.figure == "t2_he/t2_transition.png"
    assert he.claim.command == "python -m analyses.t2_transition --out $RUNS/t2_he --epsilons 0 --init he"
    assert rows["T2, ε = 0.1"].verdict == "not"              # neither initialisation fits
    assert rows["T2, ε = 0.2"].measured.deviation == ""      # the default fits: He runs are not consulted
    assert rows["T2, ε = 0.2"].claim.files == ("t2/t2.nc",)


def write_band_margins(path, removed_margin: float, samples: int = 30) -> None:
    """A margins result per diagonal DCT band of a LeNet trained on 14×14 low-passed images, as
    `analyses.margins_frequency` and `analyses.low_pass_invariance` save it: margin 1 in the kept
    bands, `removed_margin` (+inf: not converged) in the removed ones."""
    starts = dct_diagonal_blocks((1, 28, 28)).starts[:, 0]
    margin = np.repeat(np.where(starts >= 14, removed_margin, 1.0)[:, None], samples, axis=1)
    table = xr.Dataset({"margin": (("subspace", "sample"), margin), "converged": (("subspace", "sample"),
                                                                                  np.isfinite(margin))},
                       coords={"subspace": np.arange(len(starts)), "band_start": ("subspace", starts),
                               "sample": np.arange(samples)},
                       attrs={"probe": "margins", "transform": "low-pass:14"})
    results.save(table, path)


def test_low_pass_frequency_row_reads_the_invariance_runs_baseline_when_the_lane_has_not_run(tmp_path):
    claim = "low-pass training (14×14 kept): invariant, non-converged margins in the removed bands"
    write_band_margins(tmp_path / "low_pass" / "baseline.nc", math.inf)
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim == claim)
    assert row.verdict == "reproduced" and row.claim.files == ("low_pass/baseline.nc",)
    assert row.claim.figure == "low_pass/low_pass_invariance.png"
    assert row.claim.command.startswith("python -m analyses.low_pass_invariance ")
    write_band_margins(tmp_path / "frequency" / "low_pass.nc", 3.0)   # the frequency lane's own run comes first
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim == claim)
    assert row.verdict == "qualitatively" and row.claim.files == ("frequency/low_pass.nc",)


def test_low_pass_invariance_row_counts_trained_variants_not_the_control(tmp_path):
    claim = "training on low-passed data makes the model invariant (non-converged margins) in the removed bands"
    section = "Thesis: frequency margins (DCT bands)"
    assert verdicts(reproduction.collect(tmp_path), section)[claim].startswith(
        "pending (run: `python -m analyses.low_pass_invariance --out $RUNS/low_pass --data fashion-mnist`)")
    write_low_pass(tmp_path, {"baseline": 0.0, "weight_decay": 0.9, "low_pass_input": 1.0})
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim == claim)
    assert row.verdict == "reproduced" and row.claim.figure == "low_pass/low_pass_invariance.png"
    parts = row.measured.text.split("; ")
    # Wilson: 1.96² / (280 + 1.96²)
    assert parts[0] == "baseline label: not converged in the removed bands 0 [0, 1.353] % (n = 280)"
    assert parts[1].startswith("weight_decay label: not converged in the removed bands 90 [")
    assert parts[3] == "non-converged median in every removed band: weight_decay, low_pass_input"
    # only the fixed front (invariant by construction) does not reproduce the claim about training
    write_low_pass(tmp_path, {"baseline": 0.0, "low_pass_input": 1.0})
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim == claim)
    assert row.verdict == "not" and row.measured.text.endswith("every removed band: low_pass_input")
    # most images not converged in some removed bands only: the median is finite in the others
    write_low_pass(tmp_path, {"baseline": 0.45, "low_pass_input": 1.0})
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim == claim)
    assert row.verdict == "not"


def test_overlap_radii_from_the_real_probe_reproduce_the_published_points(tmp_path):
    overlap.run(samples=200, out=tmp_path / "overlap" / "overlap.nc")
    rows = [row for row in reproduction.collect(tmp_path) if row.claim.files == ("overlap/overlap.nc",)]
    assert len(rows) == 6 and all(row.verdict == "reproduced" for row in rows)
    assert all("(n = 200)" in row.measured.text for row in rows)
    overlap.run(samples=200, dim=300, out=tmp_path / "overlap" / "overlap.nc")   # not the published setting
    rows = [row for row in reproduction.collect(tmp_path) if row.claim.files == ("overlap/overlap.nc",)]
    assert all(row.verdict == "not" for row in rows)


def test_prime_ablation_verdicts_never_exceed_qualitatively_for_cifar_numbers(tmp_path):
    folder = tmp_path / "prime_primitives"
    for name, clean, corrupted in (("standard", 90, 60), ("prime", 89, 80), ("spatial", 89, 70),
                                   ("spatial_no_mix", 89, 62), ("colour", 90, 59),
                                   ("colour_no_mix", 90, 66)):   # n = 1000: intervals ±3 points
        write_corruptions(folder / f"{name}.nc", clean, corrupted)
    found = verdicts(reproduction.collect(tmp_path), "PRIME and its primitives")
    assert found["PRIME raises the accuracy on common corruptions"] == "qualitatively"
    assert found["PRIME costs less clean accuracy than it gains on corruptions"] == "qualitatively"
    assert found["the spatial primitive alone helps, less than all three mixed"] == "reproduced"
    assert found["the colour primitive alone helps, less than all three mixed"] == "not"
    assert found["mixing matters: spatial with mixing beats one primitive per image"] == "reproduced"
    assert found["mixing matters: colour with mixing beats one primitive per image"] == "not"
    assert found["the spectral primitive alone helps, less than all three mixed"].startswith("pending")
    assert found["mixing matters: all three with mixing beats one primitive per image"].startswith(
        "pending (run: `python -m analyses.prime_primitives --out $RUNS/prime_primitives --data fashion-mnist "
        "--models prime prime_no_mix`)")


def test_prime_comparisons_on_the_same_images_use_a_paired_test(tmp_path):
    # 80 vs 78 % on 1000 images: the Wilson intervals overlap; when the 20 images PRIME gains are the
    # only difference the paired test separates the models, when the correct images are drawn
    # independently (as many gains as losses) it does not
    folder = tmp_path / "prime_primitives"
    for name, corrupted, shuffle in (("prime", 80, None), ("prime_no_mix", 78, None), ("spectral", 80, None),
                                     ("spectral_no_mix", 78, 1)):
        write_corruptions(folder / f"{name}.nc", 90, corrupted, shuffle=shuffle)
    rows = {row.claim.claim: row for row in reproduction.collect(tmp_path)}
    paired = rows["mixing matters: all three with mixing beats one primitive per image"]
    assert paired.verdict == "reproduced" and "paired p = 7.7e-06)" in paired.measured.text
    independent = rows["mixing matters: spectral with mixing beats one primitive per image"]
    assert independent.verdict == "qualitatively"
    assert float(independent.measured.text.rsplit("paired p = ", 1)[1].rstrip(")")) > 0.05


def test_paired_comparison_refuses_results_on_different_images(tmp_path):
    folder = tmp_path / "prime_primitives"
    write_corruptions(folder / "prime.nc", 90, 80)
    write_corruptions(folder / "prime_no_mix.nc", 90, 78, n=999)   # another selection of test images
    with pytest.raises(reproduction.ProbeError, match="same images"):
        reproduction.collect(tmp_path)


def test_prime_ablation_table_under_its_section(tmp_path):
    folder = tmp_path / "runs" / "prime_primitives"
    for name, corrupted in (("standard", 60), ("prime", 80), ("colour_no_mix", 66)):
        write_corruptions(folder / f"{name}.nc", 90, corrupted)
    page = tmp_path / "REPRODUCTION.md"
    assert reproduction.main(["--runs", str(tmp_path / "runs"), "--out", str(page)]) == 0
    section = page.read_text().split("## PRIME and its primitives")[1].split("\n## ")[0]
    table = section[section.index("| model | augmentation |"):].splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == ["| standard", "| prime", "| colour no mix"]
    cells = [c.strip() for c in table[3].strip("|").split(" | ")]
    assert cells[1:3] == ["prime", "90 [87.98, 91.71]"] and cells[4].startswith("20 [") and cells[5] == "1000"
    assert float(cells[6]) < 1e-40   # 200 images gained, none lost


def test_prime_figure_one_colour_per_primitive_legends_below(tmp_path):
    for name, corrupted in (("standard", 60), ("prime", 85), ("spectral", 80), ("spectral_no_mix", 70)):
        write_corruptions(tmp_path / f"{name}.nc", 90, corrupted)   # spectral: third with mixing, second without
    fig = prime_primitives.figure(tmp_path, prime_primitives.collect(tmp_path))
    mixed, single, trade = fig.axes[:3]
    colours = {line.get_label().split(",")[0]: line.get_color() for ax in (mixed, single) for line in ax.get_lines()}
    assert colours["spectral"] == colours["spectral no mix"] != colours["standard"]
    fig.canvas.draw()
    for ax in (mixed, single, trade):   # below the panel, clear of its curves and title
        assert ax.get_legend().get_window_extent().y1 < ax.get_window_extent().y0


def write_few_samples(folder, before: np.ndarray, after: np.ndarray, replaced: np.ndarray) -> None:
    """`few_samples.nc` as `analyses.few_samples` writes it: each sample's margin before and after fine-tuning."""
    margin = np.stack([before, after])
    table = xr.Dataset({"margin": (("stage", "sample"), margin), "margin_refined": (("stage", "sample"), margin),
                        "converged": (("stage", "sample"), np.isfinite(margin)), "replaced": ("sample", replaced)},
                       coords={"stage": ["before", "after"], "sample": np.arange(len(before))})
    results.save(table, folder / "few_samples" / "few_samples.nc")


@pytest.mark.parametrize("shuffled, expected", [(False, "reproduced"), (True, "qualitatively")])
def test_few_samples_growth_is_a_paired_comparison(tmp_path, shuffled, expected):
    # margins spread over 0.1..1.1: a 5 % growth of every replaced sample's margin hides inside the
    # medians' intervals but not from the paired test; the same values in another order (each sample's
    # "after" drawn from another one) carry no consistent growth
    before = np.linspace(0.1, 1.1, 100)
    after = 1.05 * before
    if shuffled:
        after = np.random.default_rng(0).permutation(after)
    write_few_samples(tmp_path, np.r_[before, np.ones(50)], np.r_[after, np.ones(50)],
                      np.r_[np.ones(100, bool), np.zeros(50, bool)])
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.claim.startswith("the 100 replaced samples"))
    assert row.verdict == expected and "(n = 100; paired p = " in row.measured.text


def test_sparsefool_rows_from_the_real_analysis(tmp_path):
    torch.manual_seed(0)
    model = models.build("linear", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    with pytest.warns(ProbeWarning, match="clean accuracy"):   # an untrained model, fooled all the same
        base = sparsefool.run(model.eval(), "fashion-mnist-sample", n=6, save_perturbations=True,
                              out=tmp_path / "sparsefool" / "base.nc")
    results.save(sparsefool_sweeps.random_baseline(model, base), tmp_path / "sparsefool" / "random_baseline.nc")
    rows = [row for row in reproduction.collect(tmp_path) if row.claim.section == "SparseFool"]
    assert sparsefool.summary(base)["fooling_rate"] == 100.0
    assert rows[0].verdict == "reproduced" and rows[0].measured.text.startswith("100 [")
    assert rows[0].claim.published == "99.93 % (MNIST LeNet) to 100 % (CIFAR-10)"
    assert "(n = 6)" in rows[0].measured.text
    # the published 1.66 % of the pixels is MNIST's: on Fashion-MNIST at most the direction reproduces
    assert rows[1].claim.published == "1.66 % (MNIST LeNet)" and rows[1].verdict in ("qualitatively", "not")
    assert all(not row.verdict.startswith("pending") for row in rows)


def test_ada_pgd_row_from_the_saved_per_image_outcomes(tmp_path):
    torch.manual_seed(0)
    model = models.build("linear", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    x, y = get_batch(load("fashion-mnist-sample", "test"), range(8))
    correct = ada_training.pgd_correct(model, x, y, "linf", 0.05, seed=0)
    assert correct.dtype == bool and correct.shape == (8,)
    n = 400   # AdA keeps 60 % of the images under every attack, standard 40 %: separated intervals
    attacks = len(ada_training.attacks())
    args = argparse.Namespace(data="fashion-mnist", epochs=5, seed=0)
    flags = {"standard": np.broadcast_to(np.arange(n) < 160, (attacks, n)),
             "ada": np.broadcast_to(np.arange(n) < 240, (attacks, n))}
    results.save(ada_training.pgd_table(flags, args), tmp_path / "ada_training" / "pgd_accuracy.nc")
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.files == ("ada_training/pgd_accuracy.nc",))
    assert row.verdict == "reproduced"
    assert row.measured.text.startswith("l2:0.25: AdA 60 [") and row.measured.text.endswith(f"(n = {n})")
    assert "(paired p = " in row.measured.text
    flags["ada"] = flags["standard"]
    results.save(ada_training.pgd_table(flags, args), tmp_path / "ada_training" / "pgd_accuracy.nc")
    row = next(r for r in reproduction.collect(tmp_path) if r.claim.files == ("ada_training/pgd_accuracy.nc",))
    assert row.verdict == "not"


def write_adversarial_corruptions(path, correct: np.ndarray, samples: np.ndarray) -> None:
    """An adversarial-corruption result (`probe.adversarial_corruptions`) at AdA's ν: `correct` per image,
    every logit finite, no guard fired."""
    cells = ("nu", "sample")
    flags = np.asarray(correct, bool)[None]
    ones = np.ones(len(samples), bool)
    results.save(xr.Dataset({"correct": (cells, flags), "finite": (cells, np.ones_like(flags)),
                             "ssim": (cells, np.full(flags.shape, 0.9)), "guard_fired": (cells, np.zeros_like(flags)),
                             "clean_correct": ("sample", ones), "clean_finite": ("sample", ones),
                             "reconstruction_correct": ("sample", ones), "reconstruction_finite": ("sample", ones)},
                            coords={"nu": [ada_training.NU], "sample": samples}), path)


@pytest.mark.parametrize("shuffled, expected", [(False, "reproduced"), (True, "qualitatively")])
def test_ada_robust_accuracy_row_is_a_paired_comparison(tmp_path, shuffled, expected):
    # 50 vs 40 % robust on 200 images: the Wilson intervals overlap; when AdA's 20 extra images are the only
    # difference the paired test separates the models, when its correct images are drawn independently not
    n, folder = 200, tmp_path / "ada_training"
    ada = np.arange(n) < 100
    if shuffled:
        ada = np.random.default_rng(3).permutation(ada)
    write_adversarial_corruptions(folder / "adversarial_corruptions_ada.nc", ada, np.arange(n))
    write_adversarial_corruptions(folder / "adversarial_corruptions_standard.nc", np.arange(n) < 80, np.arange(n))
    row = next(r for r in reproduction.collect(tmp_path) if "adversarial corruptions" in r.claim.claim)
    assert row.verdict == expected and row.measured.text.startswith("AdA 50 [")
    assert row.claim.figure == "ada_training/ada_training.png"
    write_adversarial_corruptions(folder / "adversarial_corruptions_ada.nc", ada, np.arange(1, n + 1))
    with pytest.raises(reproduction.ProbeError, match="same images"):
        reproduction.collect(tmp_path)


def test_page_and_command_line(tmp_path, capsys):
    write_t2(tmp_path / "runs", {0.8: (0.4, math.inf, 100.0)})
    figure = b"\x89PNG\r\n\x1a\n the T2 figure"
    (tmp_path / "runs" / "t2" / "t2_transition.png").write_bytes(figure)
    (tmp_path / "runs" / "t2" / "t2_transition.pdf").write_bytes(b"%PDF")
    (tmp_path / "docs" / "reproduction").mkdir(parents=True)
    (tmp_path / "docs" / "reproduction" / "t1.png").write_bytes(b"an earlier run's T1 figure")
    (tmp_path / "docs" / "reproduction" / "t2_he_t2_transition.png").write_bytes(b"a figure no row links any more")
    page = tmp_path / "docs" / "REPRODUCTION.md"
    assert reproduction.main(["--runs", str(tmp_path / "runs"), "--out", str(page)]) == 0
    text = page.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| T2, ε = 0.8:"))
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert cells[2] == "u1: ε/2 = 0.4" and cells[5] == "**reproduced**"
    assert cells[3] == "u1 0.4 [0.4, 0.4], u2 ∞ [∞, ∞] (n = 21); test accuracy 100.0 % (one seed)"
    assert cells[6] == "[t2_transition.png](reproduction/t2_transition.png)"   # inside the repository, relative
    assert (tmp_path / "docs" / "reproduction" / "t2_transition.png").read_bytes() == figure
    assert sorted(p.name for p in (tmp_path / "docs" / "reproduction").iterdir()) == ["t2_transition.png"]
    t1 = next(line for line in text.splitlines() if line.startswith("| T1: median margin of the MLP 10×500 along u1"))
    assert " | — | `python -m analyses.margins_synthetic" in t1   # no figure in the runs: no link
    assert "](../" not in text
    assert "Verdicts: **reproduced**" in text and "1 reproduced, 0 qualitatively, 0 not" in text
    assert "1 reproduced" in capsys.readouterr().out
    assert reproduction.main(["--runs", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --runs {tmp_path / 'nowhere'}: no such folder"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
