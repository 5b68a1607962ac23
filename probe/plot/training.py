"""Training curves: accuracy (and loss) per epoch from `probe='train'` histories."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from probe.plot import Results, labelled, style


@style.styled
def curves(results: Results, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Train (dashed) and test (solid) accuracy against epoch; for one history the training loss on
    a twin axis, for several (list, or dict label → history) one colour per run.  Returns the
    accuracy axes."""
    if ax is None:
        _, ax = style.new_axes()
    runs = labelled(results)
    if label is not None and len(runs) == 1:
        runs = [(label, runs[0][1])]
    single = len(runs) == 1
    handles = []
    for i, (name, ds) in enumerate(runs):
        epochs = ds["epoch"].values
        train_color, test_color = (style.color(0), style.color(1)) if single else (style.color(i),) * 2
        ax.plot(epochs, ds["train_accuracy"].values, ls="--", marker="o", ms=2, color=train_color)
        ax.plot(epochs, ds["test_accuracy"].values, marker="s", ms=2, color=test_color)
        prefix = f"{name}: " if name else ""
        if single:
            handles += [Line2D([], [], ls="--", marker="o", ms=2, color=train_color, label=f"{prefix}train accuracy"),
                        Line2D([], [], marker="s", ms=2, color=test_color, label=f"{prefix}test accuracy")]
        else:
            handles.append(Line2D([], [], color=test_color, marker="s", ms=2, label=name))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    if single:
        loss_ax = ax.twinx()
        loss_ax.plot(runs[0][1]["epoch"].values, runs[0][1]["train_loss"].values, ls=":", color=style.color(2))
        loss_ax.set_ylabel("training loss (nats)")
        loss_ax.grid(False)
        loss_ax.spines["right"].set_visible(True)
        handles.append(Line2D([], [], ls=":", color=style.color(2), label="training loss"))
    else:
        handles += [Line2D([], [], color="0.3", ls="--", label="train"), Line2D([], [], color="0.3", label="test")]
    # above the panel: the curves cross it
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    return ax
