"""`scripts/perf.sh --smoke`: the benchmark starts every target (the upstream
direct, nginx with 1 and 2 workers, Switchyard serving a model, a route and a
response-cache hit; and embeddings direct and through a model),
measures each briefly without an error and prints its table. No timing is
asserted: the figures of a smoke run on a shared machine mean nothing."""

import os
import re
import subprocess
from pathlib import Path

from helpers import BIN

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    "upstream direct",
    "nginx, 1 worker",
    "nginx, 2 workers",
    "Switchyard, model",
    "Switchyard, route",
    "Switchyard, cache hit",
]
EMBED_ROWS = ["upstream direct", "Switchyard, model"]


def test_perf_smoke_prints_a_row_per_target(tmp_path: Path) -> None:
    env = {**os.environ, "SWITCHYARD_BIN": BIN, "TMPDIR": str(tmp_path)}
    for knob in ("PERF_SECS", "PERF_ROUNDS", "PERF_CONCURRENCY", "PERF_SOAK_S", "PERF_DEBUG"):
        env.pop(knob, None)
    r = subprocess.run(
        [str(ROOT / "scripts" / "perf.sh"), "--smoke"], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, f"perf.sh --smoke failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"

    lines = r.stdout.splitlines()
    # The chat table, then the embeddings table.
    split = next((i for i, line in enumerate(lines) if line.startswith("Embeddings (")), None)
    assert split is not None, f"no embeddings table:\n{r.stdout}"
    for table_lines, names in ((lines[:split], ROWS), (lines[split:], EMBED_ROWS)):
        header = next((line for line in table_lines if line.startswith("| target |")), None)
        assert header is not None, r.stdout
        columns = len(header.split("|"))
        for name in names:
            row = [line for line in table_lines if line.startswith(f"| {name} |")]
            assert len(row) == 1, f"no single row for {name!r}:\n{r.stdout}"
            assert len(row[0].split("|")) == columns, row[0]
            assert re.search(r"\| \d[\d,]* \|", row[0]), f"no req/s figure in {row[0]!r}"
    assert "Command: `scripts/perf.sh --smoke`" in r.stdout
    # Every process it started is gone with its scratch dir.
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
