"""The reproduction page (issue 27): every published claim we reproduce, one row each, generated
from the saved results of the reproduction analyses — no number on the page is typed by hand.

    python -m analyses.reproduction --runs DIR [--out docs/REPRODUCTION.md]

DIR holds the results in the layout `analyses/thesis_runs.sh` writes (OUT=DIR) and, beside them,
the companion analyses' folders (each row names the command that writes its files):

- `t1/t1.nc` (`analyses.margins_synthetic`), `t2/t2.nc` (`analyses.t2_transition`) and, for the ε
  where no seed with PyTorch's default initialisation fits, `t2_he/t2.nc` (the same with `--init he`);
- `frequency/MODEL.nc` (or `frequency26/`) for MODEL ∈ standard, flipped, low_pass, adversarial
  (`analyses.margins_frequency`); `low_pass/summary.nc` (`analyses.low_pass_invariance`);
  `forgetting/forgetting.nc`; `few_samples/few_samples.nc`;
- `prime_primitives/NAME.nc` (`analyses.prime_primitives`, one corruption result per model);
- `sparsefool/base.nc`, `sparsefool/random_baseline.nc` (`analyses.sparsefool_sweeps` on the
  standard LeNet); `overlap/overlap.nc` (`probe.overlap`); `lp_training/lp_*.nc`,
  `lp_training/corruptions_*.nc` (`analyses.lp_training`); `ada_training/corruptions_*.nc`,
  `ada_training/adversarial_corruptions_*.nc`, `ada_training/pgd_accuracy.nc` (`analyses.ada_training`);
  `reconstruction/NETWORK_reconstruction.nc` (`analyses.corruption_net_reconstruction`).

Published numbers are the constants of the analyses and figure scripts that already cite them
(imported, never copied), or constants below with their paper and table; a claim its paper states
without a number says so ("qualitative only").  Each row's figure is the PNG its analysis writes
beside the PDF; the page gets a copy in `reproduction/` next to it (a missing figure: no link).  Our numbers
come from the files, with their 95 % intervals from `probe.stats` and the probes' `summary()` functions.
Margins are the exact distances along DeepFool's direction (`margin_refined`) where the result holds them.

Verdicts (`VERDICT_RULES`, printed on the page):

- reproduced: the published number (or range) lies inside our 95 % interval or our value lies
  within the claim's relative tolerance of it (20 %, `analyses.thesis.TOLERANCE`, unless the row
  states a tighter one), in the paper's setting; for a claim published only qualitatively, its
  whole statement holds on our numbers with separated 95 % intervals or, for two sides measured on
  the same images, with a two-sided Wilcoxon signed-rank test of the per-image differences at 5 %
  (a paired test sees a consistent shift that overlapping intervals hide);
- qualitatively: otherwise, when the direction or ordering the paper reports holds on our point
  values (a number from another data set or architecture can only reach this);
- not: neither;
- pending: a result the row needs is missing (the row names the command that writes it).
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from analyses import ada_training, low_pass_invariance, margins_synthetic, prime_primitives, t2_transition
from analyses.thesis import TOLERANCE
from figures.ada_reconstruction import PUBLISHED as PUBLISHED_RECONSTRUCTION_SSIM
from figures.lp_overlap import PUBLISHED_50 as PUBLISHED_OVERLAP_50
from probe import lp, overlap, results, sparsefool, stats, tables
from probe.adversarial_corruptions import radius_tag
from probe.adversarial_corruptions import summary as ada_summary
from probe.balls import norm_name, parse_ball
from probe.corruptions import summary as corruption_summary
from probe.errors import ProbeError

REPRODUCED, QUALITATIVELY, NOT, PENDING = "reproduced", "qualitatively", "not", "pending"
PAIRED_LEVEL = 0.05    # two-sided level of the paired tests that separate two models measured on the same images
VERDICT_RULES = (
    f"**reproduced**: the published number (or range) lies inside our 95 % interval, or our value lies within "
    f"the row's relative tolerance of it ({TOLERANCE:.0%} unless the row states another), in the paper's setting; "
    "for a claim published only qualitatively, its whole statement holds with separated 95 % intervals or, where "
    f"both sides were measured on the same images, with a paired test at the {PAIRED_LEVEL:.0%} level (Wilcoxon "
    "signed-rank on the per-image differences; the row shows its p). "
    "**qualitatively**: otherwise, when the direction or ordering the paper reports holds on our point values "
    "(numbers from another data set or architecture can reach no more). **not**: neither. "
    "**pending**: a result the row needs is missing; the row names the command that writes it.")

# Sources: the papers and tables each published value comes from.
HOLD_ME_TIGHT = 'Ortiz-Jiménez et al. 2020, "Hold me tight!"'
THESIS = f"thesis, after {HOLD_ME_TIGHT}"
SPARSEFOOL = 'Modas, Moosavi-Dezfooli & Frossard 2019, "SparseFool: a few pixels make a big difference" (CVPR), Table 1'
PRIME = 'Modas et al. 2022, "PRIME" (ECCV)'
LP_PAPER = ('Siedel, Shao, Vock & Morozov 2024, "Investigating the corruption robustness of image classifiers with '
            'random Lp-norm corruptions" (VISAPP)')
ESP_PAPER = "Siedel et al., the ESP paper (label smoothing by the noise's size)"
ADA = 'Calian et al. 2022, "Defending against image corruptions through adversarial augmentations" (AdA, ICLR)'

# Published values that no analysis holds as a constant yet.
T2_RHO = 20.0          # thesis Fig. 4.10: T2(ρ = 20, ε, σ = 1, K = 3); along u2 the margin is ρ/4 while u1 is ignored
T2_SWITCH = 0.5        # thesis Fig. 4.10: the MLP switches to u1 near ε ≈ 0.5
T2_SEEDS = 3           # initialisations tried at an ε before it counts as one the MLP cannot fit
T2_DEFAULT = "t2/t2.nc"  # the runs with PyTorch's default initialisation, as the authors' code
T2_HE = "t2_he/t2.nc"    # the same with He-normal weights (`--init he`): used where PyTorch's default never fits
SPARSEFOOL_FOOLING = (99.93, 100.0)  # % fooling rate, Modas et al. 2019, Table 1: MNIST LeNet 99.93, CIFAR-10 100
SPARSEFOOL_PIXELS = 1.66             # median % of perturbed pixels, Modas et al. 2019, Table 1: MNIST LeNet
# Siedel et al. 2024, CIFAR-10 WRN-28-4, standard → L0-noise training (ε = 0.01): mCE_Lp, iCE (%), mCE
LP_MCE_LP, LP_ICE, LP_MCE = (31.97, 21.20), (9.7, 2.5), (31.30, 26.66)
ESP_ERROR = (25.57, 16.17)   # Siedel et al. (ESP): CIFAR-10-C mean error (%), WRN-40-2, standard → ESP training
ADA_MCE, ADA_AUGMIX_MCE = 12.49, 8.80   # Calian et al. 2022, Table 1: CIFAR-10 pre-act ResNet-50 mCE (%), AdA (EDSR)
FEW_PIXELS = 10.0      # "a few pixels": the qualitative reading of SparseFool's claim, % of the pixels
FOOLING_TOLERANCE = 0.01   # fooling rates near 100 %: 1 % relative (20 % would accept 80 %)

RUNS = "$RUNS"         # how commands on the page name the --runs folder
# the low-pass LeNet of `analyses.margins_frequency` (same data, recipe and seed) as the low-pass invariance runs
# train and measure it: the frequency section reads it when the frequency lane has not run that model
LOW_PASS_BASELINE = "low_pass/baseline.nc"
LOW_PASS_COMMAND = f"python -m analyses.low_pass_invariance --out {RUNS}/low_pass --data fashion-mnist"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One published claim: its text, source, the published value as shown and as a number (or range;
    None: qualitative only), whether it compares with ours (a number: in the paper's setting only; a
    qualitative statement: in any setting), how our recipe deviates, the result files it reads (relative to the
    runs folder), its figure and the command that writes them."""

    section: str
    claim: str
    source: str
    published: str
    number: tuple[float, float] | None
    comparable: bool
    deviation: str
    files: tuple[str, ...]
    figure: str | None
    command: str
    tolerance: float = TOLERANCE


@dataclasses.dataclass(frozen=True)
class Measured:
    """Our side of a row: the text shown, the estimate compared with the published number (if any),
    whether the whole published statement holds (`full`, for qualitative claims and extra
    conditions of numeric ones) and whether its direction / ordering does."""

    text: str
    estimate: stats.Estimate | None = None
    full: bool = True
    direction: bool = False
    deviation: str = ""


@dataclasses.dataclass(frozen=True)
class Row:
    claim: Claim
    measured: Measured | None
    verdict: str


def agrees(published: tuple[float, float], ours: stats.Estimate, tolerance: float = TOLERANCE) -> bool:
    """Whether our interval meets the published range [low, high], or our value lies within
    `tolerance` (relative) of its nearest end."""
    low, high = published
    if ours.low <= high and low <= ours.high:
        return True
    nearest = min(max(ours.value, low), high)
    return nearest != 0 and abs(ours.value - nearest) <= tolerance * abs(nearest)


def verdict(claim: Claim, measured: Measured | None) -> str:
    """The verdict of `VERDICT_RULES`."""
    if measured is None:
        return f"{PENDING} (run: `{claim.command}`)"
    if claim.comparable:
        if claim.number is None and measured.full:
            return REPRODUCED
        if claim.number is not None and measured.estimate is not None and measured.full and \
                agrees(claim.number, measured.estimate, claim.tolerance):
            return REPRODUCED
    return QUALITATIVELY if measured.direction else NOT


def above(a: stats.Estimate, b: stats.Estimate) -> bool:
    """`a` lies above `b` with separated intervals."""
    return a.low > b.high


def paired_above(a: np.ndarray, b: np.ndarray) -> tuple[bool, float]:
    """Whether per-image values `a` lie above `b` (measured on the same images, in the same order) by a
    two-sided Wilcoxon signed-rank test at `PAIRED_LEVEL`, and its p-value."""
    differences = stats.paired_differences(a, b)
    moved = differences[differences != 0]
    upward = float((np.sign(moved) * rankdata(np.abs(moved))).sum()) > 0   # W+ > W−: the shift is upward
    p = stats.signed_rank(differences)
    return upward and p < PAIRED_LEVEL, p


def number(value: float) -> str:
    """A value as shown on the page (4 significant digits; ∞ for not converged)."""
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.4g}"


def shown(estimate: stats.Estimate, unit: str = "") -> str:
    """`value [low, high]` and its unit."""
    return f"{number(estimate.value)} [{number(estimate.low)}, {number(estimate.high)}]{unit}"


def shown_n(estimate: stats.Estimate, unit: str = "") -> str:
    return f"{shown(estimate, unit)} (n = {estimate.n})"


def epochs(ds: xr.Dataset) -> str:
    """'N epochs' as the result records it (its recipe, else its --epochs), else ''."""
    found = re.search(r"epochs=(\d+)", str(ds.attrs.get("recipe", ""))) or \
        re.search(r"^(\d+)$", str(ds.attrs.get("param_epochs", "")))
    return f"{found.group(1)} epochs" if found else ""


def margins(ds: xr.Dataset) -> xr.DataArray:
    """The exact distances along DeepFool's direction where saved, else DeepFool's margins."""
    return ds["margin_refined"] if "margin_refined" in ds else ds["margin"]


class Runs:
    """The runs folder: files loaded once, missing ones reported."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.cache: dict[str, xr.Dataset] = {}

    def has(self, *names: str) -> bool:
        return all((self.root / name).is_file() for name in names)

    def __getitem__(self, name: str) -> xr.Dataset:
        if name not in self.cache:
            self.cache[name] = results.load(self.root / name)
        return self.cache[name]

    def first_folder(self, *candidates: str, holding: str) -> str:
        """The first of the folders `candidates` holding the file `holding`, else the first."""
        return next((c for c in candidates if (self.root / c / holding).is_file()), candidates[0])


def evaluate(runs: Runs, claim: Claim, measure: Callable[[], Measured | None]) -> Row:
    """A row: pending when a file is missing (or the measure finds no result for this claim)."""
    measured = measure() if runs.has(*claim.files) else None
    return Row(claim, measured, verdict(claim, measured))


# ----------------------------------------------------------------------------- thesis: synthetic data

def t1_rows(runs: Runs) -> list[Row]:
    """Thesis Table 4.1 (MLP) and Table A.1 (logistic regression): median margins on T1(ε = 5, σ = 1)
    in four subspaces; the ordering check compares the subspace's rank among the four medians."""
    rows = []
    command = f"python -m analyses.margins_synthetic --out {RUNS}/t1 --models logistic mlp"
    names = {"mlp": "MLP 10×500", "logistic": "logistic regression"}
    tables = {"mlp": "Table 4.1", "logistic": "Table A.1"}
    for model, published in margins_synthetic.PUBLISHED.items():
        order = sorted(published, key=published.get)
        for subspace, value in published.items():
            claim = Claim("Thesis: synthetic data", f"T1: median margin of the {names[model]} along "
                          f"{subspace.replace('_', ' ')}", f"{THESIS}, {tables[model]}", f"{value:g}", (value, value),
                          True, "none (T1 as published, D = 100)", ("t1/t1.nc",), "t1/t1.png", command)

            def measure(model=model, subspace=subspace, order=order) -> Measured:
                table = runs["t1/t1.nc"].sel(model=model)
                medians = {s: stats.median(margins(table).sel(subspace=s).values) for s in table["subspace"].values}
                ours = medians[subspace]
                deepfool = float(np.median(table["margin"].sel(subspace=subspace).values))
                rank = sorted(medians, key=lambda s: medians[s].value).index(subspace)
                return Measured(f"{shown_n(ours)}; DeepFool's own {number(deepfool)}; test accuracy "
                                f"{float(table['test_accuracy']):.1f} %", ours, direction=rank == order.index(subspace),
                                deviation=epochs(runs["t1/t1.nc"]))
            rows.append(evaluate(runs, claim, measure))
    return rows


def t2_cell(ds: xr.Dataset, epsilon: float) -> tuple[dict[str, np.ndarray], float, str, int] | None:
    """At `epsilon`: the margins along u1 and u2 of every measured run, the best test accuracy
    among them, a note on the runs that fit and how many initialisations finished training (1 in a
    result of one seed); None when ε is not in the result."""
    found = [e for e in ds["epsilon"].values if np.isclose(e, epsilon)]
    if not found:
        return None
    cell = ds.sel(epsilon=found[0])
    values = {s: margins(cell).sel(subspace=s) for s in ("u1", "u2")}
    if "seed" in cell.dims:   # several initialisations per ε: only the measured (fitted) ones count
        measured = cell["measured"].values.astype(bool)
        values = {s: v.transpose("seed", ...).values[measured].ravel() for s, v in values.items()}
        accuracy = float(np.max(cell["test_accuracy"].values[measured])) if measured.any() else 0.0
        tried = int(cell["tried"].sum())
        note = f"{int(cell['fits'].sum())} of {tried} seeds fit"
    else:
        values = {s: v.values.ravel() for s, v in values.items()}
        accuracy, note, tried = float(cell["test_accuracy"]), "one seed", 1
    return values, accuracy, note, tried


def t2_fitted(runs: Runs, name: str, epsilon: float) -> bool:
    """Whether the T2 result `name` holds a fitted (measured) model at `epsilon`."""
    found = t2_cell(runs[name], epsilon) if runs.has(name) else None
    return found is not None and len(found[0]["u1"]) > 0


def t2_rows(runs: Runs) -> list[Row]:
    """Thesis Fig. 4.10, one row per ε of the thesis' grid: below the switch the MLP ignores u1
    (margin along u1 above ε/2 by more than the tolerance) and its margin along u2 is ρ/4; above
    it, its margin along u1 is ε/2 (and along u2 larger than along u1); the test accuracy is 100 %.
    Read from the runs with PyTorch's default initialisation (the authors' code), or from the He-initialised
    ones (`T2_HE`) at an ε where no default seed fits and a He-initialised one does (the row says so)."""
    rows = []
    for epsilon in t2_transition.EPSILONS:
        if epsilon < T2_SWITCH:
            text, value = "ignores u1 (large margin along it), margin along u2 ≈ ρ/4", T2_RHO / 4
            published = f"u2: ρ/4 = {value:g}; u1 ≫ ε/2"
        elif epsilon > T2_SWITCH:
            text, value = "uses u1: margin along u1 ≈ ε/2, larger along u2", epsilon / 2
            published = f"u1: ε/2 = {value:g}"
        else:
            text, published, value = "at the switch: either regime", "qualitative only (the switch)", None
        he = not t2_fitted(runs, T2_DEFAULT, epsilon) and t2_fitted(runs, T2_HE, epsilon)
        file = T2_HE if he else T2_DEFAULT
        folder = str(Path(file).parent)
        init = ""
        if he:
            default = t2_cell(runs[T2_DEFAULT], epsilon) if runs.has(T2_DEFAULT) else None
            init = "He-normal initialisation: PyTorch's default " + (f"did not fit ({default[2]})" if default
                                                                      else "not run")
        claim = Claim("Thesis: synthetic data", f"T2, ε = {epsilon:g}: the MLP {text}; test accuracy 100 %",
                      f"{THESIS}, Fig. 4.10", published, None if value is None else (value, value), True,
                      f"none (T2(ρ = {T2_RHO:g}, σ = 1, K = 3) as published)", (file,),
                      f"{folder}/t2_transition.png",
                      f"python -m analyses.t2_transition --out {RUNS}/{folder} --epsilons {epsilon:g}"
                      + (" --init he" if he else ""))

        def measure(epsilon: float = epsilon, file: str = file, init: str = init) -> Measured | None:
            found = t2_cell(runs[file], epsilon)
            if found is None:
                return None
            values, accuracy, note, tried = found
            note = f"He init: {note}" if init else note
            if not len(values["u1"]):
                if tried < T2_SEEDS:
                    return None   # pending: too few seeds tried to say the MLP does not fit here
                return Measured(f"no fitted model ({note})", full=False)
            u1, u2 = stats.median(values["u1"]), stats.median(values["u2"])
            fits = agrees((100.0, 100.0), stats.Estimate(accuracy, accuracy, accuracy, 0), FOOLING_TOLERANCE)
            ignores_u1 = u1.value > (1 + TOLERANCE) * epsilon / 2
            uses_u1 = agrees((epsilon / 2, epsilon / 2), u1) and u2.value > u1.value   # at the switch
            text = f"u1 {shown(u1)}, u2 {shown(u2)} (n = {u1.n}); test accuracy {accuracy:.1f} % ({note})"
            if epsilon < T2_SWITCH:
                return Measured(text, u2, full=fits and ignores_u1, direction=ignores_u1,
                                deviation="; ".join(part for part in (epochs(runs[file]), init) if part))
            if epsilon > T2_SWITCH:
                return Measured(text, u1, full=fits and u2.value > u1.value, direction=u1.value < u2.value,
                                deviation=init)
            return Measured(text, full=fits and (ignores_u1 or uses_u1), direction=ignores_u1 or uses_u1,
                            deviation=init)
        rows.append(evaluate(runs, claim, measure))
    return rows


# ----------------------------------------------------------------------------- thesis: images

def band_median(ds: xr.Dataset, bands: np.ndarray) -> stats.Estimate:
    """The median margin over the (band, sample) pairs of the bands selected by the mask `bands`."""
    return stats.median(margins(ds).values[bands].ravel())


def frequency_rows(runs: Runs) -> list[Row]:
    """Thesis Figs. 4.3, 4.7, 4.11 (qualitative): margins per DCT band of standard, flipped,
    low-pass and adversarially trained LeNets."""
    path = {m: f"{runs.first_folder('frequency', 'frequency26', holding=f'{m}.nc')}/{m}.nc"
            for m in ("standard", "flipped", "low_pass", "adversarial")}
    if not runs.has(path["low_pass"]) and runs.has(LOW_PASS_BASELINE):
        path["low_pass"] = LOW_PASS_BASELINE   # the same low-pass LeNet, from the low-pass invariance runs
    figure = f"{Path(path['standard']).parent}/frequency_margins.png"
    command = f"python -m analyses.margins_frequency --out {RUNS}/frequency --data fashion-mnist --models MODEL"
    deviation = "Fashion-MNIST instead of MNIST"
    section = "Thesis: frequency margins (DCT bands)"

    def claim(text: str, figure_number: str, models: tuple[str, ...]) -> Claim:
        if path[models[-1]] == LOW_PASS_BASELINE:
            return Claim(section, text, f"{THESIS}, Fig. {figure_number}", "qualitative only", None, True,
                         deviation, (LOW_PASS_BASELINE,), "low_pass/low_pass_invariance.png", LOW_PASS_COMMAND)
        return Claim(section, text, f"{THESIS}, Fig. {figure_number}", "qualitative only", None, True, deviation,
                     tuple(path[m] for m in models), figure, command.replace("MODEL", models[-1]))

    def ends(name: str) -> tuple[stats.Estimate, stats.Estimate]:
        ds = runs[path[name]]
        return stats.median(margins(ds).values[0]), stats.median(margins(ds).values[-1])

    def standard() -> Measured:
        low, high = ends("standard")
        return Measured(f"lowest band {shown(low)}, highest {shown(high)} (n = {low.n})", full=above(high, low),
                        direction=high.value > low.value, deviation=epochs(runs[path["standard"]]))

    def flipped() -> Measured:
        low, high = ends("flipped")
        reference = np.median(margins(runs[path["standard"]]).values, axis=1)
        mirrored = np.median(margins(runs[path["flipped"]]).values, axis=1)[::-1]
        finite = np.isfinite(reference) & np.isfinite(mirrored)
        correlation = np.corrcoef(np.log(reference[finite]), np.log(mirrored[finite]))[0, 1] if finite.sum() > 2 \
            else float("nan")
        return Measured(f"lowest band {shown(low)}, highest {shown(high)} (n = {low.n}); correlation of log band "
                        f"medians with the standard model's mirrored {correlation:.3f}", full=above(low, high),
                        direction=low.value > high.value, deviation=epochs(runs[path["flipped"]]))

    def low_pass() -> Measured:
        ds = runs[path["low_pass"]]
        removed = np.broadcast_to(
            (ds["band_start"].values >= int(str(ds.attrs["transform"]).partition(":")[2]))[:, None], ds["margin"].shape)
        outside, inside = band_median(ds, removed), band_median(ds, ~removed)
        unconverged = stats.percent(~ds["converged"].values[removed])
        text = (f"removed bands {shown(outside)}, kept {shown(inside)} (n = {outside.n}, {inside.n} band × image "
                f"pairs); not converged in the removed bands {shown(unconverged, ' %')}")
        # the thesis' margins there are non-converged: most of them, not merely larger ones
        return Measured(text, full=unconverged.low > 50.0, direction=outside.value > inside.value,
                        deviation=epochs(ds))

    def adversarial() -> Measured:
        (s_low, s_high), (a_low, a_high) = ends("standard"), ends("adversarial")
        ratio_low, ratio_high = a_low.value / s_low.value, a_high.value / s_high.value
        return Measured(f"adversarial / standard median: lowest band {ratio_low:.3g} ({shown(a_low)} vs "
                        f"{shown(s_low)}), highest {ratio_high:.3g} ({shown(a_high)} vs {shown(s_high)}); "
                        f"n = {a_low.n}",
                        full=above(a_low, s_low) and above(a_high, s_high) and ratio_high > ratio_low,
                        direction=ratio_high > ratio_low > 1.0, deviation=epochs(runs[path["adversarial"]]))

    claims = [
        (claim("standard LeNet: smallest margins in the lowest DCT band, largest in the highest", "4.3",
               ("standard",)), standard),
        (claim("DCT-flipped training mirrors the curve: largest margins in the lowest band", "4.7",
               ("standard", "flipped")), flipped),
        (claim("low-pass training (14×14 kept): invariant, non-converged margins in the removed bands", "4.7",
               ("low_pass",)), low_pass),
        (claim("L2 adversarial training (ε = 2) raises the margins, most at high frequencies", "4.11",
               ("standard", "adversarial")), adversarial),
    ]
    return [evaluate(runs, c, m) for c, m in claims]


def low_pass_invariance_rows(runs: Runs) -> list[Row]:
    """Thesis Fig. 4.7 (qualitative), tested by `analyses.low_pass_invariance`: which variant of the
    low-pass LeNet (baseline, conv1 init low-passed, stronger weight decay, the fixed low-pass input
    front as the positive control) has non-converged margins in the removed bands."""
    path = "low_pass/summary.nc"
    claim = Claim("Thesis: frequency margins (DCT bands)", "training on low-passed data makes the model invariant "
                  "(non-converged margins) in the removed bands", f"{THESIS}, Fig. 4.7", "qualitative only", None,
                  True, "Fashion-MNIST instead of MNIST", (path,), "low_pass/low_pass_invariance.png", LOW_PASS_COMMAND)

    def measure() -> Measured:
        table = runs[path]
        band, samples = int(table.attrs["low_pass"]), int(table.attrs["samples"])
        removed = table["band_start"].values >= band
        winners = low_pass_invariance.reproduces(table, band)
        parts, trained_invariant = [], False
        for variant in table["variant"].values:
            shares = table["not_converged"].sel(variant=variant).values[removed]
            # per band the share of `samples` images: the pooled flags over the removed bands
            flags = np.concatenate([np.arange(samples) < round(share * samples) for share in shares])
            unconverged = stats.percent(flags)
            control = variant == "low_pass_input"
            trained_invariant |= not control and unconverged.low > 50.0
            parts.append(f"{table['model_label'].sel(variant=variant).item()}: not converged in the removed bands "
                         f"{shown_n(unconverged, ' %')}")
        trained_winners = [w for w in winners if w != "low_pass_input"]
        text = "; ".join(parts) + f"; non-converged median in every removed band: {', '.join(winners) or 'none'}"
        # the claim is about training: the fixed front is invariant by construction (the control)
        return Measured(text, full=trained_invariant, direction=bool(trained_winners))

    return [evaluate(runs, claim, measure)]


def forgetting_rows(runs: Runs) -> list[Row]:
    """Thesis Fig. 4.8 (qualitative): the high-band margins grow after fine-tuning on low-pass images
    only and come back down after fine-tuning on both again."""
    command = f"python -m analyses.forgetting --out {RUNS}/forgetting --data fashion-mnist"
    stages = ("trained on low ∪ high", "fine-tuned on low only", "fine-tuned on low ∪ high")

    def high_bands(stage: int) -> stats.Estimate:
        ds = runs["forgetting/forgetting.nc"]
        chosen = ds.isel(stage=stage)
        bands = np.broadcast_to((ds["band_start"].values >= int(ds.attrs.get("param_band", 14)))[:, None],
                                chosen["margin"].shape)
        return band_median(chosen, bands)

    def accuracy(stage: int) -> str:
        ds = runs["forgetting/forgetting.nc"]
        if "accuracy" not in ds:
            return ""
        return f"; high-pass test accuracy {float(ds['accuracy'].isel(stage=stage).sel(test_set='high_pass')):.1f} %"

    def transition(before: int, after: int, grows: bool) -> Callable[[], Measured]:
        def measure() -> Measured:
            first, second = high_bands(before), high_bands(after)
            text = (f"high-band median margin {stages[before]} {shown(first)}{accuracy(before)}, {stages[after]} "
                    f"{shown(second)}{accuracy(after)} (n = {first.n} band × image pairs)")
            low, high = (first, second) if grows else (second, first)
            return Measured(text, full=above(high, low), direction=high.value > low.value,
                            deviation=epochs(runs["forgetting/forgetting.nc"]))
        return measure

    def claim(text: str) -> Claim:
        return Claim("Thesis: forgetting and few samples", text, f"{THESIS}, Fig. 4.8", "qualitative only", None,
                     True, "Fashion-MNIST instead of MNIST; fine-tuning stages of 10 epochs",
                     ("forgetting/forgetting.nc",), "forgetting/forgetting.png", command)

    return [evaluate(runs, claim("fine-tuning on low-pass images only forgets the high-frequency boundaries "
                                 "(high-band margins grow)"), transition(0, 1, True)),
            evaluate(runs, claim("fine-tuning on low ∪ high again brings them back (high-band margins shrink)"),
                     transition(1, 2, False))]


def few_samples_rows(runs: Runs) -> list[Row]:
    """Thesis Fig. 4.13 (qualitative): fine-tuning with 100 samples replaced by their adversarial
    versions moves the boundary past them (their margins along r grow) and leaves the others."""
    command = (f"python -m analyses.few_samples --model {RUNS}/frequency/standard.pt --out {RUNS}/few_samples "
               "--data fashion-mnist")

    def stages(replaced: bool) -> tuple[np.ndarray, np.ndarray]:
        ds = runs["few_samples/few_samples.nc"]
        chosen = ds.isel(sample=np.flatnonzero(ds["replaced"].values.astype(bool) == replaced))
        before, after = (margins(chosen).sel(stage=s).values for s in ("before", "after"))
        return before, after

    def group(replaced: bool) -> tuple[stats.Estimate, stats.Estimate, stats.Estimate]:
        before, after = stages(replaced)
        return stats.median(before), stats.median(after), stats.median(after / before)

    def replaced() -> Measured:
        before, after, ratio = group(True)
        grew, p = paired_above(*reversed(stages(True)))   # the same images before and after fine-tuning
        return Measured(f"before {shown(before)}, after {shown(after)}; median ratio {shown(ratio)} (n = {before.n}; "
                        f"paired p = {p:.2g})", full=above(after, before) or grew, direction=after.value > before.value)

    def untouched() -> Measured:
        _, _, moved = group(True)
        before, after, ratio = group(False)
        return Measured(f"before {shown(before)}, after {shown(after)}; median ratio {shown(ratio)} (n = {before.n})",
                        full=agrees((1.0, 1.0), ratio), direction=ratio.value < moved.value)

    def claim(text: str) -> Claim:
        return Claim("Thesis: forgetting and few samples", text, f"{THESIS}, Fig. 4.13", "qualitative only", None,
                     True, "Fashion-MNIST instead of MNIST; 10 fine-tuning epochs", ("few_samples/few_samples.nc",),
                     "few_samples/few_samples.png", command)

    return [evaluate(runs, claim("the 100 replaced samples' margins along their adversarial direction grow"),
                     replaced),
            evaluate(runs, claim("untouched samples' margins stay (median ratio after / before ≈ 1)"), untouched)]


def prime_rows(runs: Runs) -> list[Row]:
    """PRIME's headline and its ablation (Modas et al. 2022; thesis §5.4): corruption accuracy of
    LeNets trained with PRIME, each primitive alone and each without mixing."""
    command = f"python -m analyses.prime_primitives --out {RUNS}/prime_primitives --data fashion-mnist --models MODEL"
    section = "PRIME and its primitives"
    deviation = "Fashion-MNIST(-C generated) LeNet instead of CIFAR-10 ResNet-18"
    standard, prime = (prime_primitives.PUBLISHED[m] for m in ("standard", "prime"))

    def numbers(name: str) -> dict:
        return corruption_summary(runs[f"prime_primitives/{name}.nc"])

    def estimate(name: str, key: str) -> stats.Estimate:
        found = numbers(name)
        return tables.estimate(found, key)

    def claim(text: str, published: str, source: str, models: tuple[str, ...]) -> Claim:
        # CIFAR-10 numbers do not compare with a Fashion-MNIST LeNet's; a qualitative statement does
        return Claim(section, text, source, published, None, published == "qualitative only", deviation,
                     tuple(f"prime_primitives/{m}.nc" for m in models), "prime_primitives/prime_primitives.png",
                     command.replace("MODEL", " ".join(models)))

    def gain() -> Measured:
        ours, base = estimate("prime", "corruption_accuracy"), estimate("standard", "corruption_accuracy")
        return Measured(f"PRIME {shown(ours, ' %')}, standard {shown(base, ' %')} (n = {ours.n})",
                        direction=ours.value > base.value, deviation=epochs(runs["prime_primitives/prime.nc"]))

    def cost() -> Measured:
        ours, base = estimate("prime", "clean_accuracy"), estimate("standard", "clean_accuracy")
        gained = estimate("prime", "corruption_accuracy").value - estimate("standard", "corruption_accuracy").value
        return Measured(f"PRIME {shown(ours, ' %')}, standard {shown(base, ' %')} (n = {ours.n}); corruption "
                        f"gain {gained:.1f} points", direction=base.value - ours.value < gained)

    def better(a: str, b: str) -> tuple[bool, float]:
        return paired_corruption_accuracy(runs[f"prime_primitives/{a}.nc"], runs[f"prime_primitives/{b}.nc"])

    def between(name: str) -> Callable[[], Measured]:
        def measure() -> Measured:
            found = {m: estimate(m, "corruption_accuracy") for m in ("standard", name, "prime")}
            (helps, p_helps), (less, p_less) = better(name, "standard"), better("prime", name)
            return Measured("; ".join(f"{m.replace('_', ' ')} {shown(e, ' %')}" for m, e in found.items())
                            + f" (n = {found[name].n}; paired p = {p_helps:.2g} against standard, "
                            f"{p_less:.2g} against prime)",
                            full=(above(found[name], found["standard"]) or helps)
                            and (above(found["prime"], found[name]) or less),
                            direction=found["standard"].value < found[name].value <= found["prime"].value)
        return measure

    def mixing(name: str) -> Callable[[], Measured]:
        def measure() -> Measured:
            mixed, single = estimate(name, "corruption_accuracy"), estimate(f"{name}_no_mix", "corruption_accuracy")
            beats, p = better(name, f"{name}_no_mix")
            return Measured(f"with mixing {shown(mixed, ' %')}, without {shown(single, ' %')} (n = {mixed.n}; "
                            f"paired p = {p:.2g})",
                            full=above(mixed, single) or beats, direction=mixed.value > single.value)
        return measure

    published_gain = (f"corruption accuracy {np.mean(prime[1:]):.1f} vs {np.mean(standard[1:]):.1f} % "
                      "(CIFAR-10 ResNet-18)")
    published_cost = f"clean accuracy {prime[0]:.1f} vs {standard[0]:.1f} % (CIFAR-10 ResNet-18)"
    rows = [evaluate(runs, claim("PRIME raises the accuracy on common corruptions", published_gain,
                                 f"{PRIME}, Table 1", ("standard", "prime")), gain),
            evaluate(runs, claim("PRIME costs less clean accuracy than it gains on corruptions", published_cost,
                                 f"{PRIME}, Table 1", ("standard", "prime")), cost)]
    for name in ("spectral", "spatial", "colour"):
        rows.append(evaluate(runs, claim(f"the {name} primitive alone helps, less than all three mixed",
                                         "qualitative only", f"{PRIME}, ablation; thesis §5.4",
                                         ("standard", "prime", name)), between(name)))
    for name in ("prime", "spectral", "spatial", "colour"):
        rows.append(evaluate(runs, claim(f"mixing matters: {name.replace('prime', 'all three')} with mixing beats "
                                         "one primitive per image", "qualitative only",
                                         f"{PRIME}, ablation; thesis §5.4", (name, f"{name}_no_mix")), mixing(name)))
    return rows


def paired_outcomes(a_samples: np.ndarray, b_samples: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[bool, float]:
    """`paired_above` on per-image values `a` and `b` of two results whose images are `a_samples` and
    `b_samples`; a `ProbeError` unless both measured the same images in the same order."""
    if not np.array_equal(a_samples, b_samples):
        raise ProbeError("a paired comparison needs the same images in both results; these differ")
    return paired_above(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def paired_corruption_accuracy(a: xr.Dataset, b: xr.Dataset) -> tuple[bool, float]:
    """`paired_outcomes` on each image's accuracy over every corruption and severity of two
    corruption-probe results."""
    a_acc, b_acc = (ds["correct"].mean(("corruption", "severity")).values * 100.0 for ds in (a, b))
    return paired_outcomes(a["sample"].values, b["sample"].values, a_acc, b_acc)


def prime_table(runs: Runs) -> list[str]:
    """The PRIME ablation as a table (Modas et al. 2022; thesis §5.4): clean accuracy, corruption accuracy and
    mCE with their 95 % intervals for every model found, and the paired test of its corruption accuracy
    against standard training on the same images; empty when no model is."""
    found = [m for m in prime_primitives.MODELS if runs.has(f"prime_primitives/{m}.nc")]
    if not found:
        return []
    lines = ["Ablation (our corruptions of the Fashion-MNIST test images; mCE: mean corruption error, CIFAR-10-C "
             "style, unnormalised):", "",
             "| model | augmentation | clean accuracy % | corruption accuracy % | mCE % | n | paired p against "
             "standard |", "|" + " --- |" * 7]
    for name in found:
        ds = runs[f"prime_primitives/{name}.nc"]
        numbers = corruption_summary(ds)
        cells = [shown(tables.estimate(numbers, k))
                 for k in ("clean_accuracy", "corruption_accuracy", "mce")]
        p = ("—" if "standard" not in found or name == "standard" else
             f"{paired_corruption_accuracy(ds, runs['prime_primitives/standard.nc'])[1]:.2g}")
        lines.append("| " + " | ".join(cell(v) for v in (name.replace("_", " "), prime_primitives.MODELS[name],
                                                          *cells, str(numbers["samples"]), p)) + " |")
    return lines


TABLES = {"PRIME and its primitives": prime_table}   # section → the table shown under its claims


# ----------------------------------------------------------------------------- SparseFool, Lp corruptions, ESP, AdA

def sparsefool_rows(runs: Runs) -> list[Row]:
    """SparseFool's fooling rate and sparsity (Modas et al. 2019, Table 1) and its random baseline."""
    command = (f"python -m analyses.sparsefool_sweeps {RUNS}/frequency/standard.pt --data fashion-mnist --n 100 "
               f"--out {RUNS}/sparsefool")
    deviation = "Fashion-MNIST LeNet (the paper: MNIST LeNet, CIFAR-10, ImageNet)"

    def estimate(key: str) -> stats.Estimate:
        found = sparsefool.summary(runs["sparsefool/base.nc"])
        return tables.estimate(found, key)

    def fooling() -> Measured:
        ours = estimate("fooling_rate")
        return Measured(shown_n(ours, " %"), ours, direction=ours.value > 50.0)

    def sparsity() -> Measured:
        ours = estimate("median_perturbed_pixels")
        return Measured(shown_n(ours, " % of the pixels") + " fooled images", ours, direction=ours.value < FEW_PIXELS)

    def random() -> Measured:
        ours = estimate("fooling_rate")
        chance = stats.percent(runs["sparsefool/random_baseline.nc"]["random_fooled"].values)
        return Measured(f"random {shown(chance, ' %')}, SparseFool {shown(ours, ' %')} (n = {chance.n})",
                        full=above(ours, chance), direction=ours.value > chance.value)

    def claim(text: str, published: str, number: tuple[float, float] | None, files: tuple[str, ...],
              tolerance: float = TOLERANCE, comparable: bool = True) -> Claim:
        return Claim("SparseFool", text, SPARSEFOOL, published, number, comparable, deviation, files,
                     "sparsefool/histogram.png", command, tolerance)

    # the fooling rate is the algorithm's (every model of Table 1); the sparsity depends on the data
    return [evaluate(runs, claim(f"an unbounded SparseFool fools (almost) every image (tolerance "
                                 f"{FOOLING_TOLERANCE:.0%})", f"{SPARSEFOOL_FOOLING[0]:g} % (MNIST LeNet) to "
                                 f"{SPARSEFOOL_FOOLING[1]:g} % (CIFAR-10)", SPARSEFOOL_FOOLING, ("sparsefool/base.nc",),
                                 FOOLING_TOLERANCE), fooling),
            evaluate(runs, claim(f"it changes a few pixels (median over fooled images; direction: < {FEW_PIXELS:g} %)",
                                 f"{SPARSEFOOL_PIXELS:g} % (MNIST LeNet)", (SPARSEFOOL_PIXELS, SPARSEFOOL_PIXELS),
                                 ("sparsefool/base.nc",), comparable=False), sparsity),
            evaluate(runs, claim("random perturbations of the same sparsity fool far fewer images", "qualitative only",
                                 None, ("sparsefool/base.nc", "sparsefool/random_baseline.nc")), random)]


def lp_rows(runs: Runs) -> list[Row]:
    """The Lp-corruption paper: the 50 % overlap radii of Lp balls with the L2 ball of radius 4 in
    d = 3072 (one row per norm), and L0-noise training lowering mCE_Lp; ESP lowering mCE."""
    rows = []
    command = f"python -m probe.overlap --samples 1000 --out {RUNS}/overlap/overlap.nc"
    for p, value in PUBLISHED_OVERLAP_50.items():
        name = norm_name(p)
        claim = Claim("Lp-norm corruptions and ESP", f"50 % overlap radius: uniform {name} ball inside the L2 ball of "
                      "radius 4, d = 3072", f"{LP_PAPER}, overlap figure", f"{value:g}", (value, value), True,
                      "none (no model or data involved)", ("overlap/overlap.nc",), "overlap/lp_overlap.png", command)

        def measure(p=p) -> Measured:
            ds = runs["overlap/overlap.nc"]
            setting = int(ds.attrs["dim"]) == 3072 and parse_ball(str(ds.attrs["reference"])) == (2.0, 4.0)
            key = f"radius_50_{overlap.norm_key(p)}_in_reference"
            found = overlap.summary(ds)
            ours = tables.estimate(found, key)
            return Measured(shown_n(ours), ours, full=setting, direction=False)
        rows.append(evaluate(runs, claim, measure))

    lp_command = f"python -m analyses.lp_training --out {RUNS}/lp_training --data fashion-mnist"
    deviation = "Fashion-MNIST LeNet, 3 epochs (the papers: CIFAR-10 wide ResNets)"

    def lower(files: tuple[str, str], key: str, summary: Callable[[xr.Dataset], dict]) -> Callable[[], Measured]:
        def measure() -> Measured:
            found = [summary(runs[f]) for f in files]
            trained, base = (tables.estimate(f, key) for f in found)
            return Measured(f"{shown(trained, ' %')} vs standard {shown(base, ' %')} (n = {trained.n})",
                            full=above(base, trained), direction=trained.value < base.value)
        return measure

    def published(pair: tuple[float, float], what: str) -> str:
        return f"{pair[0]:g} → {pair[1]:g} % ({what})"

    l0, standard = "lp_training/lp_l0_noise.nc", "lp_training/lp_standard.nc"
    common = {m: f"lp_training/corruptions_{m}.nc" for m in ("standard", "l0_noise", "esp")}
    wrn = "standard → L0 training, CIFAR-10 WRN-28-4"
    for text, source, shown_published, files, key, summary in (
            ("L0-noise training (ε = 0.01) lowers mCE_Lp below standard training", f"{LP_PAPER}, CIFAR-10 results",
             published(LP_MCE_LP, wrn), (l0, standard), "mce_lp", lp.summary),
            ("L0-noise training lowers the error under imperceptible Lp noise (iCE)", f"{LP_PAPER}, CIFAR-10 results",
             published(LP_ICE, wrn), (l0, standard), "ice", lp.summary),
            ("L0-noise training lowers the common-corruption error (mCE)", f"{LP_PAPER}, CIFAR-10 results",
             published(LP_MCE, wrn), (common["l0_noise"], common["standard"]), "mce", corruption_summary),
            ("ESP training lowers the common-corruption error (mCE) below standard training", ESP_PAPER,
             published(ESP_ERROR, "standard → ESP, CIFAR-10-C, WRN-40-2"), (common["esp"], common["standard"]), "mce",
             corruption_summary)):
        # CIFAR-10 numbers do not compare with a Fashion-MNIST LeNet's: at most the direction reproduces
        claim = Claim("Lp-norm corruptions and ESP", text, source, shown_published, None, False, deviation, files,
                      "lp_training/lp_training.png", lp_command)
        rows.append(evaluate(runs, claim, lower(files, key, summary)))
    return rows


def ada_rows(runs: Runs) -> list[Row]:
    """AdA (Calian et al. 2022): lower mCE (more with AugMix), higher robust accuracy under its
    adversarial corruptions, Lp robustness, and the SSIM its corruption networks reach."""
    command = f"python -m analyses.ada_training --out {RUNS}/ada_training --data fashion-mnist"
    deviation = "Fashion-MNIST LeNet, 5 epochs, small EDSR pretrained here (the paper: CIFAR-10 ResNet-50, 300 epochs)"
    section = "AdA"

    def estimate(name: str, key: str, summary: Callable[[xr.Dataset], dict]) -> stats.Estimate:
        found = summary(runs[f"ada_training/{name}.nc"])
        return tables.estimate(found, key)

    def mce(better: str, worse: str) -> Callable[[], Measured]:
        def measure() -> Measured:
            ours, base = (estimate(f"corruptions_{m}", "mce", corruption_summary) for m in (better, worse))
            return Measured(f"{better} {shown(ours, ' %')}, {worse} {shown(base, ' %')} (n = {ours.n})",
                            full=above(base, ours), direction=ours.value < base.value)
        return measure

    def robust() -> Measured:
        key = f"robust_accuracy_nu_{radius_tag(ada_training.NU)}"
        ours, base = (estimate(f"adversarial_corruptions_{m}", key, ada_summary) for m in ("ada", "standard"))
        at_nu = [runs[f"ada_training/adversarial_corruptions_{m}.nc"].sel(nu=ada_training.NU, method="nearest")
                 for m in ("ada", "standard")]
        beats, p = paired_outcomes(*(ds["sample"].values for ds in at_nu),
                                   *(ds["correct"].values & ds["finite"].values for ds in at_nu))
        return Measured(f"AdA {shown(ours, ' %')}, standard {shown(base, ' %')} (n = {ours.n}; paired p = {p:.2g})",
                        full=above(ours, base) or beats, direction=ours.value > base.value)

    def pgd() -> Measured:
        ds = runs["ada_training/pgd_accuracy.nc"]
        flags = {attack: [ds["correct"].sel(model=m, attack=attack).values for m in ("ada", "standard")]
                 for attack in ds["attack"].values}
        found = {attack: [stats.percent(f) for f in pair] for attack, pair in flags.items()}
        paired = {attack: paired_above(*(f.astype(float) for f in pair)) for attack, pair in flags.items()}
        text = "; ".join(f"{attack}: AdA {shown(ada, ' %')}, standard {shown(base, ' %')} (paired p = "
                         f"{paired[attack][1]:.2g})" for attack, (ada, base) in found.items())
        return Measured(f"{text} (n = {ds.sizes['sample']})",
                        full=all(above(a, b) or paired[attack][0] for attack, (a, b) in found.items()),
                        direction=all(a.value > b.value for a, b in found.values()))

    def claim(text: str, published: str, source: str, files: tuple[str, ...]) -> Claim:
        # CIFAR-10 ResNet-50 numbers do not compare with a Fashion-MNIST LeNet's: at most the direction reproduces
        return Claim(section, text, source, published, None, published == "qualitative only", deviation, files,
                     "ada_training/ada_training.png", command)

    resnet = "CIFAR-10 pre-act ResNet-50"
    rows = [evaluate(runs, claim("AdA lowers mCE below standard training", f"AdA (EDSR) {ADA_MCE:g} % ({resnet})",
                                 f"{ADA}, Table 1",
                                 ("ada_training/corruptions_ada.nc", "ada_training/corruptions_standard.nc")),
                     mce("ada", "standard")),
            evaluate(runs, claim("AdA + AugMix lowers mCE further than AdA alone",
                                 f"{ADA_MCE:g} → {ADA_AUGMIX_MCE:g} % ({resnet})", f"{ADA}, Table 1",
                                 ("ada_training/corruptions_ada+augmix.nc", "ada_training/corruptions_ada.nc")),
                     mce("ada+augmix", "ada")),
            evaluate(runs, claim("AdA raises the robust accuracy under adversarial corruptions (ν = 0.015)",
                                 "qualitative only", f"{ADA}, Fig. 1b",
                                 ("ada_training/adversarial_corruptions_ada.nc",
                                  "ada_training/adversarial_corruptions_standard.nc")), robust),
            evaluate(runs, claim("AdA-trained models gain some L2 / L∞ robustness "
                                 f"(PGD, {ada_training.PGD_STEPS} steps)", "qualitative only", f"{ADA}, Table 2",
                                 ("ada_training/pgd_accuracy.nc",)), pgd)]
    reconstruction = (f"python -m analyses.corruption_net_reconstruction --out {RUNS}/reconstruction "
                      "--data fashion-mnist")
    for network, value in PUBLISHED_RECONSTRUCTION_SSIM.items():
        file = f"reconstruction/{network}_reconstruction.nc"

        def measure(file=file) -> Measured:
            ds = runs[file]
            ours, identity = stats.mean(ds["optimised"].values), stats.mean(ds["identity"].values)
            return Measured(f"{shown_n(ours)}; doing nothing {shown(identity)}", ours,
                            direction=ours.value > identity.value)
        rows.append(evaluate(runs, Claim(section, f"the {network.upper()} corruption network reconstructs the common "
                                         "corruptions (mean SSIM)", f"{ADA}, appendix F, Fig. 3", f"{value:g}",
                                         (value, value), False, "Fashion-MNIST, networks pretrained here",
                                         (file,), "reconstruction/ada_reconstruction.png", reconstruction), measure))
    return rows


SECTIONS = (t1_rows, t2_rows, frequency_rows, low_pass_invariance_rows, forgetting_rows, few_samples_rows, prime_rows,
            sparsefool_rows, lp_rows, ada_rows)


def collect(root: Path) -> list[Row]:
    """Every row of the page, read from the runs folder `root`."""
    runs = Runs(root)
    return [row for section in SECTIONS for row in section(runs)]


def tally(rows: Sequence[Row]) -> str:
    """'N reproduced, N qualitatively, N not, N pending of N claims'."""
    counts = {v: sum(r.verdict.startswith(v) for r in rows) for v in (REPRODUCED, QUALITATIVELY, NOT, PENDING)}
    return ", ".join(f"{n} {v}" for v, n in counts.items()) + f" of {len(rows)} claims"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


FIGURES = "reproduction"   # the page's copies of the figures, in this folder beside it


def figure_name(figure: str) -> str:
    """The copy's name: FOLDER_NAME.png, or NAME.png when NAME already starts with its folder's name."""
    path = Path(figure)
    folder = path.parent.name
    return path.name if not folder or path.stem.startswith(folder) else f"{folder}_{path.name}"


def copy_figures(rows: Sequence[Row], root: Path, page: Path) -> dict[str, str]:
    """Copy every row's figure found in `root` into FIGURES/ beside `page`; every other file there (an
    earlier copy of a figure now missing, or one no row links any more) is removed, so no figure
    outlives its run or its row.  Returns figure → link relative to the page."""
    folder = page.parent / FIGURES
    links = {}
    for figure in dict.fromkeys(row.claim.figure for row in rows if row.claim.figure):
        if (root / figure).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / figure, folder / figure_name(figure))
            links[figure] = f"{FIGURES}/{figure_name(figure)}"
    linked = {Path(link).name for link in links.values()}
    for stale in (folder.iterdir() if folder.is_dir() else ()):
        if stale.name not in linked:
            stale.unlink()
    return links


def render(rows: Sequence[Row], root: Path, page: Path, links: dict[str, str],
           tables: dict[str, list[str]] | None = None) -> str:
    """The Markdown page: the verdict rules, a count per verdict and one table per section; `links`:
    figure → link (`copy_figures`); `tables`: section → the lines of a table shown under its claims."""
    tables = tables or {}
    intro = (f"Generated by `python -m analyses.reproduction --runs {root} --out {page}` from the saved results in "
             f"`{root}` (`{RUNS}` in the commands below); do not edit by hand. Our numbers: value [95 % interval] "
             "(n); margins are the exact distances along DeepFool's direction.")
    lines = ["# Reproduction of the published findings", "", intro, "", f"Verdicts: {VERDICT_RULES}", "",
             f"Summary: {tally(rows)}.", ""]
    headers = ("claim", "source", "published", "ours", "deviation from the paper's recipe", "verdict", "figure",
               "command")
    section = None
    for row in rows:
        claim = row.claim
        if claim.section != section:
            if tables.get(section):
                lines += ["", *tables[section]]
            section = claim.section
            lines += ["", f"## {section}", "", "| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
        deviation = "; ".join(part for part in (claim.deviation, row.measured.deviation if row.measured else "")
                              if part)
        figure = f"[{Path(links[claim.figure]).name}]({links[claim.figure]})" if claim.figure in links else "—"
        verdict_text = row.verdict if row.verdict.startswith(PENDING) else f"**{row.verdict}**"
        values = (claim.claim, claim.source, claim.published, row.measured.text if row.measured else "—", deviation,
                  verdict_text, figure, f"`{claim.command}`")
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    if tables.get(section):
        lines += ["", *tables[section]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="the folder the reproduction analyses wrote to")
    parser.add_argument("--out", type=Path, default=Path("docs/REPRODUCTION.md"))
    args = parser.parse_args(argv)
    try:
        if not args.runs.is_dir():
            raise ProbeError(f"--runs {args.runs}: no such folder")
        rows = collect(args.runs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        runs = Runs(args.runs)
        tables = {section: table(runs) for section, table in TABLES.items()}
        args.out.write_text(render(rows, args.runs, args.out, copy_figures(rows, args.runs, args.out), tables),
                            encoding="utf-8")
    except ProbeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}: {tally(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
