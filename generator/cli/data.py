"""`python -m generator data prepare|check|stats|sample` (exit codes: generator.errors.ExitCode)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from generator.cli.options import load_specs, root_option
from generator.data import DataError
from generator.data.evaluation_split import check_prepared_data
from generator.data.records import check_file, prepared_file
from generator.diagnostics import ERROR
from generator.errors import InvalidInput, UsageError
from generator.extras import require
from generator.paths import display_path
from generator.spec import Spec


def _spec(path: str, root: Path) -> Spec:
    return load_specs(root, [Path(path)], check_data=False)[0]


@click.group()
def data() -> None:
    """Prepare, check and explore an experiment's chat data."""


@data.command()
@click.argument("spec")
@root_option
def prepare(spec: str, root: Path) -> None:
    """Download the dataset (or read data.source) and write the first N % of each split as jsonl."""
    from generator.data.prepare import prepare as run_prepare

    loaded = _spec(spec, root)
    run_prepare(loaded, click.echo)
    problems = check_prepared_data(loaded.root, loaded.data)
    if any(problem.severity == ERROR for problem in problems):
        raise InvalidInput(problems)
    for problem in problems:
        click.echo(str(problem), err=True)


@data.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@root_option
def check(files: tuple[Path, ...], root: Path) -> None:
    """Check every record of FILES; report each problem as file:LINE: message."""
    total, problems = 0, []
    for path in files:
        count, found = check_file(path, display_path(path, root))
        total += count
        problems += found
    click.echo(f"{total:,} record(s) in {len(files)} file(s): {len(problems)} problem(s)")
    if problems:
        raise InvalidInput(problems)


@data.command()
@click.argument("spec")
@root_option
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), help="Histogram PNG "
              "(default: <data.dir>/conversation-length.png).")
@click.option("--tokenizer", help="Local Hugging Face tokenizer folder, to count real tokens (needs transformers).")
@click.option("--max-seq-length", type=int, help="Mark this length instead of finetune.parameters.max_seq_length.")
def stats(spec: str, root: Path, png: Path | None, tokenizer: str | None, max_seq_length: int | None) -> None:
    """Rows, turns and lengths per split, and a PNG histogram of conversation length."""
    from generator.data import SPLITS
    from generator.data.stats import histogram_png, split_stats, table, tokenizer_counter

    require("matplotlib", *(["transformers"] if tokenizer else []))  # before any output, not after the table
    loaded = _spec(spec, root)
    folder = root / loaded.data["data"]["dir"]
    names = [s for s in SPLITS if (folder / f"{s}.jsonl").is_file()]
    names += sorted(p.stem for p in folder.glob("*.jsonl") if p.stem not in names)
    if not names:
        raise UsageError(f"no prepared data in {loaded.data['data']['dir']}; run `make data SPEC={loaded.file}`")
    try:
        counter = tokenizer_counter(tokenizer) if tokenizer else None
    except DataError as exc:
        raise UsageError(str(exc)) from None
    figures = [split_stats(folder / f"{name}.jsonl", name, counter) for name in names]
    if tokenizer:
        from generator.estimate import record_token_counts

        for figure in figures:  # plan's estimate uses these real counts while the file is unchanged
            record_token_counts(folder / f"{figure.split}.jsonl", figure.tokens or [], tokenizer)
    if max_seq_length is None:
        max_seq_length = int(loaded.data["finetune"]["parameters"].get(
            "max_seq_length", loaded.interface.default("max_seq_length")))
    click.echo(table(figures, max_seq_length))
    if max_seq_length <= 0:
        click.echo("max_seq_length is -1: the model's own maximum applies (pass --max-seq-length to mark one)")
    out = png or folder / "conversation-length.png"
    train = [f for f in figures if f.split in (loaded.data["data"]["train_split"], loaded.data["data"]["test_split"])]
    histogram_png(train or figures, max_seq_length, out, f"{loaded.experiment}: conversation length")
    click.echo(f"histogram: {display_path(out, root)}")


@data.command()
@click.argument("spec")
@root_option
@click.option("--split", default="test_gen", show_default=True, help="Prepared split to draw from.")
@click.option("--row", type=int, help="0-based row of the split.")
@click.option("--random", "use_random", is_flag=True, help="Draw a random row (see --seed).")
@click.option("--seed", type=int, help="Seed for --random, for a repeatable draw.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Request file (default: <data.dir>/sample_score.json).")
def sample(spec: str, root: Path, split: str, row: int | None, use_random: bool, seed: int | None,
           out: Path | None) -> None:
    """Write a scoring request from one conversation, for `invoke --request FILE`."""
    from generator.data.sample import conversations, pick, scoring_request

    if (row is None) == (not use_random):
        raise UsageError("give exactly one of --row N or --random")
    loaded = _spec(spec, root)
    path = prepared_file(loaded.root, loaded.data, split)
    if not path.is_file():
        raise UsageError(f"{display_path(path, root)} does not exist; run `make data SPEC={loaded.file}`")
    out = out or root / loaded.data["data"]["dir"] / "sample_score.json"
    if (root / "generated").resolve() in out.resolve().parents:
        raise UsageError("--out must not be inside generated/ (it holds rendered files only)")
    try:
        index, record = pick(conversations(path), row, seed)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    request, reference = scoring_request(record, loaded.data["smoke_test"]["parameters"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(request, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"{split} row {index}: {len(request['input_data']['input_string'][0])} message(s) -> "
               f"{display_path(out, root)}")
    if reference:
        click.echo(f"reference answer from the data: {reference[:300]}")
