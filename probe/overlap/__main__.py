"""`python -m probe.overlap ...` (see `probe.commands.overlap`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("overlap"))
