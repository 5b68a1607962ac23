"""Training curves: loss and accuracy per epoch from a `probe='train'` history."""
from __future__ import annotations

from probe.plot import style


def curves(ds, ax=None, label: str | None = None):
    """Train and test accuracy against epoch (loss on a twin axis); returns the accuracy axes."""
    if ax is None:
        _, ax = style.new_axes()
    epochs = ds["epoch"].values
    ax.plot(epochs, ds["train_accuracy"].values, marker="o", ms=3, color=style.color(0),
            label=f"{label + ' ' if label else ''}train")
    ax.plot(epochs, ds["test_accuracy"].values, marker="s", ms=3, color=style.color(1),
            label=f"{label + ' ' if label else ''}test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    loss_ax = ax.twinx()
    loss_ax.plot(epochs, ds["train_loss"].values, ls="--", color=style.color(2), label="train loss")
    loss_ax.set_ylabel("training loss")
    loss_ax.grid(False)
    handles, labels = ax.get_legend_handles_labels()
    more_h, more_l = loss_ax.get_legend_handles_labels()
    ax.legend(handles + more_h, labels + more_l, loc="center right")
    return ax
