"""Loaded by Python at start-up when tests/support is on PYTHONPATH: test hooks for commands a test runs in other
processes.

- BLOCK_MODULES hides the packages it names, so a command runs as it would without an optional extra.
- SERVE_WITH_CHAT_TEMPLATE makes the local scoring servers (generator/local/pyfunc.py ChatModel.chat, the one-request
  path; the evaluation answers with chat_many) format prompts with that chat template instead of the model's own: a
  deployment that does not serve the model that was evaluated, for the serving-parity test.
"""

import importlib.machinery
import os
import sys

BLOCKED = {name for name in os.environ.get("BLOCK_MODULES", "").split(",") if name}
TEMPLATE = os.environ.get("SERVE_WITH_CHAT_TEMPLATE", "")


class _Hide:
    """A meta-path finder that answers "not installed" for the blocked top-level packages."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


class _ServeOtherTemplate:
    """A meta-path finder that loads generator.local.pyfunc as usual, then makes ChatModel.chat use TEMPLATE."""

    def find_spec(self, name, path=None, target=None):
        if name != "generator.local.pyfunc":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            original = module.ChatModel.chat

            def chat(self, conversation, parameters=None, deadline_s=None):
                self.tokenizer.chat_template = TEMPLATE
                return original(self, conversation, parameters, deadline_s)

            module.ChatModel.chat = chat

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Hide())
if TEMPLATE:
    sys.meta_path.insert(0, _ServeOtherTemplate())
