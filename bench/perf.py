#!/usr/bin/env python3
"""Issue 22's targets, measured side by side in one run, each PASS or FAIL (SKIP: not selected, or not
measurable here, and why; ERROR: a run crashed):

  1. C per-sample SGD on the original 784-20-10 >= 70x faster than the original script (--original-script),
     the two running at the same time, so that both see the same load
  2. the explorer: pen to frame p95 <= 16 ms (784-20-10), <= 50 ms (784-800-800-10), and the exported
     784-800-800-10 page under 10 MB (`bench/explorer.py --json`)
  3. C's text writer and reader at least as fast per number as Python's, the same bytes (bench/textio.py)
  4. OpenMP's wait policy: the C engine under each, quiet and busy (bench/threads.py), and the one chosen
  5. `--preset fast` >= 99.0% (median of 3 seeds), each seed in <= 1/20 of `--preset best`'s NumPy training time
  6. RECORD_PRESET >= 99.5% (median of 3 seeds), each within 30 minutes of training
  7. peak RSS of `scratchnet train` < 500 MB for every preset (1 GB for RECORD_PRESET), from the runs made

Target 6 alone takes about 90 minutes: pick targets with --targets. The presets' trainings also give the
Results table the README shows (results.md with --out).

    python bench/perf.py --original-script PATH/nn2.py      # everything (about 2 hours)
    python bench/perf.py --targets 1,3,4,7 --presets original,tuned --original-script PATH/nn2.py
    python bench/perf.py --quick                            # every code path, 1 epoch each (about a minute)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import textio
import threads
from common import (
    DATA,
    REPO,
    BenchError,
    Run,
    add_out,
    entry_point,
    machine,
    machine_line,
    progress,
    run_scratchnet,
    target_lines,
    temporary_folder,
    write_results,
)

from scratchnet import cengine, compare
from scratchnet.config import PRESETS, resolve
from scratchnet.data import NPZ_KEYS, load_dataset
from scratchnet.errors import ScratchnetError
from scratchnet.threads import cores

RECORD_PRESET = "record" if "record" in PRESETS else "accurate"  # target 6's preset

ORIGINAL_SPEEDUP = 70.0
PEN_P95_MS = {"784-20-10": 16.0, "784-800-800-10": 50.0}
PAGE_BYTES = 10_000_000  # the exported 784-800-800-10 page
FAST_ACCURACY, FAST_SHARE = 0.990, 1 / 20
RECORD_ACCURACY, RECORD_SECONDS = 0.995, 30 * 60.0
PEAK_MB, RECORD_PEAK_MB = 500.0, 1000.0
SEEDS = (0, 1, 2)
TARGETS = (1, 2, 3, 4, 5, 6, 7)
# The engine each preset trains on: the fastest for its workload; best on NumPy, target 5's reference.
NUMPY_PRESETS = ("original", "tuned", "best")
SCRIPT_TIMEOUT = 900.0  # seconds the original script may run (5 epochs take about 30 s)


class Skip(Exception):
    """A target that cannot be measured here (a missing program, library or option), and why."""


def engine(preset: str) -> str:
    return "numpy" if preset in NUMPY_PRESETS else "c"


def describe(preset: str) -> str:
    """What the preset is, from its settings (config.PRESETS), and the engine it trains on here."""
    c = resolve({}, preset)
    parts = [f"{'-'.join(map(str, c.layers))} {c.hidden}/{c.output} {c.dtype}",
             "per-sample" if c.batch_size == 1 else f"batches of {c.batch_size}",
             c.optimizer + (f", {c.schedule} schedule" if c.schedule != "constant" else ""), f"{c.epochs} epochs"]
    if c.shift:
        parts.append(f"images shifted by up to {c.shift} px")
    if c.elastic:
        parts.append("elastic distortions")
    if c.rotate or c.scale:
        parts.append(f"rotated by up to {c.rotate:g} degrees and stretched by up to {c.scale:.0%}")
    return ", ".join(parts) + f"; `--engine {engine(preset)}`"


# --- target 1: the original script and the C engine at the same time -------------------------------------


def original_copy(script: Path, mnist, folder: Path) -> Path:
    """The original script and the data.py beside it, copied to ``folder`` with the repository's MNIST as the
    data/mnist.npz (Keras layout) its data.py reads: it trains on what the C engine trains on."""
    if not (script.parent / "data.py").is_file():
        raise Skip(f"no data.py beside {script}")
    (folder / "data").mkdir()
    for name in (script.name, "data.py"):
        shutil.copy(script.parent / name, folder / name)
    np.savez(folder / "data" / "mnist.npz", **dict(zip(NPZ_KEYS, (mnist.train_images, mnist.train_labels,
                                                                   mnist.test_images, mnist.test_labels))))
    return folder / script.name


def original_against_c(script: Path) -> dict:
    """Run the original script (scratchnet.compare.time_script: the gaps between its epoch lines) and, while it
    runs, train the original network per-sample with the C engine (float64, one thread) an epoch at a time, in
    this process. Sequential timings swung the ratio 2x under load; at the same time, both see it."""
    mnist = load_dataset(DATA)
    n = len(mnist.train_labels)
    trainer = compare.Trainer(compare.Row("c-original", "c", "original", "float64", 1, 1, n, 0.0), mnist)
    result: dict = {}

    def original(copy: Path) -> None:
        try:
            result["row"] = compare.time_script(copy, n, SCRIPT_TIMEOUT)
        except ScratchnetError as e:
            result["error"] = str(e)

    c_seconds = []
    with temporary_folder() as folder:
        thread = threading.Thread(target=original, args=(original_copy(script, mnist, Path(folder)),))
        thread.start()
        while thread.is_alive():
            c_seconds.append(trainer())
        thread.join()
    if "error" in result:
        raise BenchError(result["error"])
    script_seconds = result["row"].seconds
    progress(f"  original {statistics.median(script_seconds):.2f} s/epoch ({len(script_seconds)} epochs), "
             f"C {statistics.median(c_seconds):.4f} s/epoch ({len(c_seconds)} epochs)")
    return {"original_epoch_seconds": script_seconds, "c_epoch_seconds": c_seconds,
            "speedup": statistics.median(script_seconds) / statistics.median(c_seconds)}


def judge_original(m: dict) -> tuple[str, bool]:
    o, c = statistics.median(m["original_epoch_seconds"]), statistics.median(m["c_epoch_seconds"])
    return (f"{m['speedup']:.1f}x: the original script {o:.2f} s/epoch (median of {len(m['original_epoch_seconds'])}), "
            f"C {c:.4f} s/epoch (median of the {len(m['c_epoch_seconds'])} run meanwhile)",
            m["speedup"] >= ORIGINAL_SPEEDUP)


# --- target 2: the explorer, from bench/explorer.py --json ------------------------------------------------


def explorer_figures(quick: bool) -> dict:
    """bench/explorer.py --json's object: {"pen_ms": {shape: {"median", "p95"}}, "export_bytes": {shape: n}}."""
    script = [sys.executable, str(REPO / "bench" / "explorer.py")]
    usage = subprocess.run([*script, "--help"], capture_output=True, text=True, check=False).stdout
    if "--json" not in usage:
        raise Skip("bench/explorer.py has no --json option yet")
    options = ["--json", *(["--repeats", "1", "--rounds", "1"] if quick and "--rounds" in usage else [])]
    done = subprocess.run([*script, *options], capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode == 2:  # its code for a missing Playwright or chromium
        raise Skip(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "bench/explorer.py exited 2")
    if done.returncode != 0:
        raise BenchError(f"bench/explorer.py exited with {done.returncode}: {done.stderr.strip()[-300:]}")
    lines = done.stdout.strip().splitlines()
    for text in (done.stdout, lines[-1] if lines else ""):  # the whole output, else its last line
        try:
            figures = json.loads(text)
            break
        except json.JSONDecodeError:
            continue
    else:
        raise BenchError(f"bench/explorer.py --json printed no JSON object: {done.stdout.strip()[-200:]!r}")
    missing = [shape for shape in PEN_P95_MS if shape not in figures.get("pen_ms", {})]
    if missing or "784-800-800-10" not in figures.get("export_bytes", {}):
        raise BenchError(f"bench/explorer.py --json lacks {missing or 'export_bytes'}")
    return figures


def judge_explorer(figures: dict) -> tuple[str, bool]:
    pen, size = figures["pen_ms"], figures["export_bytes"]["784-800-800-10"]
    text = "; ".join(f"{shape}: p95 {pen[shape]['p95']:.1f} ms (median {pen[shape]['median']:.1f})"
                     for shape in PEN_P95_MS) + f"; 784-800-800-10 page {size / 1e6:.1f} MB"
    ok = all(pen[shape]["p95"] <= limit for shape, limit in PEN_P95_MS.items()) and size < PAGE_BYTES
    return text, ok


# --- targets 3 and 4: bench/textio.py and bench/threads.py -------------------------------------------------


def c_library() -> None:
    """Skip a target when the C engine's libraries are not built."""
    try:
        for dtype in (np.float64, np.float32):
            cengine.library(dtype)
    except ScratchnetError as e:
        raise Skip(str(e)) from None


def text_files(quick: bool) -> dict:
    c_library()
    return textio.measure_all(1 if quick else 6)


def judge_text(results: dict) -> tuple[str, bool]:
    _, ok = textio.rows(results)
    text = "; ".join(f"{dtype} µs a number: write C {r['us_per_number']['c write']:.3f}, Python "
                     f"{r['us_per_number']['python write']:.3f}; read C {r['us_per_number']['c read']:.3f}, Python "
                     f"{r['us_per_number']['python read']:.3f}" for dtype, r in results.items())
    return text + "; the same bytes", ok


def policies(quick: bool) -> dict:
    c_library()
    if quick:
        return threads.wait_policies(cores(), ("original",), repeats=1, share=0.2)
    return threads.wait_policies(cores())


def judge_policies(results: dict) -> tuple[str, bool]:
    return f"measured (table below); chosen: {threads.CHOSEN_POLICY}", True


# --- targets 5-7: trainings --------------------------------------------------------------------------------


def trainings(targets: set[int], presets: list[str], seeds: tuple[int, ...], quick: bool) -> dict[str, list[str]]:
    """name -> `scratchnet train` options of every training the targets need; target 7 trains each of
    ``presets`` that the others do not, once (seed 0)."""
    def options(preset: str, seed: int, *extra: str) -> list[str]:
        return ["--preset", preset, "--engine", engine(preset), "--seed", str(seed), *extra,
                *(["--epochs", "1"] if quick else [])]

    plan: dict[str, list[str]] = {}
    if 5 in targets:
        plan["best-seed0"] = options("best", 0)
        plan.update({f"fast-seed{s}": options("fast", s) for s in seeds})
        plan["best-seed0-threads2"] = options("best", 0, "--threads", "2")
    if 6 in targets:
        plan.update({f"{RECORD_PRESET}-seed{s}": options(RECORD_PRESET, s) for s in seeds})
    if 7 in targets:
        for preset in presets:
            if not any(name.startswith(f"{preset}-seed") for name in plan):
                plan[f"{preset}-seed0"] = options(preset, 0)
    return plan


def of_preset(runs: dict[str, Run], preset: str, seeds_only: bool = True) -> list[Run]:
    """The runs of ``preset``: one per seed (``seeds_only``), or also best's run on 2 threads."""
    return [r for name, r in runs.items() if name.startswith(f"{preset}-seed")
            and not (seeds_only and name.endswith("-threads2"))]


def spread(runs: list[Run]) -> str:
    return ", ".join(f"{100 * r.test_accuracy:.2f}% in {r.training_seconds:.0f} s" for r in runs)


def judge_fast(runs: dict[str, Run]) -> tuple[str, bool]:
    best, best2 = runs["best-seed0"].training_seconds, runs["best-seed0-threads2"].training_seconds
    fast = of_preset(runs, "fast")
    accuracy = statistics.median(r.test_accuracy for r in fast)
    slowest = max(r.training_seconds for r in fast)
    text = (f"median {100 * accuracy:.2f}% ({spread(fast)}); the slowest seed 1/{best / slowest:.1f} of NumPy "
            f"best's {best:.0f} s (1/{best2 / slowest:.1f} of its {best2:.0f} s with `--threads 2`)")
    return text, accuracy >= FAST_ACCURACY and slowest <= FAST_SHARE * best


def judge_record(runs: dict[str, Run]) -> tuple[str, bool]:
    record = of_preset(runs, RECORD_PRESET)
    accuracy = statistics.median(r.test_accuracy for r in record)
    slowest = max(r.training_seconds for r in record)
    return (f"median {100 * accuracy:.2f}% ({spread(record)})",
            accuracy >= RECORD_ACCURACY and slowest <= RECORD_SECONDS)


def judge_memory(runs: dict[str, Run], presets: list[str]) -> tuple[str, bool]:
    peaks = {p: max(r.peak_mb for r in of_preset(runs, p, False)) for p in PRESETS if of_preset(runs, p, False)}
    if not peaks:
        raise Skip("no preset trained")
    limit = {p: RECORD_PEAK_MB if p == RECORD_PRESET else PEAK_MB for p in peaks}
    text = ", ".join(f"{p} {mb:.0f} MB (limit {limit[p]:g})" for p, mb in peaks.items())
    if left := [p for p in PRESETS if p not in peaks]:
        text += f"; not trained: {', '.join(left)}"
    return text, all(mb < limit[p] for p, mb in peaks.items())


# --- the run ------------------------------------------------------------------------------------------------


def results_table(runs: dict[str, Run], info: dict, quick: bool) -> str:
    """The README's Results table: each preset trained in this run, what it is, its test accuracy (the median
    over its seeds) and training time."""
    loads = [r.load_before for r in runs.values()]
    lines = [f"Measured by `python bench/perf.py` on {info['date']} on {info['cpu']} ({info['cores']} cores, "
             f"Python {info['python']}, NumPy {info['numpy']} with {info['blas']}), commit {info['commit']}; load "
             f"average {min(loads):.1f}-{max(loads):.1f} as the trainings began"
             + (" — **quick mode, 1 epoch each: not results**" if quick else "") + ".", "",
             "| preset | what it is | test accuracy | training time |", "|---|---|---|---|"]
    for preset in PRESETS:
        done = of_preset(runs, preset)
        if not done:
            continue
        accuracy = f"{100 * statistics.median(r.test_accuracy for r in done):.2f}%"
        times = sorted(r.training_seconds for r in done)
        if len(done) > 1:
            accuracy += f" (median of {len(done)} seeds)"
        seconds = f"{times[0]:.0f} s" if len(times) == 1 or round(times[0]) == round(times[-1]) else \
            f"{times[0]:.0f}-{times[-1]:.0f} s"
        lines.append(f"| `{preset}` | {describe(preset)} | {accuracy} | {seconds} |")
    return "\n".join(lines) + "\n"


def markdown(info: dict, load: dict, args, verdicts: list[dict], runs: dict[str, Run], measured: dict) -> str:
    lines = ["# scratchnet against issue 22's targets", "",
             machine_line(info) + f"; load average {load['start']:.1f} at the start, {load['end']:.1f} at the end"
             + f"; targets {','.join(map(str, sorted(args.targets)))}"
             + (" — **quick mode**: 1 epoch each, 1 seed, short timings; the thresholds are the full run's"
                if args.quick else ""), "",
             *target_lines(verdicts)]
    if runs:
        lines += ["", "## Trainings", "", "| run | options | epochs | test accuracy | training s | peak RSS (MB) | "
                  "load before |", "|---|---|---:|---:|---:|---:|---:|"]
        for name, r in runs.items():
            options = " ".join(r.command[r.command.index("--preset"):])
            lines.append(f"| {name} | `{options}` | {len(r.epochs)} | {100 * r.test_accuracy:.2f}% | "
                         f"{r.training_seconds:.1f} | {r.peak_mb:.0f} | {r.load_before:.1f} |")
    if 3 in measured:
        lines += ["", f"## Text files ({'-'.join(map(str, textio.SIZES))}, CPU time per number, the fastest run)", "",
                  *textio.rows(measured[3])[0]]
    if 4 in measured:
        quiet, busy = measured[4]["quiet"], measured[4]["busy"]
        presets = tuple(dict.fromkeys(key.split("/")[0] for key in quiet if "/" in key))
        lines += ["", "## OpenMP's wait policy (seconds for a fixed part of an epoch, the C engine, quiet / busy)", "",
                  f"Load average: {quiet['load_average']:.1f} quiet, {busy['load_average']:.1f} with a busy loop on "
                  f"every core. Chosen: {threads.CHOSEN_POLICY}.", "",
                  *threads.policy_lines(quiet, busy, presets)]
    if runs:
        lines += ["", "## Results (the README's table)", "", results_table(runs, info, args.quick)]
    return "\n".join(lines).rstrip("\n") + "\n"


def parse_targets(text: str) -> set[int]:
    try:
        chosen = {int(t) for t in text.split(",") if t.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not chosen or not chosen <= set(TARGETS):
        raise argparse.ArgumentTypeError(f"targets are {TARGETS[0]}-{TARGETS[-1]}: {text!r}")
    return chosen


def parse_presets(text: str) -> list[str]:
    names = [p for p in text.split(",") if p]
    if unknown := [p for p in names if p not in PRESETS]:
        raise argparse.ArgumentTypeError(f"unknown presets {', '.join(unknown)}: choose from {', '.join(PRESETS)}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description="Issue 22's targets, PASS/FAIL side by side (Markdown table).",
                                     epilog=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=parse_targets, default=set(TARGETS), metavar="N,N,...",
                        help="the targets to measure (default: all; 6 alone takes about 90 minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="check every code path: 1 epoch, 1 seed, short timings (about a minute)")
    parser.add_argument("--original-script", type=Path, metavar="PATH/nn2.py",
                        help="the original script (the post's nn2.py, its data.py beside it: bench/README.md); "
                        "without it target 1 reads SKIP")
    parser.add_argument("--presets", type=parse_presets, default=list(PRESETS), metavar="NAME,...",
                        help="the presets target 7 and the Results table cover (default: every preset)")
    add_out(parser, "perf.md, perf.json and results.md (the README's Results table)")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"perf.py: {DATA} is missing", file=sys.stderr)
        return 1
    info = machine()
    load = {"start": os.getloadavg()[0]}
    seeds = SEEDS[:1] if args.quick else SEEDS

    def original() -> dict:
        if args.original_script is None:
            raise Skip("no --original-script (the post's nn2.py: bench/README.md)")
        if not args.original_script.is_file():
            raise Skip(f"--original-script {args.original_script}: no such file")
        c_library()
        return original_against_c(args.original_script)

    measures: dict[int, tuple[str, Callable[[], dict], Callable[[dict], tuple[str, bool]]]] = {
        1: (f"C per-sample on the original 784-20-10 >= {ORIGINAL_SPEEDUP:g}x the original script, at the same time",
            original, judge_original),
        2: ("explorer: pen to frame p95 <= " + " / ".join(f"{ms:g} ms ({shape})" for shape, ms in PEN_P95_MS.items())
            + f"; exported 784-800-800-10 page < {PAGE_BYTES / 1e6:g} MB", lambda: explorer_figures(args.quick),
            judge_explorer),
        3: ("C text writer and reader at least as fast per number as Python's, the same bytes",
            lambda: text_files(args.quick), judge_text),
        4: ("OpenMP wait policy chosen by measurement, quiet and busy", lambda: policies(args.quick), judge_policies),
    }
    verdicts: dict[int, dict] = {}
    measured: dict[int, dict] = {}
    for number, (description, measure, judge) in measures.items():
        verdict = verdicts[number] = {"target": number, "description": description}
        if number not in args.targets:
            verdict.update(status="SKIP", measured="not selected (--targets)")
            continue
        progress(f"target {number}: {description}")
        try:
            measured[number] = measure()
            text, ok = judge(measured[number])
            verdict.update(status="PASS" if ok else "FAIL", measured=text)
        except Skip as e:
            verdict.update(status="SKIP", measured=str(e))
        except (BenchError, OSError, subprocess.TimeoutExpired) as e:
            verdict.update(status="ERROR", measured=str(e))
        progress(f"  {verdict['status']}: {verdict['measured']}")

    plan = trainings(args.targets, args.presets, seeds, args.quick)
    runs: dict[str, Run] = {}
    errors: dict[str, str] = {}
    with temporary_folder() as tmp:
        for i, (name, options) in enumerate(plan.items(), 1):
            progress(f"[{i}/{len(plan)}] {name}: scratchnet train {' '.join(options)}")
            try:
                runs[name] = run_scratchnet(name, options, Path(tmp))
            except (BenchError, OSError, KeyError, ValueError) as e:
                errors[name] = str(e)
                progress(f"  error: {e}")
    trained = {
        5: (f"`--preset fast` >= {100 * FAST_ACCURACY:g}% (median of {len(SEEDS)} seeds), each in <= 1/"
            f"{1 / FAST_SHARE:g} of `--preset best`'s NumPy training time", lambda: judge_fast(runs),
            ["best-seed0", "best-seed0-threads2", *(f"fast-seed{s}" for s in seeds)]),
        6: (f"`--preset {RECORD_PRESET}` >= {100 * RECORD_ACCURACY:g}% (median of {len(SEEDS)} seeds), each within "
            f"{RECORD_SECONDS / 60:g} minutes of training", lambda: judge_record(runs),
            [f"{RECORD_PRESET}-seed{s}" for s in seeds]),
        7: (f"peak RSS < {PEAK_MB:g} MB for every preset ({RECORD_PEAK_MB / 1000:g} GB for `{RECORD_PRESET}`)",
            lambda: judge_memory(runs, args.presets), []),
    }
    for number, (description, judge, needs) in trained.items():
        verdict = verdicts[number] = {"target": number, "description": description}
        failed = [f"{name}: {errors[name]}" for name in (needs or plan) if name in errors]
        if number not in args.targets:
            verdict.update(status="SKIP", measured="not selected (--targets)")
        elif failed:
            verdict.update(status="ERROR", measured=failed[0])
        else:
            try:
                text, ok = judge()
                verdict.update(status="PASS" if ok else "FAIL", measured=text)
            except Skip as e:
                verdict.update(status="SKIP", measured=str(e))
    load["end"] = os.getloadavg()[0]
    ordered = [verdicts[n] for n in TARGETS]
    table = markdown(info, load, args, ordered, runs, measured)
    print(table, end="")
    raw = {"machine": info, "load": load, "quick": args.quick, "targets_run": sorted(args.targets),
           "record_preset": RECORD_PRESET, "targets": ordered, "measured": {str(n): m for n, m in measured.items()},
           "runs": {name: {"command": r.command, "epochs": r.epochs, "peak_rss_kib": r.peak_rss_kib,
                           "wall_seconds": r.wall_seconds, "load_before": r.load_before} for name, r in runs.items()},
           "errors": errors}
    write_results(args.out, "perf", table, raw)
    if args.out and runs:
        (args.out / "results.md").write_text(results_table(runs, info, args.quick))
        progress(f"wrote {args.out / 'results.md'}")
    return 1 if any(v["status"] == "ERROR" for v in ordered) else 0


if __name__ == "__main__":
    entry_point(main, "perf.py")
