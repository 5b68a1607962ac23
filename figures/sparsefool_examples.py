"""SparseFool's example and sparsity figures (Modas et al., CVPR 2019, Figs. 1 and 4 style): clean
images, their SparseFool adversarial images and the perturbations (one colour scale), the
distribution of the share of perturbed pixels, and — when the sweep was run — the trade-off of
λ between sparsity, fooling rate and iterations.

Reads what `python -m analyses.sparsefool_sweeps CHECKPOINT --out DIR` wrote: `base.nc` (a
SparseFool result with perturbations) and `lambda_sweep.nc`.  Writes `sparsefool_examples.pdf`,
`sparsefool_sparsity.pdf` (and `sparsefool_lambda.pdf`):

    python -m figures.sparsefool_examples DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

from figures import common
from probe import results
from probe.plot import style
from probe.sparsefool import plot as sparsefool_plots

COMMAND = "python -m analyses.sparsefool_sweeps CHECKPOINT --out DIR"


@style.styled
def draw(folder: Path) -> dict:
    """{'sparsefool_examples', 'sparsefool_sparsity' (and 'sparsefool_lambda')}: figures."""
    base = results.load(common.need(Path(folder) / "base.nc", COMMAND))
    drawn = {"sparsefool_examples": sparsefool_plots.examples(base, n=8).figure,
             "sparsefool_sparsity": sparsefool_plots.histogram(base).figure}
    if (Path(folder) / "lambda_sweep.nc").exists():
        drawn["sparsefool_lambda"] = sparsefool_plots.lambda_sweep(
            results.load(Path(folder) / "lambda_sweep.nc")).figure
    return drawn


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
