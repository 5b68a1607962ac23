"""`python -m example_probe CHECKPOINT ...`: the probe's command line, registered first (a probe
inside the package needs no registering: its line in `probe.registry` does it)."""
import sys

from example_probe.entry import ENTRY
from probe import registry
from probe.commands import probe_main

if __name__ == "__main__":
    registry.register(ENTRY)
    sys.exit(probe_main(ENTRY.name))
