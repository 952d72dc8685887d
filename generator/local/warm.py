"""Local jobs and scoring servers start from a warm process that has imported torch, transformers, peft and MLflow.

Started as `python -m generator.local.<module>`, each local job paid 6 to 9 s of imports before any work (torch
2 s, MLflow 2 s, transformers 1.5 s, its scheduler with peft 2 s, the tokenizer and model classes 1.5 s, on this
2-core machine), and the demo runs three model jobs one after the other, then a scoring server. Python's
forkserver (multiprocessing) imports them once, in a process the local workspace starts when it starts, and forks
a child per job that runs the module's `main()` as the command line did: the same arguments, environment
variables, working folder, and output into the job's log.

The forkserver itself never runs torch code: a child forked from a process whose OpenMP threads had started would
inherit none of them. Shared pages of the imported libraries are counted once by PSS, not once per process. It
listens on a Unix socket file that only this user can open (mode 0600, in a temporary folder of mode 0700:
CPython 3.11 multiprocessing.forkserver `ensure_running`), as the workspace's own credential keeps other local users
out of its HTTPS port.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import sys
from pathlib import Path

# What the jobs import, measured: after these, a job's first tokenizer and model load imports nothing more, and
# its first MLflow run in the sqlite store imports nothing costly (MLflow's SQLAlchemy store with its sqlite
# dialect, alembic's schema check and GitPython for the source tags took 1.3 s of each job, on this machine).
PRELOAD = ["torch", "transformers", "mlflow", "mlflow.pyfunc", "peft", "transformers.optimization",
           "transformers.models.llama.modeling_llama", "transformers.models.phi3.modeling_phi3",
           "mlflow.store.tracking.sqlalchemy_store", "sqlalchemy.dialects.sqlite", "alembic.command", "git",
           "rouge_score.rouge_scorer", "generator.local.finetune", "generator.local.evaluate",
           "generator.local.scoring", "generator.local.pyfunc"]
_CONTEXT = multiprocessing.get_context("forkserver")


def start(env: dict[str, str]) -> None:
    """Start the forkserver and its imports now, in the background (the first job waits for them if still
    under way), with `env` added to this process's environment: some variables (HF_HUB_OFFLINE,
    TRANSFORMERS_VERBOSITY) are read when a library is imported. Modules that are not installed (a workspace
    without the local extra) are skipped."""
    os.environ.update(env)
    _CONTEXT.set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()


def _main(module: str, args: list[str], log: str, env: dict[str, str], cwd: str) -> None:
    """In the forked child: become `python -m module *args` with `env`, in `cwd`, writing to `log`."""
    os.environ.update(env)
    os.chdir(cwd)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = [module, *args]
    importlib.import_module(module).main()


class WarmProcess:
    """`python -m module *args` run as a child of the warm process (see the module's docstring), with the part of
    subprocess.Popen's interface the executor uses."""

    def __init__(self, module: str, args: list[str], log: Path, env: dict[str, str], cwd: Path):
        self._process = _CONTEXT.Process(target=_main, args=(module, list(args), str(log), dict(env), str(cwd)),
                                         daemon=False)
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: the signal that ended it), None while it runs."""
        return self._process.exitcode

    def poll(self) -> int | None:
        """The exit code if it has ended, else None."""
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end (subprocess.TimeoutExpired after `timeout` seconds); return the exit code."""
        import subprocess

        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        return self._process.exitcode

    def terminate(self) -> None:
        """SIGTERM."""
        self._process.terminate()

    def kill(self) -> None:
        """SIGKILL."""
        self._process.kill()

