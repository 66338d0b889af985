"""scratchnet compare: --quick as a user runs it (figures checked for sanity, not for speed), --script, and
bad input refused in one line with nothing written."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO
from scratchnet import compare, threads
from scratchnet.errors import ScratchnetError
from test_cli import one_line_error, run

TRAINING_SCRIPT = """\
import time
open("network_params.npz", "w").write("written where it runs")
print("Network details: a pretend network")
for epoch in range(3):
    time.sleep(0.05)
    print(f"Epoch {epoch + 1}, Accuracy: 90.00%")
raise SystemExit(1)  # as the post's listing does after its epochs, on NumPy >= 1.24
"""


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True,
                          check=True).stdout


def test_quick_run_measures_every_row_and_words_verdicts_from_them(tmp_path, small_npz):
    pytest.importorskip("matplotlib")
    script, chart = tmp_path / "nn2.py", tmp_path / "compare.png"
    script.write_text(TRAINING_SCRIPT)
    before = git_status()
    result = subprocess.run([sys.executable, "-m", "scratchnet.cli", "compare", "--quick", "--json", "--data",
                             str(small_npz), "--script", str(script), "-o", str(chart)],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert git_status() == before  # nothing written in the checkout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.png", "nn2.py"]  # the script ran elsewhere
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["rows"]}
    engines_here = sorted({row["engine"] for row in report["rows"]} - {"script", "torch"})
    counts = sorted({1, threads.cores()})
    assert len([r for r in rows.values() if r["network"] == "original" and r["engine"] in engines_here]) == \
        2 * len(engines_here) * 2 * len(counts)
    assert len([r for r in rows.values() if r["network"] == "best"]) == len(engines_here) * len(counts)
    assert report["n_train"] == 2_000 and set(report["sgemm_gflops"]) == {str(c) for c in counts}
    assert all(gflops > 0.1 for gflops in report["sgemm_gflops"].values())
    for row in report["rows"]:
        assert len(row["seconds"]) == (3 if row["engine"] == "script" else compare.QUICK.repetitions)
        assert row["fastest_seconds"] == min(row["seconds"]) > 0
        assert row["samples_per_second"] == pytest.approx(row["samples"] / row["fastest_seconds"])
        assert row["epoch_seconds"] == pytest.approx(2_000 / row["samples_per_second"])
        assert row["gflops"] == pytest.approx(row["flops_per_sample"] * row["samples_per_second"] / 1e9)
    reference = rows["numpy-original-float64-b1-1t"]
    assert reference["vs_numpy_per_sample"] == 1.0 and reference["samples"] == compare.QUICK.per_sample_numpy
    assert rows["numpy-original-float64-b32-1t"]["samples"] == 2_000  # at most an epoch of the data given
    assert reference["flops_per_sample"] == 4 * 784 * 20 + 6 * 20 * 10
    script_row = rows["script-nn2.py"]
    assert script_row["fastest_seconds"] >= 0.04 and "exited with status 1" in script_row["note"]
    if "c" in engines_here:  # the first verdict quotes the measured ratio
        c = rows["numpy-original-float64-b1-1t".replace("numpy", "c")]
        ratio = c["samples_per_second"] / reference["samples_per_second"]
        assert report["verdicts"][0].startswith(f"One sample at a time, C is {ratio:.0f}x NumPy")
        assert any(v.startswith("On --preset best's") for v in report["verdicts"])


def test_the_table_has_a_line_per_row_and_the_ceiling(small_npz, capsys):
    code, out, err = run(capsys, "compare", "--quick", "--data", small_npz)
    assert code == 0, err
    assert "SGEMM ceiling (NumPy float32, measured in this run)" in out
    assert "| 784-20-10 sigmoid | NumPy float64, per-sample, 1 thread | 2,000 |" in out  # the small data: 2,000
    assert out.count("| --preset best 784-800-800-10 |") >= len({1, threads.cores()})
    assert "One sample at a time" in out or "C rows:" in out


def test_a_script_without_epoch_lines_is_an_error(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('loading')\nsys.exit('no data here')\n")
    with pytest.raises(ScratchnetError, match=r"broken.py: printed no line saying 'epoch N' \(exited with status 1: "
                                              r"no data here\)"):
        compare.time_script(script, 60_000, 60)
    slow = tmp_path / "slow.py"
    slow.write_text(textwrap.dedent("""\
        import time
        print("epoch 1", flush=True)
        time.sleep(30)
    """))
    with pytest.raises(ScratchnetError, match="still running after 1 s"):
        compare.time_script(slow, 60_000, 1)


@pytest.mark.parametrize("argv, fragments", [
    (["--script", "missing.py"], ["missing.py", "no such file"]),
    (["-o", "missing/compare.png"], ["missing"]),
])
def test_bad_input_is_one_line(tmp_path, small_npz, capsys, monkeypatch, argv, fragments):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "compare", "--quick", "--data", small_npz, *argv)
    one_line_error(code, err, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_flop_count():
    assert compare.flops_per_sample((784, 800, 800, 10)) == 4 * 784 * 800 + 6 * 800 * 800 + 6 * 800 * 10
    assert compare.sparse_flops_per_sample((784, 20, 10), 0.25) == 784 * 20 + 6 * 20 * 10
