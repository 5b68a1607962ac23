"""`python -m probe.corruptions CHECKPOINT --data SPEC ...` (see `probe.corruptions.probe`)."""
from probe.corruptions.probe import main

if __name__ == "__main__":
    raise SystemExit(main())
