"""`python -m probe.report CHECKPOINT --data SPEC --out DIR ...` (see `probe.commands.report`)."""
import sys

from probe.commands.report import main

if __name__ == "__main__":
    sys.exit(main())
