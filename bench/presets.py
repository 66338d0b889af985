#!/usr/bin/env python3
"""Train each preset for real over a few seeds: accuracy against training time, and peak memory.

Issue 12's preset targets, judged in one run:
  4. `--preset fast` reaches >= 99.0% test accuracy (the median of the seeds), each seed in at most a
     fifth of the training time `--preset best` takes with the NumPy engine (measured in this run, seed 0);
  5. `--preset accurate` (an MLP, no convolutions) reaches >= 99.4% (median of the seeds) within
     600 s of training;
  6. the peak RSS of every preset's `scratchnet train` stays under 500 MB.

Each run is `scratchnet train --json --fresh --preset P --engine E --seed S` under the peak-RSS
wrapper of bench/common.py; a run's training time is the sum of its epochs' `seconds` (each epoch's
images made, shifted or distorted, and its training; the evaluation after it excluded). The load
average before each run is recorded: on a shared machine the times vary with it.

Output: the table on stdout and OUT/presets.md, the raw numbers (every epoch of every run) in
OUT/presets.json, and OUT/presets.png, test accuracy against cumulative training time (needs
matplotlib).

    python bench/presets.py                       # everything: about 45 minutes on a busy 2-core machine
    python bench/presets.py --presets fast best --seeds 3
    python bench/presets.py --quick               # 1 epoch each, 1 seed: checks the script works
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from common import (
    ACCURATE_ACCURACY,
    ACCURATE_SECONDS,
    COLORS,
    DATA,
    FAST_ACCURACY,
    FAST_SHARE,
    PEAK_MB,
    PRESET_ENGINES,
    BenchError,
    Curve,
    Run,
    accuracy_chart,
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

PRESETS = tuple(PRESET_ENGINES)


def planned(presets: list[str], seeds: int, quick: bool) -> dict[str, list[str]]:
    """name -> train options: fast and accurate over ``seeds`` seeds, the others (and best, the
    reference of target 4) once, with seed 0."""
    plan = {}
    for preset in presets:
        for seed in range(seeds if preset in ("fast", "accurate") else 1):
            plan[f"{preset}-seed{seed}"] = ["--preset", preset, "--engine", PRESET_ENGINES[preset], "--seed", str(seed),
                                            *(["--epochs", "1"] if quick else [])]
    return plan


def evaluate(runs: dict[str, Run], errors: dict[str, str]) -> list[dict]:
    """One row per target, PASS/FAIL (or ERROR/SKIP when a run it needs is missing)."""
    rows = []

    def group(preset: str) -> list[Run]:
        return [r for name, r in runs.items() if name.startswith(f"{preset}-")]

    def missing(preset: str) -> dict | None:
        failed = [f"{name}: {why}" for name, why in errors.items() if name.startswith(f"{preset}-")]
        if failed:
            return {"status": "ERROR", "measured": failed[0]}
        return None if group(preset) else {"status": "SKIP", "measured": f"`--preset {preset}` not run"}

    def row(number: int, description: str, needs: list[str], measure) -> None:
        entry = {"target": number, "description": description}
        problem = next((m for m in map(missing, needs) if m), None)
        if problem:
            entry.update(problem)
        else:
            text, value, ok = measure()
            entry.update(status="PASS" if ok else "FAIL", measured=text, value=value)
        rows.append(entry)

    def fast():
        reference = group("best")[0].training_seconds
        draws = {r.command[r.command.index("--seed") + 1]: (r.test_accuracy, r.training_seconds) for r in group("fast")}
        worst = max(seconds for _, seconds in draws.values())
        each = ", ".join(f"seed {s}: {100 * a:.2f}% in {t:.1f} s" for s, (a, t) in draws.items())
        median = statistics.median(a for a, _ in draws.values())
        ok = median >= FAST_ACCURACY and worst <= FAST_SHARE * reference
        text = (f"median {100 * median:.2f}% ({each}); the slowest is {worst / reference:.2f} of best's "
                f"{reference:.1f} s (NumPy)")
        return text, {"median": median, "by_seed": draws, "best_numpy_seconds": reference}, ok

    def accurate():
        draws = {r.command[r.command.index("--seed") + 1]: (r.test_accuracy, r.training_seconds)
                 for r in group("accurate")}
        median = statistics.median(a for a, _ in draws.values())
        worst = max(t for _, t in draws.values())
        each = ", ".join(f"seed {s}: {100 * a:.2f}% in {t:.0f} s" for s, (a, t) in draws.items())
        return (f"median {100 * median:.2f}% ({each})", {"median": median, "by_seed": draws},
                median >= ACCURATE_ACCURACY and worst <= ACCURATE_SECONDS)

    def memory():
        peaks = {name: r.peak_rss_kib * 1024 / 1e6 for name, r in runs.items()}
        worst = max(peaks, key=peaks.get)
        by_preset = {}
        for name, mb in peaks.items():
            preset = name.rsplit("-seed", 1)[0]
            by_preset[preset] = max(mb, by_preset.get(preset, 0))
        return (", ".join(f"{p} {mb:.0f} MB" for p, mb in by_preset.items()) + f" (most: {worst})", peaks,
                peaks[worst] < PEAK_MB)

    row(4, f"`--preset fast`: median >= {100 * FAST_ACCURACY:g}%, each seed in <= 1/{1 / FAST_SHARE:g} of "
        f"`--preset best`'s NumPy training time", ["fast", "best"], fast)
    row(5, f"`--preset accurate` (MLP): median >= {100 * ACCURATE_ACCURACY:g}% in <= {ACCURATE_SECONDS:g} s of "
        f"training", ["accurate"], accurate)
    if runs:
        row(6, f"peak RSS of `scratchnet train --preset X` < {PEAK_MB:g} MB, every run", [], memory)
    return rows


def curve_lines(runs: dict[str, Run], loads: dict[str, float]) -> list[str]:
    """A table of every run: its final accuracy and time, the time to 99% and to 99.4%, its peak
    memory and the load it ran under."""
    lines = ["| run | command | epochs | test accuracy | training s | s to 99.0% | s to 99.4% | peak RSS | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        elapsed, reach = 0.0, {}
        for e in r.epochs:
            elapsed += e["seconds"]
            for level in (0.99, 0.994):
                if e["test_accuracy"] >= level:
                    reach.setdefault(level, f"{elapsed:.1f}")
        options = " ".join(r.command[r.command.index("--preset"):])
        lines.append(f"| {name} | `scratchnet train {options}` | {len(r.epochs)} | {100 * r.test_accuracy:.2f}% | "
                     f"{r.training_seconds:.1f} | {reach.get(0.99, '—')} | {reach.get(0.994, '—')} | {r.peak_rss_kib * 1024 / 1e6:.0f} MB | "
                     f"{loads[name]:.1f} |")
    return lines


def augmentation_seconds(preset: str, repeats: int = 3) -> float | None:
    """Median seconds to make one epoch's images for ``preset`` (shifts, distortions), in this
    process: the part of an epoch that its ``seconds`` leave out (they time the training only)."""
    from scratchnet import config, data, numpy_engine

    settings = config.resolve({}, preset)
    if not (settings.shift or settings.distorts()):
        return None
    images = data.load_dataset(DATA).train_images
    times = []
    for epoch in range(repeats):
        began = time.perf_counter()
        numpy_engine.epoch_samples(settings, images, epoch)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def chart(runs: dict[str, Run], path: Path, info: dict) -> str:
    """Test accuracy against cumulative training time, a line per run; '' or why there is none."""
    colors = dict(zip(PRESETS, COLORS))
    curves = []
    for name, r in runs.items():
        preset = name.rsplit("-seed", 1)[0]
        curves.append(Curve(f"{preset} ({PRESET_ENGINES[preset]})" if name.endswith("seed0") else None,
                            [e["seconds"] for e in r.epochs], [100 * e["test_accuracy"] for e in r.epochs],
                            colors[preset]))
    return accuracy_chart([("test accuracy of each preset's runs", curves, (96, 99.8))], path,
                          f"scratchnet presets — {info['cpu']}, {info['cores']} cores, {info['date']}", (99.0, 99.4))


def main() -> int:
    parser = argparse.ArgumentParser(description="Train each preset over seeds: accuracy against time, memory.")
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS), help="presets to run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of fast and accurate (default: 3)")
    parser.add_argument("--quick", action="store_true", help="for development: 1 epoch, 1 seed each")
    add_out(parser, "presets.md, .json and .png")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"presets.py: {DATA} is missing", file=sys.stderr)
        return 1
    info = machine()
    plan = planned(args.presets, 1 if args.quick else args.seeds, args.quick)
    runs: dict[str, Run] = {}
    loads: dict[str, float] = {}
    errors: dict[str, str] = {}
    with temporary_folder() as tmp:
        for i, (name, options) in enumerate(plan.items(), 1):
            loads[name] = os.getloadavg()[0]
            progress(f"[{i}/{len(plan)}] {name}: scratchnet train {' '.join(options)} (load {loads[name]:.1f})")
            began = time.perf_counter()
            try:
                runs[name] = run_scratchnet(name, options, Path(tmp))
            except (BenchError, OSError, KeyError, ValueError) as e:
                errors[name] = str(e)
                progress(f"  error: {e}")
            progress(f"  done in {time.perf_counter() - began:.1f} s")
    rows = evaluate(runs, errors)
    making = {}  # preset -> seconds an epoch's images take, beside the median epoch's training
    for preset in dict.fromkeys(name.rsplit("-seed", 1)[0] for name in runs):
        if (seconds := augmentation_seconds(preset)) is not None:
            epoch = statistics.median(e["seconds"] for name, r in runs.items() if name.startswith(f"{preset}-")
                                      for e in r.epochs)
            making[preset] = {"images_seconds": seconds, "median_epoch_seconds": epoch}
    notes = [f"- `{p}`: an epoch's images (shifts, distortions) take {m['images_seconds']:.2f} s, not counted in "
             f"its training seconds; its median epoch trains in {m['median_epoch_seconds']:.2f} s "
             f"({100 * m['images_seconds'] / m['median_epoch_seconds']:.0f}%)" for p, m in making.items()]
    why_no_chart = "no chart: no --out" if not args.out else "no chart: nothing was measured"
    if args.out and runs:
        args.out.mkdir(parents=True, exist_ok=True)
        why_no_chart = chart(runs, args.out / "presets.png", info)
    table = "\n".join(["# scratchnet presets", "", machine_line(info) + (" — **quick mode**" if args.quick else ""),
                       "", *target_lines(rows), "", *curve_lines(runs, loads), "", *notes, "",
                       why_no_chart or "![test accuracy against training time](presets.png)", ""])
    print(table, end="")
    write_results(args.out, "presets", table, {
        "machine": info, "quick": args.quick, "targets": rows, "errors": errors, "making_images": making,
        "runs": {n: {"command": r.command, "epochs": r.epochs, "peak_rss_kib": r.peak_rss_kib,
                     "wall_seconds": r.wall_seconds, "load_before": loads[n]} for n, r in runs.items()},
    })
    return 1 if errors else 0


if __name__ == "__main__":
    entry_point(main, "presets.py")
