"""Figures of the gradient-masking probe (`probe='masking'` results).

- `overview`: the default plot, `losses` and `accuracies` side by side;
- `losses`: mean PGD loss against the radius, one line per step count (it should rise with both);
- `accuracies`: accuracy against the radius under the one-step attack, the iterative attack,
  random noise of the attack's norm and (with a baseline) the transferred attack.

Each takes one result, a list or a mapping {label: result} (one colour per model).
"""
from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes

from probe.plot import Results, intervals, labelled, style

ATTACKS = (("one-step", "o", "--"), ("iterative", "s", "-"), ("noise", "^", ":"), ("transfer", "D", "-."))


@style.styled
def losses(results: Results, ax: Axes | None = None) -> Axes:
    """Mean cross-entropy under PGD against the radius, one line per step count (darker: more steps)."""
    if ax is None:
        _, ax = style.new_axes()
    models = labelled(results)
    for i, (label, ds) in enumerate(models):
        steps = ds["steps"].values
        for j, count in enumerate(steps):
            name = f"{count} step{'s' if count > 1 else ''}"
            ax.plot(ds["radius"].values, ds["mean_loss"].values[:, j], marker="o", ms=3, color=style.color(i),
                    alpha=0.35 + 0.65 * (j + 1) / len(steps), ls="--" if count == 1 else "-",
                    label=f"{label}: {name}" if label else name)
        ax.axhline(float(ds["clean_mean_loss"]), color=style.color(i), lw=0.6, ls=":")
    ax.set_xlabel(f"PGD radius ({models[0][1].attrs.get('param_norm', 'l2')})")
    ax.set_ylabel("mean cross-entropy (nats)")
    ax.set_title("loss should rise with steps and radius")
    ax.legend(fontsize=6)
    return ax


@style.styled
def accuracies(results: Results, ax: Axes | None = None) -> Axes:
    """Accuracy against the radius: one-step vs iterative PGD vs random noise (vs transfer), each
    with its 95 % Wilson band from the per-sample outcomes; the clean accuracy dotted, n in the legend."""
    if ax is None:
        _, ax = style.new_axes()
    models = labelled(results)
    for i, (label, ds) in enumerate(models):
        color = style.color(i)
        outcomes = {"one-step": ("accuracy", "correct", "finite", 0),
                    "iterative": ("accuracy", "correct", "finite", -1),
                    "noise": ("noise_accuracy", "noise_correct", "noise_finite", None)}
        if "transfer_accuracy" in ds:
            outcomes["transfer"] = ("transfer_accuracy", "transfer_correct", "transfer_finite", None)
        for name, marker, line in ATTACKS:
            if name not in outcomes:
                continue
            accuracy, correct, finite, steps = outcomes[name]
            cells = {} if steps is None else {"steps": steps}
            text = f"PGD-{int(ds['steps'].values[-1])}" if name == "iterative" else name
            ax.plot(ds["radius"].values, ds[accuracy].isel(cells).values, marker=marker, ms=3, ls=line, color=color,
                    label=f"{label}: {text}" if label else text)
            intervals.band(ax, ds["radius"].values, *intervals.wilson_percent(
                *(ds[v].isel(cells).transpose("radius", "sample").values for v in (correct, finite))), color)
        ax.axhline(float(ds["clean_accuracy"]), color=color, lw=0.6, ls=":")
        ax.plot([], [], color=color, lw=0.6, ls=":",
                label=f"{label + ': ' if label else ''}clean, n = {ds.sizes['sample']}")
    ax.set_xlabel(f"radius ({models[0][1].attrs.get('param_norm', 'l2')}; noise: the attack's L2 norm)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.set_title("attacks should beat noise; iterative beats one-step")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, intervals.band_handle()], fontsize=6, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))   # beside the panel: the bands fill it
    return ax


@style.styled
def overview(results: Results, ax: Axes | Sequence[Axes] | None = None) -> Axes:
    """`losses` and `accuracies` side by side (`ax`: None for a new figure, or two axes); returns
    the first panel."""
    if ax is None:
        _, axes = style.new_axes(style.TWO_COLUMN, aspect=0.6, ncols=2, layout="constrained")
    else:
        axes = style.axes_for(ax, 2, "masking.overview")
    losses(results, ax=axes[0])
    accuracies(results, ax=axes[1])
    return axes[0]
