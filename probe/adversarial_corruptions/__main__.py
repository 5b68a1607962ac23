"""`python -m probe.adversarial_corruptions CHECKPOINT ...` (see `probe.adversarial_corruptions.command`)."""
import sys

from probe.commands import probe_main

if __name__ == "__main__":
    sys.exit(probe_main("adversarial_corruptions"))
