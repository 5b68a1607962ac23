"""Every probe's default figure, drawn from a real result of the embedded-sample LeNet, is
checked through matplotlib's objects: labelled axes, legends for every coloured group, no empty
panel, colour bars where colour encodes a value; saved PDFs embed no Type 3 font; the style
leaves the user's matplotlib settings alone."""
from __future__ import annotations

import argparse
import importlib
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import Collection
from matplotlib.colors import to_rgb
from matplotlib.contour import ContourSet
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

import probe
import probe.adversarial_corruptions.plot
import probe.corruptions.plot
import probe.lp.plot
import probe.masking.plot
import probe.sparsefool.plot
from probe import plot, registry, results, stats
from probe.plot import labelled, style

FIGURES = Path(__file__).resolve().parent.parent / "figures"
# ----------------------------------------------------------------------------- the checks

def _rgb(color) -> tuple:
    return tuple(round(c, 3) for c in to_rgb(color))


def _colours(artist) -> set[tuple]:
    """The colours an artist is drawn in (face and edge, without alpha)."""
    if isinstance(artist, Line2D):
        if artist.get_linestyle() not in ("None", "none", ""):
            return {_rgb(artist.get_color())}
        return {_rgb(artist.get_markeredgecolor())}          # markers only (e.g. error-bar caps)
    if isinstance(artist, Patch):
        face = artist.get_facecolor()
        return {_rgb(face)} if face[3] > 0 else {_rgb(artist.get_edgecolor())}
    if isinstance(artist, Collection):
        faces = [c for c in artist.get_facecolor() if c[3] > 0]
        return {_rgb(c) for c in (faces if len(faces) else artist.get_edgecolor())}
    return set()


def _legend_handles(figure) -> list:
    legends = list(figure.legends) + [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None]
    return [handle for legend in legends for handle in legend.legend_handles]


def _is_reference_line(artist) -> bool:
    """A grey line spanning the axes (axhline / axvline, drawn in axes coordinates): a reference, not data."""
    red, green, blue = _rgb(artist.get_color()) if isinstance(artist, Line2D) else (0, 1, 2)
    return red == green == blue and artist.get_transform() is not artist.axes.transData


def _data(ax) -> list:
    lines = [line for line in ax.lines if line.get_visible()]
    return lines + [c for c in ax.collections if c.get_visible()] + list(ax.patches) + list(ax.images)


def _mappables(ax) -> list:
    """Artists whose colour encodes a value: scalar images, meshes, filled contours."""
    found = [image for image in ax.images if np.ndim(image.get_array()) == 2]
    for collection in ax.collections:
        if isinstance(collection, ContourSet) and not collection.filled:
            continue
        if collection.get_array() is not None and np.ndim(collection.get_array()) >= 1:
            found.append(collection)
    return found


def figure_problems(figure) -> list[str]:
    """What keeps a figure from being publishable, by the issue's rules (empty list: none)."""
    problems = []
    handles = _legend_handles(figure)
    legend_colours = set().union(*[_colours(h) for h in handles]) if handles else set()
    colorbars = [ax for ax in figure.axes if getattr(ax, "_colorbar", None) is not None]   # matplotlib marks them so
    for i, ax in enumerate(figure.axes):
        name = f"axes {i} ('{ax.get_title()}')"
        if ax in colorbars:
            if not (ax.get_ylabel() or ax.get_xlabel()):
                problems.append(f"{name}: a colour bar without a label")
            continue
        if not ax.get_visible():
            problems.append(f"{name}: an empty (hidden) panel")
            continue
        artists = _data(ax)
        if not artists:
            problems.append(f"{name}: holds no data")
            continue
        photos = all(isinstance(a, AxesImage) and np.ndim(a.get_array()) == 3 for a in artists)
        if photos:
            if not (ax.get_xticklabels() and ax.get_yticklabels()) and not ax.get_title():
                problems.append(f"{name}: an image grid without row / column names")
        else:
            if not ax.get_ylabel():
                problems.append(f"{name}: no y label")
            siblings = ax.get_shared_x_axes().get_siblings(ax)
            if not any(other.get_xlabel() for other in siblings):
                problems.append(f"{name}: no x label")
        for mappable in _mappables(ax):
            if mappable.colorbar is None:
                problems.append(f"{name}: {type(mappable).__name__} encodes values without a colour bar")
        groups = set()
        for artist in artists:
            if not isinstance(artist, AxesImage) and not _is_reference_line(artist) and artist not in _mappables(ax):
                groups |= _colours(artist)
        if len(groups) > 1 and not colorbars:
            missing = groups - legend_colours
            if missing:
                problems.append(f"{name}: {len(missing)} of {len(groups)} coloured groups are in no legend")
        for artist in ax.lines + ax.collections:
            label = str(artist.get_label())
            if not label.startswith("_") and label not in [h.get_label() for h in handles]:
                problems.append(f"{name}: '{label}' is drawn but not in the legend")
    return problems


def pdf_font_types(data: bytes) -> list[str]:
    """The /Subtype of every font dictionary of a PDF (object streams decompressed)."""
    chunks = [data]
    for stream in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            chunks.append(zlib.decompress(stream.group(1)))
        except zlib.error:
            pass
    types = []
    for chunk in chunks:
        for match in re.finditer(rb"<<(?:[^<>]|<<[^<>]*>>)*?/Type\s*/Font\b(?:[^<>]|<<[^<>]*>>)*>>", chunk):
            subtype = re.search(rb"/Subtype\s*/(\w+)", match.group(0))
            types.append(subtype.group(1).decode() if subtype else "?")
    return types


# ----------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("name", ["train", *registry.PROBES])
def test_default_figure_is_publishable(name, probe_results, tmp_path):
    ax = plot.plot_result(probe_results[name])
    assert figure_problems(ax.figure) == []
    pdf = plot.save(ax, tmp_path / f"{name}.pdf")
    types = pdf_font_types(pdf.read_bytes())
    assert types and "Type3" not in types and set(types) <= {"Type0", "CIDFontType2", "TrueType"}, types


OWN_PLOTS = [name for name, entry in registry.PROBES.items()
             if entry.plot.split(":")[0] not in ("probe.adversarial_corruptions.plot", "probe.masking.plot")]


@pytest.mark.parametrize("name", ["train", *OWN_PLOTS])
def test_default_figure_draws_several_results_together(name, probe_results):
    ds = probe_results[name]
    ax = plot.plot_result({"first model": ds, "second model": ds})
    figure = ax.figure
    legends = list(figure.legends) + [a.get_legend() for a in figure.axes if a.get_legend() is not None]
    texts = [t.get_text() for legend in legends for t in legend.get_texts()] + [a.get_title() for a in figure.axes]
    for label in ("first model", "second model"):
        assert any(label in text for text in texts), (label, texts)
    assert figure_problems(figure) == []
    plt.close(figure)


def test_the_checks_catch_what_they_should():
    figure, axes = style.new_axes(ncols=3)
    axes[0].plot([0, 1], [0, 1], color="C0")
    axes[0].plot([0, 1], [1, 0], color="C1", label="drawn")                                  # no legend, no labels
    axes[1].imshow(np.random.default_rng(0).random((4, 4)))                                  # values, no colour bar
    problems = "\n".join(figure_problems(figure))
    for fragment in ("no y label", "no x label", "coloured groups are in no legend", "'drawn' is drawn but not",
                     "without a colour bar", "axes 2 ('')"):
        assert fragment in problems, problems
    axes[2].set_visible(False)
    assert "empty (hidden) panel" in "\n".join(figure_problems(figure))
    plt.close(figure)


def test_pdf_and_svg_embed_truetype_fonts_not_type3(probe_results, tmp_path):
    ax = plot.plot_result(probe_results["margins"])
    ax.set_title("λ ≥ ε·‖δ‖₂ — ∞")                              # glyphs beyond Latin-1
    figure = ax.figure
    pdf = plot.save(figure, tmp_path / "m.pdf", close=False)
    svg = plot.save(figure, tmp_path / "m.svg", close=False)
    png = plot.save(figure, tmp_path / "m.png")
    types = pdf_font_types(pdf.read_bytes())
    assert types and "Type3" not in types, types
    assert "<text" not in svg.read_text()                        # glyphs as paths: the same on every machine
    physical = png.read_bytes().split(b"pHYs", 1)[1]              # pixels per metre, x and y, then the unit (1: metre)
    assert round(int.from_bytes(physical[:4], "big") * 0.0254) == style.DPI and physical[8] == 1
    if shutil.which("pdffonts"):
        listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert "Type 3" not in listing and ("TrueType" in listing or "CID" in listing), listing
    with mpl.rc_context({"pdf.fonttype": 3}):                   # the parser sees Type 3 when it is there
        figure3, ax3 = plt.subplots()
        ax3.set_title("λ")
        figure3.savefig(tmp_path / "type3.pdf")
        plt.close(figure3)
    assert "Type3" in pdf_font_types((tmp_path / "type3.pdf").read_bytes())


def test_plots_leave_the_users_matplotlib_settings_alone(probe_results, tmp_path):
    before = dict(mpl.rcParams)
    backend = mpl.get_backend()
    with mpl.rc_context({"font.size": 17.0, "lines.linewidth": 3.0}):
        ax = plot.plot_result(probe_results["flatness"])
        assert mpl.rcParams["font.size"] == 17.0 and mpl.rcParams["lines.linewidth"] == 3.0
        assert ax.xaxis.get_major_ticks()[0].label1.get_fontsize() == style.RC["xtick.labelsize"]
        plot.save(ax, tmp_path / "f.png")
        _, mine = plt.subplots()
        assert mine.xaxis.get_major_ticks()[0].label1.get_fontsize() != style.RC["xtick.labelsize"]
        plt.close(mine.figure)
    assert dict(mpl.rcParams) == before and mpl.get_backend() == backend


def test_the_style_puts_back_only_its_own_settings():
    interactive = mpl.is_interactive()
    try:
        with style.context():
            mpl.interactive(not interactive)      # what a notebook's inline backend does when it starts up
        assert mpl.is_interactive() != interactive
    finally:
        mpl.interactive(interactive)


def test_labels_come_from_provenance_or_the_caller(probe_results):
    ds = probe_results["margins"]
    other = ds.copy()
    other.attrs = dict(ds.attrs, model_sha256="ffffff" + str(ds.attrs["model_sha256"])[6:])
    assert [label for label, _ in labelled(ds)] == [None]
    assert [label for label, _ in labelled({"mine": ds})] == ["mine"]
    assert [label for label, _ in labelled([ds, other])] == [f"lenet {str(ds.attrs['model_sha256'])[:6]}",
                                                             "lenet ffffff"]
    assert [label for label, _ in labelled([ds, ds])] == [f"lenet {str(ds.attrs['model_sha256'])[:6]} (1)",
                                                          f"lenet {str(ds.attrs['model_sha256'])[:6]} (2)"]


def test_margin_boxes_show_quantiles_and_non_converged_at_the_top(probe_results):
    ds = probe_results["margins"].copy(deep=True)
    margins = ds["margin"].values
    margins[-1, :3] = np.inf                                    # half of the last band did not converge
    ax = plot.plot_result(ds)
    boxes = list(ax.patches)
    assert len(boxes) == ds.sizes["subspace"]
    top = [line.get_ydata()[0] for line in ax.lines if _is_reference_line(line)]
    assert len(top) == 1                                        # the dotted 'not converged' line
    assert boxes[-1].get_path().vertices[:, 1].max() == pytest.approx(top[0])   # upper quartile non-converged
    band = int(np.flatnonzero(np.isfinite(margins).all(axis=1))[0])
    heights = boxes[band].get_path().vertices[:, 1]
    np.testing.assert_allclose([heights.min(), heights.max()], np.percentile(margins[band], [25, 75]))
    shares = 100 * (~np.isfinite(margins)).mean(axis=1)
    assert [t.get_text() for t in ax.texts if t.get_text().isdigit()] == [f"{s:.0f}" for s in shares if s > 0]
    finite = margins[np.isfinite(margins)]
    assert ax.get_yscale() == ("log" if np.percentile(finite, 95) / np.percentile(finite, 5) > 20 else "linear")
    assert "median" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "pixels in [0, 1]" in ax.get_ylabel()
    plt.close(ax.figure)


def test_flatness_density_is_not_floored(probe_results):
    ds = probe_results["flatness"]
    ax = probe.plot.flatness.spectrum(ds)
    drawn = ax.lines[0].get_ydata()
    positive = ds["density"].values > 0
    np.testing.assert_array_equal(np.asarray(drawn)[positive], ds["density"].values[positive])   # values as they are
    assert ax.get_ylim()[0] < np.percentile(ds["density"].values[positive], 50)
    plt.close(ax.figure)


# ----------------------------------------------------------------------------- figures/ scripts

def _write(folder, **found):
    for name, ds in found.items():
        results.save(ds, folder / f"{name}.nc")
    return folder


def _band_margins(ds, scale: float = 1.0, removed_from: int | None = None):
    """The margins of a real margins result, scaled; bands from `removed_from` on made non-converged."""
    margin = ds["margin"] * scale
    if removed_from is not None:
        margin = margin.where(ds["subspace"] < removed_from, np.inf)
    return margin


def _figure_inputs(kind: str, probe_results, folder):
    """Write into `folder` the results that figures.<kind> reads, in the layout of the analysis behind it."""
    margins = probe_results["margins"]
    rng = np.random.default_rng(0)
    if kind == "frequency_margins":
        energy = rng.dirichlet(np.ones(margins.sizes["subspace"]), size=3)
        return _write(folder, standard=margins.assign_attrs(model_label="standard", test_accuracy=85.0),
                      lowpass=margins.assign(margin=_band_margins(margins, removed_from=14)).assign_attrs(
                          model_label="low-pass 14"),
                      pgd_energy=xr.Dataset({"energy": (("epoch", "subspace"), energy, {"units": "1"})},
                                            coords={"epoch": [1, 2, 3], "band_start": margins["band_start"]}))
    if kind == "forgetting":
        stages = ["low ∪ high", "low only", "low ∪ high again"]
        margin = xr.concat([_band_margins(margins), _band_margins(margins, 2.0, removed_from=14),
                            _band_margins(margins, 1.2)], dim=xr.DataArray(stages, dims="stage"))
        accuracy = xr.DataArray([[88.0, 84.0], [89.0, 30.0], [87.5, 83.0]], dims=("stage", "test_set"),
                                coords={"test_set": ["low-pass", "high-pass"]}, attrs={"units": "%"})
        return _write(folder, forgetting=xr.Dataset({"margin": margin, "accuracy": accuracy}))
    if kind == "t2_transition":
        from analyses.t2_transition import summarise
        epsilon = np.round(np.arange(0, 1.01, 0.1), 1)
        along_u1 = np.where(epsilon[:, None, None] < 0.5, rng.lognormal(3, 0.3, (11, 2, 40)),
                            epsilon[:, None, None] / 2 + 0.01)
        along_u1[:3, :, :30] = np.inf
        margin = np.stack([along_u1, rng.lognormal(1, 0.2, (11, 2, 40))], axis=2)
        fits = np.ones((11, 2), bool)
        fits[1] = False                     # no seed fits at ε = 0.1: nothing drawn there
        fits[2, 1] = False
        tried = np.ones((11, 2), bool)
        tried[3:, 1] = False                # seed 1 tried only where seed 0 did not fit (here everywhere below 0.3)
        measured = fits & tried
        margin[~measured] = np.nan
        cells = ("epsilon", "seed")
        t2 = xr.Dataset({"tried": (cells, tried), "fits": (cells, fits & tried), "measured": (cells, measured),
                         "margin_refined": ((*cells, "subspace", "sample"), margin)},
                        coords={"epsilon": epsilon, "seed": [0, 1], "subspace": ["u1", "u2"]},
                        attrs={"fit_threshold": 99.0})
        return _write(folder, t2=summarise(t2))
    if kind == "few_samples":
        before = rng.lognormal(0, 0.4, 300)
        after = np.where(np.arange(300) < 100, before * 3, before * rng.lognormal(0, 0.05, 300))
        return _write(folder, few_samples=xr.Dataset({"margin": (("stage", "sample"), np.stack([before, after])),
                                                      "replaced": ("sample", np.arange(300) < 100)},
                                                     coords={"stage": ["before", "after"]}))
    if kind == "sparsefool_examples":
        lam = np.array([1.0, 2.0, 3.0])
        sweep = xr.Dataset({"fooling_rate": ("lam", [100.0, 100.0, 98.0]),
                            "median_pixel_percent": ("lam", [2.0, 1.4, 1.2]),
                            "mean_iterations": ("lam", [3.0, 2.0, 1.5]), "mean_time": ("lam", [0.1, 0.1, 0.1])},
                           coords={"lam": lam})
        return _write(folder, base=probe_results["sparsefool"], lambda_sweep=sweep)
    if kind == "lp_overlap":
        return _write(folder, overlap=probe_results["overlap"])
    if kind == "prime_severity":
        found = {f"{name}{suffix}": probe_results["corruptions"] for name in ("standard", "augmix", "prime")
                 for suffix in ("", "_bn")}
        return _write(folder, **found)
    if kind == "ada_ssim":
        return _write(folder, ac=probe_results["adversarial_corruptions"])
    if kind == "ada_training":
        from analyses.ada_training import attacks, pgd_table
        models = ["standard", "ada", "ada+augmix"]
        flags = {m: rng.random((len(attacks()), 60)) < 0.3 + 0.2 * i for i, m in enumerate(models)}
        args = argparse.Namespace(data="fashion-mnist-sample", epochs=1, seed=0)
        return _write(folder, pgd_accuracy=pgd_table(flags, args),
                      **{f"corruptions_{m}": probe_results["corruptions"] for m in models},
                      **{f"adversarial_corruptions_{m}": probe_results["adversarial_corruptions"] for m in models})
    if kind == "ada_reconstruction":
        corruptions = ["gaussian_noise", "brightness", "snow", "contrast"]
        found = {}
        for network, level in (("edsr", 0.9), ("cae", 0.8)):
            reached = np.clip(rng.normal(level, 0.1, (4, 3, 8)), 0, 1)
            found[f"{network}_reconstruction"] = xr.Dataset(
                {"identity": (("corruption", "severity", "image"), reached - 0.3),
                 "reconstruction": (("corruption", "severity", "image"), reached - 0.1),
                 "optimised": (("corruption", "severity", "image"), reached)},
                coords={"corruption": corruptions, "severity": [1, 3, 5]})
        return _write(folder, **found)
    if kind == "low_pass_invariance":
        variants = ["baseline", "low_pass_input"]
        share = rng.dirichlet(np.ones(margins.sizes["subspace"]), size=(2, 2))
        share[1, :, 14:] = 0.0                       # the control: no response in the removed bands
        summary = xr.Dataset({"band_energy_share": (("variant", "stage", "subspace"), share, {"units": "1"})},
                             coords={"variant": variants, "stage": ["init", "trained"],
                                     "band_start": ("subspace", margins["band_start"].values),
                                     "model_label": ("variant", ["baseline", "fixed low-pass input layer"])},
                             attrs={"low_pass": 14})
        return _write(folder, summary=summary,
                      baseline=margins.assign_attrs(variant="baseline", model_label="baseline", test_accuracy=80.0),
                      low_pass_input=margins.assign(margin=_band_margins(margins, removed_from=14)).assign_attrs(
                          variant="low_pass_input", model_label="fixed low-pass input layer"))
    raise AssertionError(kind)


SCRIPTS = {"frequency_margins": ["frequency_margins", "pgd_energy"], "forgetting": ["forgetting"],
           "t2_transition": ["t2_transition"], "few_samples": ["few_samples"],
           "sparsefool_examples": ["sparsefool_examples", "sparsefool_sparsity", "sparsefool_lambda"],
           "lp_overlap": ["lp_overlap"], "prime_severity": ["prime_severity"], "ada_ssim": ["ada_ssim"],
           "ada_reconstruction": ["ada_reconstruction"], "ada_training": ["ada_training"],
           "low_pass_invariance": ["low_pass_invariance"]}


def test_every_figure_script_is_listed_and_tested():
    scripts = sorted(path.stem for path in FIGURES.glob("*.py") if path.stem not in ("__init__", "common"))
    assert scripts == sorted(SCRIPTS)
    listed = (FIGURES / "README.md").read_text()
    assert all(f"figures.{name}" in listed for name in scripts)


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_figure_script_renders_its_figures(kind, probe_results, tmp_path):
    folder = _figure_inputs(kind, probe_results, tmp_path)
    module = importlib.import_module(f"figures.{kind}")
    drawn = module.draw(folder)
    assert sorted(drawn) == sorted(SCRIPTS[kind])
    for name, figure in drawn.items():
        assert figure_problems(figure) == [], name
        path = plot.save(figure, tmp_path / "out" / f"{name}.pdf")
        assert "Type3" not in pdf_font_types(path.read_bytes())


def test_figure_command_writes_the_files_and_names_a_missing_result(probe_results, tmp_path):
    folder = _figure_inputs("frequency_margins", probe_results, tmp_path / "runs")
    proc = subprocess.run([sys.executable, "-m", "figures.frequency_margins", str(folder), "--out",
                           str(tmp_path / "figs"), "--format", "png"], capture_output=True, text=True,
                          cwd=FIGURES.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["frequency_margins.png", "pgd_energy.png"]
    with pytest.raises(SystemExit, match="t2.nc: not found"):
        importlib.import_module("figures.t2_transition").draw(folder)


def test_analyses_write_each_figure_as_pdf_and_png_beside_it(probe_results, tmp_path):
    from figures import common, frequency_margins
    folder = _figure_inputs("frequency_margins", probe_results, tmp_path / "runs")
    open_before = plt.get_fignums()   # figures another test left open are not this one's
    written = frequency_margins.render(folder, tmp_path / "figs")
    assert sorted(p.name for p in written) == ["frequency_margins.pdf", "frequency_margins.png", "pgd_energy.pdf",
                                               "pgd_energy.png"]
    assert (tmp_path / "figs" / "pgd_energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "figs" / "pgd_energy.pdf").read_bytes()[:4] == b"%PDF"
    assert plt.get_fignums() == open_before and common.ANALYSIS_FORMATS == ("pdf", "png")


# ----------------------------------------------------------------------------- intervals in the default figures

def _bands_at(ax, x: float) -> list[tuple[float, float]]:
    """(low, high) at `x` of every shaded band (fill_between) of an axes."""
    found = []
    for collection in ax.collections:
        for path in collection.get_paths():
            at = path.vertices[np.isclose(path.vertices[:, 0], x)]
            if len(at) >= 2:
                found.append((float(at[:, 1].min()), float(at[:, 1].max())))
    return found


def _wilson_percent(correct, finite) -> tuple[float, float]:
    """The Wilson interval (%) of the correct share among finite samples, counted here."""
    correct, finite = np.asarray(correct, bool), np.asarray(finite, bool)
    low, high = stats.wilson(int((correct & finite).sum()), int(finite.sum()))
    return 100 * low, 100 * high


def _has_band(ax, x: float, expected) -> bool:
    return any(np.allclose(band, expected, atol=1e-9) for band in _bands_at(ax, x))


def _legend_text(figure) -> str:
    legends = list(figure.legends) + [a.get_legend() for a in figure.axes if a.get_legend() is not None]
    return "\n".join(t.get_text() for legend in legends for t in legend.get_texts())


def test_ada_training_figure_draws_each_accuracy_with_its_interval(probe_results, tmp_path):
    from figures import ada_training
    folder = _figure_inputs("ada_training", probe_results, tmp_path)
    figure = ada_training.draw(folder)["ada_training"]
    common, adversarial, pgd = figure.axes
    table = results.load(folder / "pgd_accuracy.nc")
    for k, attack in enumerate(table["attack"].values):   # one error bar per model, the Wilson interval
        bars = pgd.containers[k].lines[2][0].get_segments()
        for segment, model in zip(bars, ["standard", "ada", "ada+augmix"]):
            expected = stats.percent(table["correct"].sel(model=model, attack=attack).values)
            np.testing.assert_allclose(segment[:, 1], [expected.low, expected.high])
    numbers = probe.corruptions.summary(probe_results["corruptions"])
    clean = common.containers[0].lines[2][0].get_segments()[0]
    np.testing.assert_allclose(clean[:, 1], [numbers["clean_accuracy_low"], numbers["clean_accuracy_high"]])
    assert all(f"(n = {n})" in ax.get_title() for ax, n in ((common, numbers["samples"]), (pgd, 60)))
    assert [t.get_text() for t in pgd.get_xticklabels()] == ["standard", "ada", "ada+augmix"]
    plt.close(figure)


def test_corruption_severity_curves_show_intervals_and_n(probe_results):
    ds = probe_results["corruptions"]
    ax = probe.corruptions.plot.severity_curves(ds)
    assert _has_band(ax, 0, _wilson_percent(ds["clean_correct"].values, ds["clean_finite"].values))
    cells = ds["correct"].transpose("corruption", "severity", "sample").values
    for j, severity in enumerate(ds["severity"].values):   # around the mean over corruptions, not a point
        (low, high), = _bands_at(ax, severity)
        assert low < cells[:, j].mean() * 100 < high and high - low > 1
    numbers = probe.corruptions.summary(ds)
    assert f"n = {ds.sizes['sample']}" in _legend_text(ax.figure)
    assert f"[{numbers['mce_low']:.1f}, {numbers['mce_high']:.1f}]" in _legend_text(ax.figure)
    plt.close(ax.figure)


def test_masking_accuracies_show_wilson_bands(probe_results):
    ds = probe_results["masking"]
    ax = probe.masking.plot.accuracies(ds)
    for i, radius in enumerate(ds["radius"].values):
        for k in (0, -1):
            expected = _wilson_percent(ds["correct"].values[i, k], ds["finite"].values[i, k])
            assert _has_band(ax, radius, expected), (radius, k, _bands_at(ax, radius), expected)
        assert _has_band(ax, radius, _wilson_percent(ds["noise_correct"].values[i], ds["noise_finite"].values[i]))
    assert f"n = {ds.sizes['sample']}" in _legend_text(ax.figure)
    plt.close(ax.figure)


def test_ada_robust_accuracy_shows_wilson_band(probe_results):
    ds = probe_results["adversarial_corruptions"]
    ax = probe.adversarial_corruptions.plot.robust_accuracy(ds)
    for i, nu in enumerate(ds["nu"].values):
        assert _has_band(ax, nu, _wilson_percent(ds["correct"].values[i], ds["finite"].values[i]))
    low, high = _wilson_percent(ds["clean_correct"].values, ds["clean_finite"].values)
    assert f"[{low:.1f}, {high:.1f}]" in _legend_text(ax.figure) and f"n = {ds.sizes['sample']}" in _legend_text(
        ax.figure)
    plt.close(ax.figure)


def test_lp_accuracy_shows_wilson_bands(probe_results):
    ds = probe_results["lp"]
    axes = probe.lp.plot.accuracy(ds).figure.axes
    for panel, p in zip(axes, ds["p"].values):
        cell = ds.sel(p=p)
        for strength in ds["strength"].values:
            one = cell.sel(strength=strength)
            assert _has_band(panel, strength, _wilson_percent(one["correct"].values, one["finite"].values))
    plt.close(axes[0].figure)


def test_sparsefool_overview_of_one_result_in_a_list_or_dict_draws_its_examples(probe_results):
    ds = probe_results["sparsefool"]
    for given in (ds, [ds], {"model": ds}):    # one result however it is passed: examples beside the histogram
        ax = probe.sparsefool.plot.overview(given)
        assert len(ax.figure.axes) >= 2 and ax.images, type(given)
        plt.close(ax.figure)


def test_sparsefool_histogram_shows_rate_and_median_intervals(probe_results):
    ds = probe_results["sparsefool"]
    ax = probe.sparsefool.plot.histogram(ds)
    finite = ~ds["non_finite"].values.astype(bool)
    fooled = ds["fooled"].values.astype(bool) & finite
    low, high = _wilson_percent(fooled, finite)
    text = _legend_text(ax.figure)
    assert f"[{low:.3g}, {high:.3g}] of n = {int(finite.sum())}" in text, text
    shares = np.sort(ds["perturbed_pixel_fraction"].values[fooled])
    lower, upper = stats.order_ranks(len(shares), 0.5)      # the median's interval: two order statistics
    span, = [p for p in ax.patches if isinstance(p, Polygon)]
    left, right = span.get_xy()[:, 0].min(), span.get_xy()[:, 0].max()
    x_low, x_high = ax.get_xlim()
    assert left == pytest.approx(shares[lower - 1] if lower >= 1 else x_low)
    assert right == pytest.approx(shares[upper - 1] if upper <= len(shares) else x_high)
    assert "95 % CI of the median" in text
    plt.close(ax.figure)
