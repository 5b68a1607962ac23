"""AdA Fig. 3 (appendix F of Calian et al., ICLR 2022): how well each corruption network expresses
each common corruption — the SSIM between the corrupted image and the network's output after
optimising a weight offset δ, mean ± standard deviation over images and severities per corruption,
one bar per network; the SSIM of doing nothing (the clean image itself) marked, and the published
overall means (EDSR 0.91, CAE 0.84) dashed.

Reads what `python -m analyses.corruption_net_reconstruction --out DIR` wrote: one
`NETWORK_reconstruction.nc` per corruption network, with `optimised` (the SSIM reached) and
`identity` (the SSIM of the clean image) over (`corruption`, `severity`, `image`).  Writes
`ada_reconstruction.pdf`:

    python -m figures.ada_reconstruction DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from figures import common
from probe import results
from probe.plot import style

COMMAND = "python -m analyses.corruption_net_reconstruction --out DIR"
SUFFIX = "_reconstruction.nc"
PUBLISHED = {"edsr": 0.91, "cae": 0.84}   # mean SSIM over all corruptions


def _rank(network: str) -> int:
    """The paper's order: EDSR, then the CAE, then any other network."""
    return list(PUBLISHED).index(network.lower()) if network.lower() in PUBLISHED else len(PUBLISHED)


@style.styled
def draw(folder: Path) -> dict:
    """{'ada_reconstruction': SSIM per corruption, one bar per corruption network}."""
    paths = sorted(Path(folder).glob(f"*{SUFFIX}"), key=lambda p: (_rank(p.name[:-len(SUFFIX)]), p.name))
    found = {path.name[:-len(SUFFIX)]: results.load(path) for path in paths}
    if not found:
        raise SystemExit(f"{folder}: no *{SUFFIX} files (written by `{COMMAND}`)")
    corruptions = [str(c) for c in next(iter(found.values()))["corruption"].values]
    figure, ax = style.new_axes(style.TWO_COLUMN, aspect=0.32, layout="constrained")
    width = 0.8 / len(found)
    x = np.arange(len(corruptions))
    handles = []
    for i, (network, ds) in enumerate(found.items()):
        color, where = style.color(i), x + (i - (len(found) - 1) / 2) * width
        reached = ds["optimised"].sel(corruption=corruptions)
        over = [d for d in reached.dims if d != "corruption"]
        ax.bar(where, reached.mean(over).values, width=width, yerr=reached.std(over).values, color=color,
               error_kw={"ecolor": "0.2", "elinewidth": 0.6, "capsize": 1.5})
        ax.plot(where, ds["identity"].sel(corruption=corruptions).mean(over).values, ls="none", marker="_", ms=5,
                mew=1.2, color="black")
        handles.append(Patch(color=color, label=f"{network.upper()}: mean {float(reached.mean()):.2f}"))
        if network.lower() in PUBLISHED:
            ax.axhline(PUBLISHED[network.lower()], color=color, lw=0.8, ls="--")
            handles.append(Line2D([], [], color=color, lw=0.8, ls="--",
                                  label=f"{network.upper()} published mean {PUBLISHED[network.lower()]:.2f}"))
    handles += [Line2D([], [], color="0.2", lw=0.6, marker="_", label="± 1 s.d. over images and severities"),
                Line2D([], [], color="black", ls="none", marker="_", ms=5, mew=1.2, label="the clean image itself")]
    ax.set_xticks(x, [c.replace("_", " ") for c in corruptions], rotation=35, ha="right")
    ax.set_xlabel("corruption")
    ax.set_ylabel("SSIM to the corrupted image")
    ax.set_ylim(0, 1.05)
    figure.legend(handles=handles, loc="outside upper center", ncol=3)
    return {"ada_reconstruction": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
