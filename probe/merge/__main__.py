"""`python -m probe.merge OUT.nc SHARD.nc ...` (see `probe.commands.merge`)."""
import sys

from probe.commands.merge import main

if __name__ == "__main__":
    sys.exit(main())
