"""bench/perf.py --quick --skip-best, as a test: the script runs, and prints and writes each of issue 12's six
targets with a verdict (the figures themselves are for a full run on a quiet machine). About 30 s."""

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


def test_perf_quick_reports_every_target(tmp_path):
    try:
        cengine.library(np.float64)
    except ScratchnetError:
        pytest.skip("the C library is not built (make -C csrc)")
    result = subprocess.run([sys.executable, str(REPO / "bench" / "perf.py"), "--quick", "--skip-best", "--skip-seed",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
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
