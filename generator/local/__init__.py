"""The local runtime: what makes `--target local` real on this CPU machine.

The emulated workspace (generator/emulator/) stores resources and answers the real MLClient; this package is its
backend (executor.py, behind the emulator's Backend protocol): pipeline jobs fine-tune or evaluate the catalog's
stand-in model (standin.py) in processes forked from a warm one (warm.py), deployments serve it (scoring.py), and
the daemon (daemon.py) keeps the workspace running between commands, its state saved (persist.py) under the folder
layout.py describes. torch, transformers, peft and mlflow come from the local extra (requirements-local.txt) and are
imported only by the modules that use them.
"""
