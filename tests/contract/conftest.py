"""The contract tests' emulator: started for each test, with an HTTP session that trusts it and carries a token."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.emulator.harness import Emulator, EmulatorCredential, start_emulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Emulator, requests.Session]]:
    """A started emulator and a session for it (its CA at tmp_path/ca.pem)."""
    emu, _ = start_emulator(tmp_path)
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE of the machine would override the CA below
    session.verify = str(tmp_path / "ca.pem")
    token = EmulatorCredential().get_token("https://management.azure.com/.default").token
    session.headers["Authorization"] = f"Bearer {token}"
    yield emu, session
    emu.stop()
