"""bench/perf.py --quick as a test: it runs, prints every target of issue 22 with a verdict, writes what it
prints, and the Results table. The figures themselves are for full runs on a quiet machine."""

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


def perf(options: list[str], out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """bench/perf.py --quick OPTIONS --out OUT, which must succeed; its perf.json. A skip without the C engine."""
    try:
        for dtype in (np.float64, np.float32):
            cengine.library(dtype)
    except ScratchnetError:
        pytest.skip("the C library is not built (make -C csrc)")
    result = subprocess.run([sys.executable, str(REPO / "bench" / "perf.py"), "--quick", *options, "--out", str(out)],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "perf.md").read_text() == result.stdout
    raw = json.loads((out / "perf.json").read_text())
    assert raw["quick"] and raw["machine"]["commit"]
    assert [t["target"] for t in raw["targets"]] == [1, 2, 3, 4, 5, 6, 7]
    for target in raw["targets"]:
        assert f"| {target['target']} | {target['description']} |" in result.stdout
    return result, raw


def test_perf_quick_selected_targets(tmp_path):
    _, raw = perf(["--targets", "3,7", "--presets", "tuned"], tmp_path)
    verdicts = {t["target"]: t for t in raw["targets"]}
    assert {n: verdicts[n]["status"] for n in (1, 2, 4, 5, 6)} == dict.fromkeys((1, 2, 4, 5, 6), "SKIP")
    assert verdicts[3]["status"] in ("PASS", "FAIL") and "the same bytes" in verdicts[3]["measured"]
    assert verdicts[7]["status"] == "PASS"  # a 784-20-10 takes far less than 500 MB
    assert verdicts[7]["measured"].startswith("tuned ") and "not trained: original, best" in verdicts[7]["measured"]
    assert list(raw["runs"]) == ["tuned-seed0"]
    results = (tmp_path / "results.md").read_text()
    assert "| `tuned` | 784-20-10 relu/softmax float64, batches of 32, nesterov" in results
    assert "quick mode" in results


@pytest.mark.slow
def test_perf_quick_every_target(tmp_path):
    """Every code path but the original script's (not in the repository) and the explorer's (its own test)."""
    _, raw = perf(["--targets", "1,3,4,5,6,7"], tmp_path)
    verdicts = {t["target"]: t for t in raw["targets"]}
    assert verdicts[1]["status"] == "SKIP" and "--original-script" in verdicts[1]["measured"]
    assert all(verdicts[n]["status"] in ("PASS", "FAIL") for n in (3, 4, 5, 6, 7))
    assert set(raw["runs"]) == {"best-seed0-threads2", *(f"{preset}-seed0" for preset in PRESETS)}
