"""The Lp-corruption paper's overlap figure: the share of uniform samples of an Lp ball that lies
inside the L2 ball of radius 4 (and the reverse) against the Lp radius, d = 3072, one panel per
norm; the fraction falls from 100 % to 0 % over a narrow band of radii (concentration of measure).
The published 50 % points are drawn as grey dotted lines when the result uses the
published reference ball and dimension.

Reads `DIR/overlap.nc`, written by `python -m probe.overlap --samples 1000 --out DIR/overlap.nc`.
Writes `lp_overlap.pdf`:

    python -m figures.lp_overlap DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

import math
from pathlib import Path

from matplotlib.lines import Line2D

from figures import common
from probe import results
from probe.balls import parse_ball
from probe.overlap import plot as overlap_plots
from probe.plot import style

COMMAND = "python -m probe.overlap --samples 1000 --out DIR/overlap.nc"
# L2 ball of radius 4, d = 3072
PUBLISHED_50 = {math.inf: 0.127, 1.0: 161.0, 0.5: 2.7e5, 10.0: 0.2315, 50.0: 0.139, 0.0: 0.017}


@style.styled
def draw(folder: Path) -> dict:
    """{'lp_overlap': one panel per norm}."""
    ds = results.load(common.need(Path(folder) / "overlap.nc", COMMAND))
    first = overlap_plots.overlap(ds)
    if int(ds.attrs.get("dim", 0)) == 3072 and parse_ball(str(ds.attrs.get("reference", "l2:4"))) == (2.0, 4.0):
        for panel, p in zip(first.figure.axes, ds["p"].values):
            if float(p) in PUBLISHED_50:
                panel.axvline(PUBLISHED_50[float(p)], color="0.4", lw=0.8, ls=":")
        legend = first.figure.legends[0]
        handles = list(legend.legend_handles) + [Line2D([], [], color="0.4", lw=0.8, ls=":")]
        labels = [t.get_text() for t in legend.get_texts()] + ["published 50 % point"]
        legend.remove()
        first.figure.legend(handles, labels, loc="outside upper center", ncol=len(handles), fontsize=6)
    return {"lp_overlap": first.figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
