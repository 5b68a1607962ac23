"""`python -m probe.lp CHECKPOINT ...` (see `probe.lp.command`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("lp"))
