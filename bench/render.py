"""Print render wall time for 1, 200 and 1,000 generated specs, and the per-spec cost (figures only, no
assertions); then the errors `render` gives for 1,000 copies that share one endpoint.

Run: `make bench` or `.venv/bin/python bench/render.py` (`--counts 1,200` for fewer; `--smoke` renders 1 and 5
specs once, so the test suite checks that the script still runs).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "specs" / "phi4-ultrachat.yaml"


def make_project(root: Path, count: int, shared: bool = False) -> None:
    """A project with `count` specs derived from the example: each its own experiment, endpoint and registered
    model (they share the compute, with the same settings, which is allowed), or plain copies when `shared`."""
    (root / "specs").mkdir(parents=True)
    text = EXAMPLE.read_text(encoding="utf-8")
    if count == 1:
        shutil.copy(EXAMPLE, root / "specs" / EXAMPLE.name)
        return
    for i in range(count):
        spec = text if shared else (
            text.replace("name: phi4-ultrachat\n", f"name: exp-{i:04d}\n")
            .replace("name: ultrachat-completion ", f"name: exp-{i:04d}-ep ")
            .replace("name: Phi-4-ultrachat-200k\n", f"name: Phi-4-exp-{i:04d}\n")
            .replace("learning_rate: 5.0e-6", f"learning_rate: {1 + i % 9}.0e-6")
            .replace("run: 1 ", f"run: {1 + i % 5} "))
        (root / "specs" / f"exp-{i:04d}.yaml").write_text(spec, encoding="utf-8")


def time_render(count: int, repeats: int) -> tuple[list[float], list[float], list[float]]:
    """Wall seconds of `python -m generator render` (a fresh process, as `make render` runs it) into an empty
    generated/, of the same render again (nothing to write: loading, checking and rendering only), and of writing as
    many plain files as the first render wrote (this disk's speed just then: it varies from run to run)."""
    first, again, disk = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, count)
            for times in (first, again):
                os.sync()  # the disk finishes earlier runs' writes and deletions first: each run pays for its own
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "generator", "render", "--root", str(root)], cwd=REPO,
                               check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            files = [path for path in (root / "generated").rglob("*") if path.is_file()]
            disk.append(plain_writes(root / "plain", len(files)))
    return first, again, disk


def plain_writes(folder: Path, count: int) -> float:
    """Seconds to create `count` small files in folders of 13, with nothing else (the disk's share of a render)."""
    start = time.perf_counter()
    for i in range(count):
        if i % 13 == 0:
            (folder / str(i)).mkdir(parents=True)
        (folder / str(i - i % 13) / f"{i}.yml").write_text("x" * 1300, encoding="utf-8")
    return time.perf_counter() - start


def shared_errors(count: int) -> tuple[float, int]:
    """Wall seconds and error lines of `render` refusing `count` copies of one spec."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, count, shared=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "generator", "render", "--root", str(root)], cwd=REPO,
                              capture_output=True, text=True)
        return time.perf_counter() - start, len([line for line in done.stderr.splitlines() if ": " in line])


def time_import() -> float:
    """Seconds to import the CLI module in a fresh process (what every command pays)."""
    code = "import time; t = time.perf_counter(); import generator.cli; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    """Print the figures."""
    counts = [int(c) for c in (sys.argv[sys.argv.index("--counts") + 1] if "--counts" in sys.argv
                               else "1,5" if "--smoke" in sys.argv else "1,200,1000").split(",")]
    print(f"import generator.cli: {time_import() * 1000:.0f} ms")
    for count in counts:
        repeats = 5 if count == 1 else 3 if count <= 200 else 1
        times, again, disk = time_render(count, repeats)
        print(f"render {count:>4} spec(s): median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {repeats} run(s), "
              f"{statistics.median(times) / count * 1000:.1f} ms per spec); again, nothing to write: "
              f"{statistics.median(again):.2f} s; the same number of plain file writes: {statistics.median(disk):.2f} s")
    seconds, lines = shared_errors(max(counts))
    print(f"render {max(counts):>4} copies sharing one endpoint: {seconds:.2f} s, {lines} error line(s)")


if __name__ == "__main__":
    main()
