"""`python -m probe.evaluate CHECKPOINT ...` (see `probe.evaluate.command`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("evaluate"))
