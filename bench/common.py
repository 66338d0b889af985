"""What the benchmark scripts share: paths, the peak-RSS wrapper, running a training subprocess
and reading its epoch lines, running the seed's nn2.py, the machine's description, the output files.

Used by bench/targets.py (scratchnet against its targets) and bench/engines.py (the C engine
against NumPy, the seed and the peers). Progress goes to stderr, results to stdout and files.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scratchnet import compare

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "mnist"  # the original IDX files, which every engine reads
SEED_HELP = ("the seed's script nn2.py, with its data.py beside it (the listings of the post scratchnet grew "
             "from; bench/README.md says where it is published); without it the seed's row is skipped")


def add_out(parser, files: str) -> None:
    """--out DIR: where ``files`` go. Without it nothing is written (the table is printed), so that running a
    benchmark never dirties a checkout; --out bench/results updates the committed results."""
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"write {files} to DIR (e.g. bench/results, the "
                        "committed results); default: write nothing, print the table only")

SEED_EPOCH_LINE = re.compile(r"Epoch (\d+), Accuracy: ([\d.]+)%")

# Runs a command as its own child and writes the child's peak RSS (KiB on Linux) to argv[1]:
# RUSAGE_CHILDREN is the maximum over all waited-for children, so it needs a fresh process.
# SIGTERM stops the child and still writes its peak so far (the seed is stopped that way).
MAXRSS_WRAPPER = """\
import resource, signal, subprocess, sys
child = []
signal.signal(signal.SIGTERM, lambda *_: [c.kill() for c in child])
child.append(subprocess.Popen(sys.argv[2:]))
code = child[0].wait()
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


class BenchError(Exception):
    """A run that could not be measured: it crashed or printed something unexpected."""


@dataclass
class Run:
    """One training subprocess: its per-epoch records (dicts with at least ``epoch``,
    ``seconds`` and ``test_accuracy``, as `scratchnet train --json` prints them) and its peak memory."""

    name: str
    command: list[str]
    epochs: list[dict] = field(default_factory=list)
    peak_rss_kib: int = 0
    wall_seconds: float = 0.0

    @property
    def test_accuracy(self) -> float:
        return self.epochs[-1]["test_accuracy"]

    @property
    def median_epoch_seconds(self) -> float:
        return statistics.median(e["seconds"] for e in self.epochs)

    @property
    def training_seconds(self) -> float:
        return sum(e["seconds"] for e in self.epochs)


@dataclass
class SeedRun:
    """The seed's nn2.py: each stdout line with the time it arrived, and the epoch intervals."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)  # training accuracy in %, as it prints
    peak_rss_kib: int = 0  # 0 if the wrapper could not tell

    @property
    def median_epoch_seconds(self) -> float:
        return statistics.median(self.epoch_seconds)


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
    """The installed console script, else the module with this interpreter."""
    script = shutil.which("scratchnet")
    return [script] if script else [sys.executable, "-m", "scratchnet.cli"]


def json_lines(program: str) -> Callable[[str], dict]:
    """The parser of a program that prints one JSON epoch record a line (`scratchnet train --json`)."""
    def parse(line: str) -> dict:
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise BenchError(f"not a JSON line from {program}: {line.strip()!r}") from None
    return parse


def run_measured(name: str, program: str, command: list[str], tmp: Path,
                 parse: Callable[[str], dict | None]) -> Run:
    """Run ``command`` (``program`` in messages) under the peak-RSS wrapper, turning each stdout
    line into an epoch record with ``parse`` (None: not an epoch line) as it comes."""
    rss_file, stderr_file = tmp / f"{name}.maxrss", tmp / f"{name}.stderr"
    run = Run(name, command)
    began = time.perf_counter()
    with open(stderr_file, "w") as stderr, subprocess.Popen(
        [sys.executable, "-c", MAXRSS_WRAPPER, str(rss_file), *command], cwd=tmp,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
    ) as proc:
        try:
            for line in proc.stdout:
                record = parse(line)
                if record is None:
                    continue
                run.epochs.append(record)
                progress(f"  epoch {record['epoch']}: test {100 * record['test_accuracy']:.2f}%, "
                         f"{record['seconds']:.2f} s")
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)  # the wrapper's own process group: it and the run
            raise
        code = proc.wait()
    run.wall_seconds = time.perf_counter() - began
    if code != 0:
        raise BenchError(f"{program} exited with {code}: {tail(stderr_file)}")
    if not run.epochs:
        raise BenchError(f"{program} printed no epochs: {tail(stderr_file)}")
    run.peak_rss_kib = int(rss_file.read_text())
    return run


def run_scratchnet(name: str, options: list[str], tmp: Path) -> Run:
    """`scratchnet train --json --fresh` in a subprocess, reading its JSON epoch lines as they come."""
    train = [*scratchnet_command(), "train", "--json", "--fresh", "-p", str(tmp / f"{name}.npz"),
             "--data", str(DATA), *options]
    return run_measured(name, "scratchnet", train, tmp, json_lines("scratchnet"))


def seed_unavailable(script: Path | None, skip: bool) -> str:
    """Why the seed's script cannot run ("" if it can): ``script`` is --seed-script, ``skip`` --skip-seed."""
    if skip:
        return "skipped (--skip-seed)"
    if script is None:
        return "skipped: no --seed-script (the seed's nn2.py: see bench/README.md)"
    if not script.is_file() or not (script.parent / "data.py").is_file():
        return f"skipped: {script} and data.py beside it not found"
    if importlib.util.find_spec("matplotlib") is None:
        return "skipped: nn2.py needs matplotlib, which is not installed"
    return ""


def run_seed(tmp: Path, epochs: int, script: Path) -> SeedRun:
    """Run the seed's nn2.py (``script``, its data.py beside it) as the post does, with the repository's
    MNIST in the Keras layout it reads (data/mnist.npz), and time the gaps between its epoch lines."""
    from scratchnet.data import NPZ_KEYS, load_dataset

    folder = tmp / "seed"
    (folder / "data").mkdir(parents=True, exist_ok=True)  # a later round (bench/perf.py) runs it again
    shutil.copy(script, folder / "nn2.py")
    shutil.copy(script.parent / "data.py", folder / "data.py")
    mnist = load_dataset(DATA)
    np.savez(folder / "data" / "mnist.npz", **dict(zip(NPZ_KEYS, (mnist.train_images, mnist.train_labels,
                                                                   mnist.test_images, mnist.test_labels))))
    rss_file, stderr_file = tmp / "seed.maxrss", tmp / "seed.stderr"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    seed = SeedRun()
    mark: float | None = None  # when the previous epoch ended (or "- Epochs: 5" was printed)
    started = time.perf_counter()
    # stdin at EOF: its final input() loop raises EOFError, which ends it.
    with open(stderr_file, "w") as stderr, subprocess.Popen(
        [sys.executable, "-c", MAXRSS_WRAPPER, str(rss_file), sys.executable, "-u", "nn2.py"], cwd=folder, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
    ) as proc:
        try:
            for line in proc.stdout:
                now = time.perf_counter()
                seed.lines.append((now - started, line.rstrip("\n")))  # seconds since the start
                if line.startswith("- Epochs:"):
                    mark = now
                elif (match := SEED_EPOCH_LINE.match(line)) and mark is not None:
                    seed.epoch_seconds.append(now - mark)
                    seed.accuracies.append(float(match.group(2)))
                    mark = now
                    progress(f"  epoch {match.group(1)}: train {match.group(2)}%, {seed.epoch_seconds[-1]:.2f} s")
                    if len(seed.epoch_seconds) >= epochs:
                        break  # after the last epoch it only saves (failing on NumPy >= 1.24) and asks
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        if proc.poll() is None:
            proc.terminate()  # the wrapper stops nn2.py and writes its peak RSS; its exit status is of no
        proc.wait()           # interest: np.savez or input() ends it with an error anyway
    if len(seed.epoch_seconds) < epochs:
        raise BenchError(f"{len(seed.epoch_seconds)} of {epochs} epoch lines, then: {tail(stderr_file)}")
    try:
        seed.peak_rss_kib = int(rss_file.read_text())
    except (OSError, ValueError):
        pass
    return seed


def judge(number: int, description: str, needs: list[str], measured: Callable[[str], bool],
          skipped: dict[str, str], errors: dict[str, str], measure: Callable[[], tuple[str, object, bool]]) -> dict:
    """A target's line: PASS/FAIL from ``measure()`` -> (text, value, ok) when every run it ``needs`` was
    measured; otherwise ERROR (a needed run crashed) or SKIP (it was not run), naming the first missing run."""
    missing = [name for name in needs if not measured(name)]
    entry = {"target": number, "description": description}
    if missing:
        name = missing[0]
        if name in errors:
            entry.update(status="ERROR", measured=f"{name} failed: {errors[name]}")
        else:
            entry.update(status="SKIP", measured=f"{name} {skipped.get(name, 'not run')}")
    else:
        text, value, ok = measure()
        entry.update(status="PASS" if ok else "FAIL", measured=text, value=value)
    return entry


def target_lines(targets: list[dict]) -> list[str]:
    """The Markdown table of judged targets."""
    return ["| # | Target | Measured | Result |", "|---|--------|----------|--------|",
            *(f"| {t['target']} | {t['description']} | {t['measured']} | {t['status']} |" for t in targets)]


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


# matplotlib's default colours, by name: a chart can give each engine or preset its own
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
          "tab:olive", "tab:cyan")
# issue 12's thresholds for the presets, shared by perf.py and presets.py
FAST_ACCURACY, FAST_SHARE = 0.990, 1 / 5  # 99% in a fifth of `--preset best`'s NumPy training time
ACCURATE_ACCURACY, ACCURATE_SECONDS = 0.994, 600.0  # 99.4% within 10 minutes of training
PEAK_MB = 500.0  # peak memory of every preset
# the engine each preset is measured with: the fastest for its workload; best also as the reference
PRESET_ENGINES = {"seed": "numpy", "tuned": "numpy", "best": "numpy", "fast": "c", "accurate": "c"}


@dataclass
class Curve:
    """One line of an accuracy chart: accuracy (%) after each epoch, against the training time so far."""

    label: str | None  # None: no legend entry (another seed of a curve already named)
    seconds: list[float]  # each epoch's training time
    accuracy: list[float]
    color: str
    style: str = "-"  # matplotlib's line style

    @property
    def times(self) -> list[float]:
        return list(itertools.accumulate(self.seconds))


def accuracy_chart(panels: list[tuple[str, list[Curve], tuple[float, float]]], path: Path, title: str,
                   levels: tuple[float, ...] = ()) -> str:
    """Accuracy against cumulative training time (log scale), a panel per (title, curves, y limits), side by
    side, with dashed grey lines at ``levels``; written to ``path``. Returns '' or why there is no chart."""
    if importlib.util.find_spec("matplotlib") is None:
        return "no chart: matplotlib is not installed (pip install matplotlib)"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(9 if len(panels) == 1 else 13, 5), squeeze=False)
    for ax, (name, curves, limits) in zip(axes[0], panels):
        for c in curves:
            ax.plot(c.times, c.accuracy, marker=".", color=c.color, label=c.label, alpha=0.8,
                    ls=c.style)
        for level in levels:
            ax.axhline(level, color="gray", lw=0.6, ls="--")
        ax.set_xscale("log")
        ax.set_ylim(*limits)
        ax.set_xlabel("training time, s (log scale)")
        ax.set_ylabel("accuracy, %")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return ""


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
