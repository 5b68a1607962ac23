"""`python -m probe.corruptions CHECKPOINT ...` (see `probe.corruptions.command`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("corruptions"))
