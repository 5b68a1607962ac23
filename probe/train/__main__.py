"""`python -m probe.train ...` (see `probe.commands.train`)."""
import sys

from probe.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
