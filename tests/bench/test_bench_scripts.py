"""Every benchmark can be smoke-run, and is: a new bench/*.py without its test file fails here."""

from tests.bench.smoke import SCRIPTS
from tests.conftest import TESTS


def test_every_benchmark_takes_the_smoke_flag_and_has_a_smoke_test() -> None:
    assert SCRIPTS and all("--smoke" in script.read_text(encoding="utf-8") for script in SCRIPTS)
    missing = [s.stem for s in SCRIPTS if not (TESTS / "bench" / f"test_bench_{s.stem}.py").is_file()]
    assert missing == [], f"add tests/bench/test_bench_<name>.py for {missing}"
