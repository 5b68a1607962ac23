"""`python -m probe.margins CHECKPOINT ...` (see `probe.commands.margins`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("margins"))
