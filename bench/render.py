"""Print render wall time for 1 spec and for 200 generated specs (figures only, no assertions).

Run: `make bench` or `.venv/bin/python bench/render.py`.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "specs" / "phi4-ultrachat.yaml"


def make_project(root: Path, count: int) -> None:
    """A project with `count` specs derived from the example, each its own experiment."""
    (root / "specs").mkdir(parents=True)
    text = EXAMPLE.read_text(encoding="utf-8")
    if count == 1:
        shutil.copy(EXAMPLE, root / "specs" / EXAMPLE.name)
        return
    for i in range(count):
        spec = (text.replace("name: phi4-ultrachat", f"name: exp-{i:03d}")
                .replace("learning_rate: 5.0e-6", f"learning_rate: {1 + i % 9}.0e-6")
                .replace("run: 1 ", f"run: {1 + i % 5} "))
        (root / "specs" / f"exp-{i:03d}.yaml").write_text(spec, encoding="utf-8")


def time_render(count: int, repeats: int) -> list[float]:
    """Wall seconds of `python -m generator render` (a fresh process, as `make render` runs it)."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, count)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "generator", "render", "--root", str(root)], cwd=REPO,
                           check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return times


def time_import() -> float:
    """Seconds to import the CLI module in a fresh process (what every command pays)."""
    code = "import time; t = time.perf_counter(); import generator.cli; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    """Print the figures."""
    print(f"import generator.cli: {time_import() * 1000:.0f} ms")
    for count, repeats in ((1, 5), (200, 3)):
        times = time_render(count, repeats)
        print(f"render {count:>3} spec(s): median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {repeats} runs, "
              f"{statistics.median(times) / count * 1000:.1f} ms per spec)")


if __name__ == "__main__":
    main()
