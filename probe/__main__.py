"""`python -m probe <probe> ...` is the same as `python -m probe.<probe> ...`."""
from __future__ import annotations

import importlib
import importlib.util
import sys

COMMANDS = {
    "train": "probe.train",
    "evaluate": "probe.evaluate",
    "margins": "probe.margins",
    "sparsefool": "probe.sparsefool",
    "lp": "probe.lp",
    "overlap": "probe.overlap",
    "flatness": "probe.flatness",
    "corruptions": "probe.corruptions",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = {name: mod for name, mod in COMMANDS.items() if importlib.util.find_spec(mod)}
    if not argv or argv[0] not in available:
        print(f"usage: python -m probe {{{','.join(available)}}} ...", file=sys.stderr)
        return 2
    module = importlib.import_module(available[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
