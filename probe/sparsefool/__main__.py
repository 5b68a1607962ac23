"""`python -m probe.sparsefool CHECKPOINT ...` (see `probe.sparsefool.command`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("sparsefool"))
