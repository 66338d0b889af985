"""What the benchmark scripts share: paths, the machine's description, running `scratchnet train` under a
peak-RSS wrapper, the target table, the output files. Progress goes to stderr, results to stdout and, with
--out DIR only, to files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scratchnet import compare

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "mnist"  # the original IDX files, which every engine reads

# Runs a command as its own child and writes the child's peak RSS (KiB on Linux) to argv[1]:
# RUSAGE_CHILDREN is the maximum over all waited-for children, so it needs a fresh process.
MAXRSS_WRAPPER = """\
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


class BenchError(Exception):
    """A run that could not be measured: it crashed or printed something unexpected."""


@dataclass
class Run:
    """One `scratchnet train --json` subprocess: its epoch records (``epoch``, ``seconds``, ``test_accuracy``...,
    as it prints them), its peak memory and the load average when it began."""

    name: str
    command: list[str]
    epochs: list[dict] = field(default_factory=list)
    peak_rss_kib: int = 0
    wall_seconds: float = 0.0
    load_before: float = 0.0

    @property
    def test_accuracy(self) -> float:
        """After the last epoch."""
        return self.epochs[-1]["test_accuracy"]

    @property
    def peak_mb(self) -> float:
        return self.peak_rss_kib * 1024 / 1e6

    @property
    def training_seconds(self) -> float:
        """The sum of the epochs' ``seconds``: training only, evaluation and start-up left out."""
        return sum(e["seconds"] for e in self.epochs)


def add_out(parser, files: str) -> None:
    """--out DIR: where ``files`` go. Without it nothing is written (the table is printed), so that running a
    benchmark never dirties a checkout; --out bench/results updates the committed results."""
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"write {files} to DIR (e.g. bench/results, the "
                        "committed results); default: write nothing, print the table only")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:]) or "(no stderr)"


def machine(**versions: str | None) -> dict:
    """What the numbers were measured on (scratchnet.compare.machine's description, as `scratchnet compare`
    prints it) and the commit; ``versions`` adds packages' versions (None: left out)."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {**compare.machine(), **{name: version for name, version in versions.items() if version},
            "commit": commit}


def machine_line(info: dict, labels: dict[str, str] | None = None) -> str:
    """'CPU, N cores, Python x, NumPy y[, label version...]; date; commit c' for a table's header."""
    extra = "".join(f", {label} {info[key]}" for key, label in (labels or {}).items() if key in info)
    return (f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, NumPy {info['numpy']}{extra}; "
            f"{info['date']}; commit {info['commit']}")


def scratchnet_command() -> list[str]:
    """The console script installed beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("scratchnet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scratchnet.cli"]


def run_scratchnet(name: str, options: list[str], tmp: Path) -> Run:
    """`scratchnet train --json --fresh OPTIONS` in a subprocess under the peak-RSS wrapper, in ``tmp``, reading
    its JSON epoch lines as they come."""
    rss_file, stderr_file = tmp / f"{name}.maxrss", tmp / f"{name}.stderr"
    command = [*scratchnet_command(), "train", "--json", "--fresh", "-p", str(tmp / f"{name}.npz"),
               "--data", str(DATA), *options]
    run = Run(name, command, load_before=os.getloadavg()[0])
    began = time.perf_counter()
    with open(stderr_file, "w") as stderr, subprocess.Popen(
        [sys.executable, "-c", MAXRSS_WRAPPER, str(rss_file), *command], cwd=tmp,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
    ) as proc:
        try:
            for line in proc.stdout:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise BenchError(f"not a JSON line from scratchnet: {line.strip()!r}") from None
                run.epochs.append(record)
                progress(f"  epoch {record['epoch']}: test {100 * record['test_accuracy']:.2f}%, "
                         f"{record['seconds']:.2f} s")
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)  # the wrapper's own process group: it and the run
            raise
        code = proc.wait()
    run.wall_seconds = time.perf_counter() - began
    if code != 0:
        raise BenchError(f"scratchnet exited with {code}: {tail(stderr_file)}")
    if not run.epochs:
        raise BenchError(f"scratchnet printed no epochs: {tail(stderr_file)}")
    run.peak_rss_kib = int(rss_file.read_text())
    return run


def target_lines(targets: list[dict]) -> list[str]:
    """The Markdown table of judged targets (dicts with target, description, measured, status)."""
    return ["| # | Target | Measured | Result |", "|---|--------|----------|--------|",
            *(f"| {t['target']} | {t['description']} | {cell(t['measured'])} | {t['status']} |" for t in targets)]


def cell(text: str) -> str:
    """Text for a Markdown table cell (error messages may hold '|')."""
    return text.replace("|", "\\|").replace("\n", " ")


def temporary_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="scratchnet-bench-")


def portable(value):
    """``value`` (the raw results) with the paths of this machine in the commands made portable: the
    repository's relative to it, the interpreter and the installed scratchnet by name, the temporary
    folder as TMP."""
    if isinstance(value, dict):
        return {key: portable(v) for key, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if not isinstance(value, str) or not value.startswith("/"):
        return value
    path = Path(value)
    if value == sys.executable:
        return "python"
    if path.name == "scratchnet" and not path.is_relative_to(REPO):  # the installed console script
        return "scratchnet"
    if path.is_relative_to(REPO):
        return str(path.relative_to(REPO))
    folder = next((p for p in path.parents if p.name.startswith("scratchnet-bench-")), None)
    return str(Path("TMP", path.relative_to(folder))) if folder else value


def write_results(out: Path | None, stem: str, table: str, raw: dict) -> None:
    """OUT/STEM.md (the table) and OUT/STEM.json (the raw numbers, with portable paths); nothing without --out."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(table)
    (out / f"{stem}.json").write_text(json.dumps(portable(raw), indent=2) + "\n")
    progress(f"wrote {out / f'{stem}.md'} and {out / f'{stem}.json'}")


def entry_point(main: Callable[[], int], script: str) -> None:
    """Run ``main`` and exit with its code; Ctrl-C exits 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"\n{script}: interrupted", file=sys.stderr)
        sys.exit(130)
