"""Problems found in user input, reported as `file:LINE:COL: field.path: message`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (or worth a warning) in a file, with where it is."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "") + (f":{self.col}" if self.line and self.col else "")
        field = f" {self.path}:" if self.path else ""
        tag = " warning:" if self.severity == WARNING else ""
        return f"{where}:{field}{tag} {self.message}"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that are errors, not warnings."""
    return [p for p in problems if p.severity == ERROR]


def format_path(parts: Iterable[object]) -> str:
    """Format a field path like `deployment.liveness_probe.initial_delay` or `smoke_test.messages[0].role`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def number_hint(value: object) -> str:
    """Why a number-looking value is text: PyYAML (YAML 1.1) reads 5e-6 as a string; 5.0e-6 is a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        if "e" in value.lower():
            return " (YAML reads exponents without a dot as text: write e.g. 5.0e-6, not 5e-6)"
        return " (quoted, so YAML reads it as text: drop the quotes)"
    return ""
