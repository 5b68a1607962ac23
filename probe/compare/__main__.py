"""`python -m probe.compare A.nc B.nc ...` (see `probe.commands.compare`)."""
import sys

from probe.commands.compare import main

if __name__ == "__main__":
    sys.exit(main())
