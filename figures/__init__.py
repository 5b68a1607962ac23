"""Publication figures rendered from saved results (repository scripts; not installed).

Each module renders one published figure from the `.nc` files that the matching `analyses/`
script (or probe command) wrote: `python -m figures.<name> RESULTS_DIR [--out DIR] [--format pdf]`.
The plots themselves live in the package (`probe.plot`); these scripts arrange them as the papers
do.  See figures/README.md for the list and the commands that make the results.
"""
