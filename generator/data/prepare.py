"""Prepare a spec's data: the first `split_percent` % of each split as `<dir>/<split>.jsonl`.

Downloads with Hugging Face `datasets`, or reads `data.source` (a local folder of parquet or
jsonl files per split). Files are written atomically; a stamp records what was prepared, so a
second run with the same spec does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from generator.data import DataError
from generator.data.hub import go_offline_unless_reachable
from generator.data.records import check_file
from generator.files import sha256, write_atomically
from generator.paths import display_path

STAMP = ".prepared.json"
KEEP = ("prompt", "prompt_id", "messages")
SOURCE_PATTERNS = ("{split}.jsonl", "{split}.parquet", "{split}-*.parquet", "data/{split}-*.parquet",
                   "data/{split}.parquet", "data/{split}.jsonl")


class Spec(Protocol):
    """What preparing data reads of a spec (generator.spec.Spec has it): its `data:` section, root and file."""

    data: dict[str, Any]
    root: Path
    file: str


def kept_rows(total: int, percent: float) -> int:
    """Rows kept from a split of `total` rows: the first `percent` %, rounded, at least one."""
    return min(total, max(1, round(total * percent / 100))) if total else 0


def split_percent(data: dict[str, Any], split: str) -> float:
    """The share of `split` kept: data.split_percent_overrides' for it, else data.split_percent."""
    return float((data.get("split_percent_overrides") or {}).get(split, data["split_percent"]))


def _wanted(spec: Spec) -> dict[str, Any]:
    data = spec.data["data"]
    wanted = {"dataset": data["dataset"], "source": data.get("source"), "split_percent": data["split_percent"]}
    if data.get("split_percent_overrides"):
        wanted["split_percent_overrides"] = dict(sorted(data["split_percent_overrides"].items()))
    return wanted


def is_up_to_date(spec: Spec) -> bool:
    """True when the stamp matches the spec and every file it lists is there, unchanged."""
    out = spec.root / spec.data["data"]["dir"]
    try:
        stamp = json.loads((out / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if stamp.get("spec") != _wanted(spec):
        return False
    return all((out / f"{split}.jsonl").is_file() and sha256(out / f"{split}.jsonl") == info["sha256"]
               for split, info in stamp.get("splits", {}).items())


def _source_files(source: Path, split: str) -> list[str]:
    for pattern in SOURCE_PATTERNS:
        found = sorted(source.glob(pattern.format(split=split)))
        if found:
            return [str(p) for p in found]
    return []


def load_splits(spec: Spec) -> Any:
    """The dataset as a `datasets.DatasetDict`, from `data.source` or the Hugging Face Hub."""
    data = spec.data["data"]
    offline = False if data.get("source") else go_offline_unless_reachable()  # before datasets reads the switches
    import datasets

    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its failures are reported below, once, as ours

    if data.get("source"):
        source = spec.root / data["source"]
        if not source.is_dir():
            raise DataError(f"{spec.file}: data.source: folder {data['source']!r} does not exist")
        files = {split: _source_files(source, split) for split in _splits_in(source)}
        if not files:
            raise DataError(f"{spec.file}: data.source: no split files in {data['source']!r}; expected e.g. "
                            "data/train_sft-00000-of-00001.parquet or train_sft.jsonl")
        _check_source_records(spec, [Path(f) for fs in files.values() for f in fs if f.endswith(".jsonl")])
        builder = "json" if all(f.endswith(".jsonl") for fs in files.values() for f in fs) else "parquet"
        try:
            return datasets.load_dataset(builder, data_files=files)
        except Exception as exc:  # pyarrow and datasets raise many types; the user needs the files and the reason
            names = ", ".join(display_path(Path(f), spec.root) for fs in files.values() for f in fs)
            raise DataError(f"{spec.file}: data.source: cannot read {names} ({type(exc).__name__}: "
                            f"{_first_line(exc)})") from None
    try:
        return datasets.load_dataset(data["dataset"])
    except Exception as exc:  # no network, unknown dataset, hub errors: all end the same way for the user
        why = ("the Hub cannot be reached from this machine (offline)" if offline else
               f"{type(exc).__name__}: {_first_line(exc)}")
        raise DataError(_download_hint(spec, why)) from None


MAX_REPORTED = 10


def _download_hint(spec: Spec, why: str) -> str:
    dataset = spec.data["data"]["dataset"]
    return (f"could not download {dataset} from the Hugging Face Hub ({why}).\n"
            f"Without network access: fetch the dataset's parquet files on a connected machine "
            f"(e.g. `huggingface-cli download {dataset} --repo-type dataset --local-dir <folder>`), "
            f"copy the folder here and set data.source in {spec.file} to it.")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def _check_source_records(spec: Spec, paths: list[Path]) -> None:
    """Refuse a jsonl source with broken records before `datasets` reads it, naming each file and line."""
    problems = []
    for path in paths:
        problems += check_file(path, display_path(path, spec.root))[1]
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:MAX_REPORTED])
        more = f"\n  … and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise DataError(f"{spec.file}: data.source: {len(problems)} problem(s) in its records; nothing was "
                        f"written:\n{shown}{more}")


def _splits_in(source: Path) -> list[str]:
    names = set()
    for path in list(source.glob("*")) + list(source.glob("data/*")):
        if path.suffix in (".jsonl", ".parquet"):
            names.add(path.name.split("-")[0].split(".")[0])
    return sorted(names)


def _write_jsonl(path: Path, rows: Any) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    digest, count = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                line = json.dumps({key: row[key] for key in KEEP if key in row}, ensure_ascii=False) + "\n"
                handle.write(line)
                digest.update(line.encode("utf-8"))
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count, digest.hexdigest()


def prepare(spec: Spec, echo: Callable[[str], None]) -> bool:
    """Write `<dir>/<split>.jsonl` for every split; return False when it was already up to date."""
    data = spec.data["data"]
    out = spec.root / data["dir"]
    if is_up_to_date(spec):
        echo(f"{data['dir']}: up to date ({STAMP} matches {spec.file}); nothing to do")
        return False
    splits = load_splits(spec)
    missing = [s for s in (data["train_split"], data["test_split"]) if s not in splits]
    if missing:
        raise DataError(f"{spec.file}: {data['dataset']} has no split {', '.join(missing)} "
                        f"(it has {', '.join(sorted(splits))}); fix data.train_split / data.test_split")
    unknown = sorted(set(data.get("split_percent_overrides") or {}) - set(splits))
    if unknown:
        raise DataError(f"{spec.file}: data.split_percent_overrides names {', '.join(unknown)}, which "
                        f"{data['dataset']} does not have (it has {', '.join(sorted(splits))})")
    stamp: dict[str, Any] = {"spec": _wanted(spec), "splits": {}}
    for split in sorted(splits):
        total = len(splits[split])
        keep = kept_rows(total, split_percent(data, split))
        echo(f"{split}: writing {keep:,} of {total:,} rows ({split_percent(data, split):g} %) to "
             f"{data['dir']}/{split}.jsonl")
        count, digest = _write_jsonl(out / f"{split}.jsonl", splits[split].select(range(keep)))
        stamp["splits"][split] = {"rows": count, "of": total, "sha256": digest}
    write_atomically(out / STAMP, json.dumps(stamp, indent=2, sort_keys=True))
    echo(f"{data['dir']}: prepared {len(stamp['splits'])} split(s)")
    return True
