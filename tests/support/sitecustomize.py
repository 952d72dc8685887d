"""Loaded by Python at start-up when tests/support is on PYTHONPATH: hides the packages named in BLOCK_MODULES.

Lets a test run a command as it would run in an environment without an optional extra.
"""

import os
import sys

BLOCKED = {name for name in os.environ.get("BLOCK_MODULES", "").split(",") if name}


class _Hide:
    """A meta-path finder that answers "not installed" for the blocked top-level packages."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hide())
