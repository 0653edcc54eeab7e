"""One instance of a processing script run on several: ``python -m
shipyard.processing.instance SCRIPT [ARGUMENTS...]``.

The instances are started as the ranks of :func:`shipyard.training.distributed.run_ranks`;
this sets ``SHIPYARD_INSTANCE_INDEX`` from the rank, then runs the script as ``__main__``.
"""

from __future__ import annotations

import os
import runpy
import sys


def main(argv: list[str]) -> None:
    os.environ["SHIPYARD_INSTANCE_INDEX"] = os.environ.get("SHIPYARD_RANK", "0")
    script, *arguments = argv
    sys.argv = [script, *arguments]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
