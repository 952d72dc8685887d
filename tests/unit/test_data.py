"""Data commands: prepare from a local Hugging Face-layout dataset, check, stats, sample."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import struct
import zlib
from pathlib import Path

import pytest

from click.testing import CliRunner

from generator.cli import main
from tests.conftest import TESTS

pa = pytest.importorskip("pyarrow", reason="the data extra (requirements-data.txt) is part of make test")
import pyarrow.parquet as pq  # noqa: E402

SIZES = {"train_sft": 200, "test_sft": 40, "train_gen": 120, "test_gen": 30}


def conversation(split: str, i: int) -> dict:
    """A varied ultrachat-style record: 1-4 exchanges, sometimes with a system turn."""
    messages = [{"role": "system", "content": "You are concise."}] if i % 7 == 0 else []
    for turn in range(1 + i % 4):
        messages.append({"role": "user", "content": f"{split} question {i}.{turn}: " + "why " * (i % 13 + 1)})
        messages.append({"role": "assistant", "content": f"Answer {i}.{turn}: " + "because " * (i % 29 + 1)})
    return {"prompt": messages[-2]["content"], "prompt_id": f"{split}-{i:05d}", "messages": messages}


def make_hf_dataset(folder: Path, sizes: dict[str, int] = SIZES) -> None:
    """Parquet per split in the Hub's layout: data/<split>-00000-of-00001.parquet."""
    (folder / "data").mkdir(parents=True)
    for split, size in sizes.items():
        table = pa.Table.from_pylist([conversation(split, i) for i in range(size)])
        pq.write_table(table, folder / "data" / f"{split}-00000-of-00001.parquet")


@pytest.fixture
def data_project(project: Path) -> Path:
    """The example project with data.source pointing at a small local dataset."""
    make_hf_dataset(project / "hf-source")
    spec = project / "specs" / "phi4-ultrachat.yaml"
    text = spec.read_text().replace("  split_percent: 5 ", "  source: hf-source\n  split_percent: 25 ")
    text = text.replace("  max_samples: 200 ", "  max_samples: 10 ")  # a quarter of the 40 test conversations
    spec.write_text(text.replace("    apply_deepspeed: true\n", "    apply_deepspeed: true\n    max_seq_length: 64\n"))
    return project


def test_prepare_writes_the_first_percent_of_each_split(data_project: Path, cli) -> None:
    result = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    assert result.exit_code == 0, result.stderr
    out = data_project / "data" / "ultrachat_200k"
    for split, size in SIZES.items():
        lines = (out / f"{split}.jsonl").read_text().splitlines()
        assert len(lines) == round(size * 0.25)
        assert [json.loads(line)["prompt_id"] for line in lines] == [f"{split}-{i:05d}" for i in range(len(lines))]
        assert set(json.loads(lines[0])) == {"prompt", "prompt_id", "messages"}
        assert f"{split}: writing {round(size * 0.25)} of {size} rows (25 %)" in result.stdout
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".prepared.json"]


def test_second_prepare_does_nothing_and_a_changed_spec_prepares_again(data_project: Path, cli) -> None:
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    train = data_project / "data" / "ultrachat_200k" / "train_sft.jsonl"
    mtime = train.stat().st_mtime_ns
    again = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    assert again.exit_code == 0 and "up to date" in again.stdout and "writing" not in again.stdout
    assert train.stat().st_mtime_ns == mtime
    train.write_text(train.read_text()[:-10])  # a damaged file is noticed and rewritten
    repaired = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    assert "train_sft: writing 50 of 200" in repaired.stdout
    spec = data_project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("split_percent: 25", "split_percent: 10"))
    changed = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    assert "train_sft: writing 20 of 200 rows (10 %)" in changed.stdout


@pytest.mark.slow
def test_prepare_without_network_says_what_to_do(project: Path) -> None:
    # A fresh process, so the Hugging Face libraries read the offline switch (the tests never reach the network).
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(project / "hf-home")}
    result = subprocess.run([sys.executable, "-m", "generator", "data", "prepare", "specs/phi4-ultrachat.yaml"],
                            cwd=project, env={**env, "PYTHONPATH": str(TESTS.parent)}, capture_output=True, text=True)
    assert result.returncode == 1
    assert "could not download HuggingFaceH4/ultrachat_200k from the Hugging Face Hub" in result.stderr
    assert "set data.source in specs/phi4-ultrachat.yaml" in result.stderr
    assert not (project / "data").exists()


def test_prepare_reports_a_missing_source_and_a_missing_split(data_project: Path, cli) -> None:
    spec = data_project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("test_split: test_sft", "test_split: validation"))
    result = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    assert result.exit_code == 1
    assert ("has no split validation (it has test_gen, test_sft, train_gen, train_sft); fix data.train_split / "
            "data.test_split") in result.stderr
    shutil.rmtree(data_project / "hf-source")
    result = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    assert "data.source: folder 'hf-source' does not exist" in result.stderr


def test_data_check_reports_each_broken_record_exactly(monkeypatch) -> None:
    monkeypatch.chdir(TESTS.parent)
    result = CliRunner().invoke(main, ["data", "check", "tests/broken_records/records.jsonl"])
    assert result.exit_code == 2
    expected = (TESTS / "broken_records" / "records.expected").read_text().splitlines()
    assert result.stderr.splitlines() == expected
    assert result.stdout.strip() == "16 record(s) in 1 file(s): 13 problem(s)"


def test_render_refuses_broken_prepared_data(data_project: Path, cli) -> None:
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    test_file = data_project / "data" / "ultrachat_200k" / "test_sft.jsonl"
    with open(test_file, "a") as handle:
        handle.write('{"messages": [{"role": "user", "content": "no answer"}]}\n')
    result = cli("render", root=data_project)
    assert result.exit_code == 2
    assert "data/ultrachat_200k/test_sft.jsonl:11: no assistant turn" in result.stderr
    assert not (data_project / "generated").exists()


def _png_size(path: Path) -> tuple[int, int]:
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", blob[8:16])
    assert kind == b"IHDR" and zlib.crc32(blob[12:16 + length]) == struct.unpack(">I", blob[16 + length:20 + length])[0]
    return struct.unpack(">II", blob[16:24])


def test_stats_prints_percentiles_and_writes_a_png(data_project: Path, cli) -> None:
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    result = cli("data", "stats", "specs/phi4-ultrachat.yaml", root=data_project)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["split", "rows"] and "> max_seq_length 64" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert rows["train_sft"][1] == "50" and rows["test_gen"][1] == "8"
    turns = [len(conversation("train_sft", i)["messages"]) for i in range(50)]
    assert rows["train_sft"][2].split("/")[-1] == str(max(turns))
    png = data_project / "data" / "ultrachat_200k" / "conversation-length.png"
    assert f"histogram: {png.relative_to(data_project)}" in result.stdout
    width, height = _png_size(png)
    assert (width, height) == (800, 450)


def test_sample_writes_a_seed_shaped_request_outside_generated(data_project: Path, cli) -> None:
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    result = cli("data", "sample", "specs/phi4-ultrachat.yaml", "--row", "3", root=data_project)
    assert result.exit_code == 0, result.stderr
    request = json.loads((data_project / "data" / "ultrachat_200k" / "sample_score.json").read_text())
    expected = conversation("test_gen", 3)["messages"][:-1]
    assert request == {"input_data": {"input_string": [expected], "parameters": {
        "temperature": 0.6, "top_p": 0.9, "do_sample": True, "max_new_tokens": 200}}, "params": {}}
    assert "reference answer from the data: Answer 3.3:" in result.stdout
    first = cli("data", "sample", "specs/phi4-ultrachat.yaml", "--random", "--seed", "7", "--out", "a.json",
                root=data_project)
    second = cli("data", "sample", "specs/phi4-ultrachat.yaml", "--random", "--seed", "7", "--out", "b.json",
                 root=data_project)
    assert first.stdout.split(":")[0] == second.stdout.split(":")[0]
    assert (data_project / "a.json").read_text() == (data_project / "b.json").read_text()
    refused = cli("data", "sample", "specs/phi4-ultrachat.yaml", "--row", "0", "--out",
                  "generated/x.json", root=data_project)
    assert refused.exit_code == 2 and "must not be inside generated/" in refused.stderr
    out_of_range = cli("data", "sample", "specs/phi4-ultrachat.yaml", "--row", "99", root=data_project)
    assert out_of_range.exit_code == 2 and "the split has 8 conversations (0-7)" in out_of_range.stderr


def test_prepare_reads_the_shipped_jsonl_sample(project: Path, cli) -> None:
    shutil.copytree(TESTS.parent / "samples", project / "samples")
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("  split_percent: 5 ", "  source: samples/ultrachat_mini\n  split_percent: 10 ")
                    .replace("  max_samples: 200 ", "  max_samples: 6 "))  # the 6 test conversations of 10 %
    result = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=project)
    assert result.exit_code == 0, result.stderr
    assert "train_sft: writing 32 of 320 rows (10 %)" in result.stdout
    check = cli("data", "check", *[str(p) for p in (project / "data" / "ultrachat_200k").glob("*.jsonl")], root=project)
    assert check.exit_code == 0 and check.stdout.strip() == "50 record(s) in 4 file(s): 0 problem(s)"


@pytest.mark.slow
def test_stats_counts_real_tokens_with_a_tokenizer(data_project: Path, cli) -> None:
    pytest.importorskip("transformers", reason="the local extra is part of make test")
    from tests.support.tinymodel import ensure_foundation_model

    model = ensure_foundation_model(data_project / "tok", sorted((TESTS.parent / "samples" / "ultrachat_mini")
                                                                 .glob("*.jsonl")))
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    result = cli("data", "stats", "specs/phi4-ultrachat.yaml", "--tokenizer", str(model), root=data_project)
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert "tokens p50/p90/p99/max" in header and "~tokens" not in header
    from transformers import AutoTokenizer

    from generator.data.stats import tokenizer_counter

    conversation = [{"role": "user", "content": "What is the capital of France?"},
                    {"role": "assistant", "content": "Paris is the capital of France."}]
    tokenizer = AutoTokenizer.from_pretrained(model)
    text = tokenizer.apply_chat_template(conversation, tokenize=False)
    expected = len(tokenizer(text, add_special_tokens=False)["input_ids"])  # the template's text, tokenized
    assert expected > 10 and tokenizer_counter(str(model))(conversation) == expected
    assert cli("render", root=data_project).exit_code == 0  # plan's estimate now counts with the same tokenizer
    plan = cli("plan", "specs/phi4-ultrachat.yaml", "--offline", root=data_project)
    assert f"; tokenizer {model} (recorded by data stats))" in plan.stdout


def test_prepare_from_a_jsonl_source_names_each_bad_record_and_writes_nothing(project: Path, cli) -> None:
    source = project / "jsonl-source"
    source.mkdir()
    good = json.dumps(conversation("train_sft", 1))
    (source / "train_sft.jsonl").write_bytes(f"{good}\n{{broken\n{good}\n".encode())
    (source / "test_sft.jsonl").write_bytes(f"{good}\n".encode() + b'{"messages": "caf\xe9"}\n')
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("  split_percent: 5 ", "  source: jsonl-source\n  split_percent: 5 "))
    result = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=project)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: specs/phi4-ultrachat.yaml: data.source: 2 problem(s) in its records; nothing was written:",
        "  jsonl-source/test_sft.jsonl:2: not UTF-8 text: invalid continuation byte at byte 18",
        "  jsonl-source/train_sft.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes at column 2",
    ]
    assert "Traceback" not in result.stderr and not (project / "data").exists()


def test_prepare_names_an_unreadable_parquet_source(project: Path, cli) -> None:
    (project / "pq" / "data").mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        (project / "pq" / "data" / f"{split}-00000-of-00001.parquet").write_bytes(b"PAR1 not really parquet")
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("  split_percent: 5 ", "  source: pq\n  split_percent: 5 "))
    result = cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=project)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: specs/phi4-ultrachat.yaml: data.source: cannot read "
                                    "pq/data/test_sft-00000-of-00001.parquet, pq/data/train_sft-00000-of-00001.parquet (")
    assert "Traceback" not in result.stderr and not (project / "data").exists()


def test_stats_reports_the_lines_it_skipped(data_project: Path, cli) -> None:
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    train = data_project / "data" / "ultrachat_200k" / "train_sft.jsonl"
    with open(train, "ab") as handle:
        handle.write(b'{"messages": "\xff"}\n{not json\n{"messages": [{"role": "user", "content": "no answer"}]}\n')
    result = cli("data", "stats", "specs/phi4-ultrachat.yaml", root=data_project)
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:5]}
    assert rows["train_sft"] == "50"
    assert "train_sft: 3 malformed line(s) skipped, not counted above (`data check` names them)" in result.stdout


def _unreachable_hub(project: Path) -> dict[str, str]:
    """An environment whose Hugging Face Hub is a closed local port: unreachable at once, no network touched."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and "proxy" not in k.lower()}
    return {**env, "HF_ENDPOINT": "https://127.0.0.1:9", "HF_HOME": str(project / "hf-home"),
            "PYTHONPATH": str(TESTS.parent)}


@pytest.mark.slow
def test_prepare_fails_fast_when_the_hub_cannot_be_reached(project: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "generator", "data", "prepare", "specs/phi4-ultrachat.yaml"],
                            cwd=project, env=_unreachable_hub(project), capture_output=True, text=True)
    stderr = result.stderr  # fast by construction (no retry loop, whose lines say "Retrying"), not by a clock
    assert result.returncode == 1
    assert stderr.startswith("error: could not download HuggingFaceH4/ultrachat_200k from the Hugging Face "
                                    "Hub (the Hub cannot be reached from this machine (offline)).\n")
    assert "Retrying" not in stderr and "Traceback" not in stderr


def test_stats_with_a_hub_tokenizer_fails_fast_offline(data_project: Path, cli) -> None:
    cli("data", "prepare", "specs/phi4-ultrachat.yaml", root=data_project)
    result = subprocess.run([sys.executable, "-m", "generator", "data", "stats", "specs/phi4-ultrachat.yaml",
                             "--tokenizer", "microsoft/phi-4"], cwd=data_project, env=_unreachable_hub(data_project),
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("error: --tokenizer microsoft/phi-4: not a local folder, and the Hub cannot be reached "
                             "from this machine (offline) and has no cached copy. Pass a local tokenizer folder, e.g. "
                             "one fetched on a connected machine with `huggingface-cli download microsoft/phi-4 "
                             "--local-dir <folder>`\n")
