"""`python -m probe.plot RESULT.nc -o FIG.pdf`: render a result with its default plot."""
import sys

from probe.commands.plot import main

if __name__ == "__main__":
    sys.exit(main())
