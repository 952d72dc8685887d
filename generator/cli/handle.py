"""The one place where errors become messages and exit codes (the table is `generator.errors.ExitCode`)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from generator.errors import ExitCode, GeneratorError, InvalidInput, MissingExtra

DETAILED = "--detailed-exitcode"


def debugging(ctx: click.Context | None = None) -> bool:
    """Whether --debug was given (tracebacks are then shown instead of one paragraph)."""
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx and isinstance(ctx.find_root().obj, dict) and ctx.find_root().obj.get("debug"))


def at_terminal() -> bool:
    """Whether a person can answer a question (standard input is a terminal)."""
    return sys.stdin.isatty()


def quiet_broken_pipe() -> None:
    """Exit quietly after the reader of stdout went away (Python's documented recipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(ExitCode.ERROR)


def report_error(exc: GeneratorError) -> None:
    """Print an error as the user sees it: every problem of invalid input, else one paragraph."""
    if isinstance(exc, InvalidInput):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        if exc.summary:
            click.echo(exc.summary, err=True)
        return
    click.echo(f"{exc.prefix}{exc}", err=True)


class Commands(click.Group):
    """A click group whose subcommands raise, and whose `invoke` turns what they raise into an exit code.

    With `--detailed-exitcode` (plan), every error exits 1, so 2 means only "there are changes" (Terraform's
    contract); without it, invalid input exits 2 and other errors 1.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Note `--detailed-exitcode` before the subcommand parses it (a usage error must also exit 1 then)."""
        ctx.meta["detailed_exitcode"] = DETAILED in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; map every error it raises to its exit code, in one place."""
        detailed = bool(ctx.meta.get("detailed_exitcode"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.UsageError as exc:
            if not detailed:
                raise
            exc.show()
            ctx.exit(ExitCode.ERROR)
        except BrokenPipeError:  # `… | head` closed the pipe: stop quietly
            quiet_broken_pipe()
        except KeyboardInterrupt:
            where = getattr(ctx.meta.get("target"), "where", "Azure")
            click.echo(f"\ninterrupted: operations already started continue in {where}; run the same command again "
                       "to resume (nothing is created twice)", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except GeneratorError as exc:
            report_error(exc)
            ctx.exit(ExitCode.ERROR if detailed else exc.exit_code)
        except ModuleNotFoundError as exc:
            from generator.extras import PROVIDERS, missing_package_message

            message = missing_package_message(exc)
            if message is None or debugging(ctx):
                raise
            missing = MissingExtra(message, [PROVIDERS[(exc.name or "").split(".")[0]].name])
            report_error(missing)
            ctx.exit(ExitCode.ERROR if detailed else missing.exit_code)
        except click.ClickException:
            raise
        except Exception as exc:  # anything from the SDK: shown as code and message, not a traceback
            if debugging(ctx):
                raise
            from generator.runner.explain import explain

            error = explain(exc)
            report_error(error)
            ctx.exit(ExitCode.ERROR if detailed else error.exit_code)
