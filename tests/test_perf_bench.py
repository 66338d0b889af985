"""bench/perf.py --quick --skip-best and bench/products.py --quick, as tests: the scripts run, and print and
write what they measure (perf.py: each of issue 12's six targets with a verdict). The figures themselves are
for full runs on a quiet machine. About 40 s."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet import cengine
from scratchnet.config import PRESETS
from scratchnet.errors import ScratchnetError

REPO = Path(__file__).resolve().parents[1]


def run_bench(script: str, options: list[str], out: Path, dtype) -> subprocess.CompletedProcess:
    """bench/SCRIPT with OPTIONS, writing to OUT, which must succeed; a skip without the C library for dtype."""
    try:
        cengine.library(dtype)
    except ScratchnetError:
        pytest.skip("the C library is not built (make -C csrc)")
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), *options, "--out", str(out)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_perf_quick_reports_every_target(tmp_path):
    result = run_bench("perf.py", ["--quick", "--skip-best", "--skip-seed"], tmp_path, np.float64)
    table = (tmp_path / "perf.md").read_text()
    assert table == result.stdout
    raw = json.loads((tmp_path / "perf.json").read_text())
    assert raw["quick"] and raw["machine"]["commit"] and raw["load"]["start"]
    verdicts = {t["target"]: t["status"] for t in raw["targets"]}
    assert sorted(verdicts) == [1, 2, 3, 4, 5, 6]
    assert verdicts[1] == "SKIP" and verdicts[3] == "SKIP"  # no seed script, no best preset in this run
    assert verdicts[2] in ("PASS", "FAIL")  # both C rows ran
    for target, preset in ((4, "fast"), (5, "accurate")):
        assert verdicts[target] == ("SKIP" if preset in PRESETS else "not built")
    for target in raw["targets"]:
        assert f"| {target['target']} | {target['description']} | {target['measured']} | {target['status']} |" in table


def test_products_quick_compares_every_product(tmp_path):
    run_bench("products.py", ["--quick", "--threads", "1"], tmp_path, np.float32)
    raw = json.loads((tmp_path / "products.json").read_text())
    assert [row["product"] for row in raw["rows"]] == [
        "layer 2 forward: a W", "layer 2 weights' gradient: a^T delta", "layer 2 error below: delta W^T",
        "layer 3 forward: a W", "layer 3 weights' gradient: a^T delta", "layer 3 error below: delta W^T"]
    assert all(row["c_gflops"] > 0 and row["numpy_gflops"] > 0 for row in raw["rows"])
    assert all(row["relative_difference"] < 1e-4 for row in raw["rows"])
    assert "| layer 2 forward: a W | 128x800x800 | 1 |" in (tmp_path / "products.md").read_text()
