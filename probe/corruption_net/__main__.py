"""`python -m probe.corruption_net ...` (see `probe.commands.corruption_net`)."""
import sys

from probe.commands.corruption_net import main

if __name__ == "__main__":
    sys.exit(main())
