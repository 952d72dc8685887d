"""A job module for tests/local/test_local_warm.py: reports what it was started with, then exits as asked."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    """`warm_child CODE`: print argv, cwd, an environment variable and whether torch was imported before main ran;
    `warm_child sleep`: sleep until terminated."""
    if sys.argv[1] == "sleep":
        print("sleeping", flush=True)
        time.sleep(600)
    warm = "torch" in sys.modules
    import torch

    torch.set_num_threads(2)
    product = float((torch.ones(64, 64) @ torch.ones(64, 64)).sum())  # torch's threads work after the fork
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "variable": os.environ.get("WARM_TEST_VARIABLE"),
                      "warm": warm, "threads": torch.get_num_threads(), "product": product}))
    print("a line on stderr", file=sys.stderr)
    raise SystemExit(int(sys.argv[1]))
