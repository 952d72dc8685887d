"""The command line: the only package that parses arguments, prints the final error and exits.

Every command module here is thin: options → a call into the library → print → exit code. The
library raises typed errors (`generator.errors`); `handle.Commands` turns them into exit codes.
"""

from __future__ import annotations

from generator.cli import catalog, data, demo, local, runner, specs
from generator.cli.app import main
from generator.cli.handle import quiet_broken_pipe

for _command in [*specs.COMMANDS, *runner.COMMANDS, local.local, catalog.catalog_group, data.data, demo.demo]:
    main.add_command(_command)


def run() -> None:
    """The console entry point: `main`, quiet when the reader of its output goes away (`… | head`)."""
    try:
        main()
    except BrokenPipeError:
        quiet_broken_pipe()
