"""`python -m probe.masking CHECKPOINT ...` (see `probe.masking.command`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("masking"))
