"""Fail fast offline: one quick probe of the Hugging Face Hub before a library spends its retries on it.

Without network, `datasets` and `transformers` retry for tens of seconds before they give up with a
long traceback. `go_offline_unless_reachable()` asks once (a TCP connection to the Hub's host, 3 s at
most); when the Hub cannot be reached it switches the Hugging Face libraries to offline mode, so a
cached copy is still used and anything else fails at once with our own hint.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

PROBE_TIMEOUT = 3.0
OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def offline_requested() -> bool:
    """True when the user already switched the Hugging Face libraries offline."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_SWITCHES)


def hub_reachable(timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to the Hub (HF_ENDPOINT, else huggingface.co) opens within `timeout` seconds.

    Behind a proxy the direct probe says nothing, so the Hub is assumed reachable and the library decides.
    """
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return True
    url = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def go_offline_unless_reachable() -> bool:
    """Switch the Hugging Face libraries offline when the Hub cannot be reached; True when offline.

    Call it before `datasets` or `transformers` is imported: they read the switches at import.
    """
    if offline_requested():
        return True
    if hub_reachable():
        return False
    for name in OFFLINE_SWITCHES:
        os.environ[name] = "1"
    return True


def cached(repo_id: str, repo_type: str = "model") -> bool:
    """Whether the Hugging Face cache holds any snapshot of `repo_id` (checked without importing the libraries)."""
    from huggingface_hub import constants

    folder = f"{repo_type}s--{repo_id.replace('/', '--')}"
    return (Path(constants.HF_HUB_CACHE) / folder / "snapshots").is_dir()
