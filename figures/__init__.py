"""Publication figures rendered from saved results (repository scripts; not installed).

Each module renders one published figure from the `.nc` files that the matching `analyses/`
script wrote: `python -m figures.<name> RESULTS_DIR [-o FIG.pdf]`.  See figures/README.md.
"""
