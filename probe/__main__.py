"""`python -m probe <command> ...` is the same as `python -m probe.<command> ...`."""
import sys

from probe.commands import main

if __name__ == "__main__":
    sys.exit(main())
