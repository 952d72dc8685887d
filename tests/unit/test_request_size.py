"""invoke checks a request's type and size before sending it: on the local target against its scoring server's own
1 MiB limit; on Azure, which documents none, the size is said when the endpoint refuses or the connection breaks
(tests/e2e/test_runner_e2e.py sends 8 MiB to the emulator)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from generator.request import LOCAL_MAX_REQUEST_BYTES, size_text
from generator.errors import UsageError
from generator.local.local_target import LocalTarget
from generator.runner.azure_target import AzureTarget
from generator.runner.output import Printer
from generator.runner.steps.common import Context
from generator.runner.steps.traffic import invoke

def test_the_local_target_declares_its_scoring_servers_limit_and_azure_none(tmp_path: Path) -> None:
    from generator.emulator.routes_arm import MAX_SCORE_BODY
    from generator.local.scoring import MAX_BODY

    assert LocalTarget(tmp_path).max_request_bytes == LOCAL_MAX_REQUEST_BYTES
    assert LOCAL_MAX_REQUEST_BYTES == MAX_BODY == MAX_SCORE_BODY  # what the local servers really read
    assert AzureTarget().max_request_bytes is None


class Endpoints:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> str:
        self.sent.append(kwargs)
        return '{"output": "hi"}'


def _context(target: LocalTarget | AzureTarget) -> tuple[Context, Endpoints]:
    endpoints = Endpoints()
    ctx = Context(ml=SimpleNamespace(online_endpoints=endpoints), experiment=None, out=Printer(), endpoint_name="ep",
                  target=target)
    return ctx, endpoints


def _request(path: Path, content_bytes: int) -> Path:
    path.write_text(json.dumps({"input_data": {"input_string": [{"role": "user", "content": "x" * content_bytes}],
                                               "parameters": {}}}))
    return path


def test_a_request_over_the_local_limit_is_refused_before_sending(tmp_path: Path) -> None:
    ctx, endpoints = _context(LocalTarget(tmp_path))
    big = _request(tmp_path / "big.json", 8 << 20)
    with pytest.raises(UsageError) as refused:
        invoke(ctx, "demo", big)
    assert refused.value.exit_code == 2 and endpoints.sent == []
    assert str(refused.value) == (f"request file {big} is 8.0 MiB: the local target's scoring server takes at most "
                                  "1.0 MiB (its own limit, not Azure's: generator/request.py); nothing was sent")
    small = _request(tmp_path / "small.json", 100)
    assert invoke(ctx, "demo", small) == '{"output": "hi"}' and len(endpoints.sent) == 1


def test_on_azure_the_size_is_not_refused_but_the_type_is(tmp_path: Path) -> None:
    ctx, endpoints = _context(AzureTarget())
    assert invoke(ctx, "demo", _request(tmp_path / "big.json", 2 << 20))
    assert len(endpoints.sent) == 1  # no documented limit: sent
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(UsageError) as refused:
        invoke(ctx, "demo", binary)
    assert str(refused.value) == (f"request file {binary} (108 bytes) is not a scoring request: the body is not JSON "
                                  "(not UTF-8 text); nothing was sent")
    assert len(endpoints.sent) == 1


@pytest.mark.parametrize("size, text", [(120, "120 bytes"), (4096, "4 KiB"), (8 << 20, "8.0 MiB")])
def test_sizes_read_as_people_write_them(size: int, text: str) -> None:
    assert size_text(size) == text
