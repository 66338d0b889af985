#!/usr/bin/env python3
"""Measure scratchnet against its targets in one run and print a Markdown table of PASS/FAIL.

Targets (thresholds are the constants below):
  1. seed defaults (`scratchnet train`, 5 epochs): test accuracy >= 93% (median over 5 seeds)
  2. `--preset tuned` (784-20-10 trained better): test accuracy >= 96.5%
  3. `--preset best`: test accuracy >= 99.0% in at most 180 s of training
  4. per-sample SGD: seconds per epoch at least 1.5x faster than the seed's nn2.py
  5. mini-batches of 32 on the seed's network: an epoch at least 10x faster than per-sample
  6. peak memory (RSS) of `scratchnet train` with the defaults under 500 MB

Every training is a subprocess `scratchnet train --json --fresh -p TMP/x.npz ...` in a temporary
directory; progress goes to stderr, the table to stdout and to OUT/targets.md, the raw numbers to
OUT/targets.json. A failed target still exits 0; only errors (a run that crashed) exit non-zero.

    python bench/targets.py                     # the full benchmark (about 5 minutes)
    python bench/targets.py --quick --skip-best # 1 epoch each: checks the script works
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import (
    DATA,
    SEED_HELP,
    BenchError,
    Run,
    SeedRun,
    add_out,
    entry_point,
    judge,
    machine,
    machine_line,
    progress,
    run_scratchnet,
    run_seed,
    seed_unavailable,
    target_lines,
    temporary_folder,
    write_results,
)

# The targets' thresholds.
DEFAULTS_ACCURACY = 0.93  # judged on the median over DEFAULT_SEEDS initialisations
DEFAULT_SEEDS = 5
TUNED_ACCURACY = 0.965
BEST_ACCURACY = 0.990
BEST_SECONDS = 180.0
SEED_SPEEDUP = 1.5
BATCH_SPEEDUP = 10.0
PEAK_MB = 500.0

SEED_EPOCHS = 5  # nn2.py's EPOCHS: it always runs 5
QUICK_SEED_EPOCHS = 2  # in --quick mode the seed is stopped after its 2nd epoch line


def evaluate(runs: dict[str, Run], seed: SeedRun | None, skipped: dict[str, str], errors: dict[str, str],
             quick: bool) -> list[dict]:
    """One row per target: what it asks, what was measured, PASS/FAIL (or SKIP/ERROR and why)."""
    epochs = "1 epoch (quick)" if quick else "5 epochs"
    rows: list[dict] = []

    def measured(name: str) -> bool:
        return seed is not None if name == "seed" else name in runs

    def row(number: int, target: str, needs: list[str], measure) -> None:
        rows.append(judge(number, target, needs, measured, skipped, errors, measure))

    def accuracy(name: str, threshold: float):
        acc = runs[name].test_accuracy
        return f"{100 * acc:.2f}%", acc, acc >= threshold

    def defaults():
        # The seed draws its initial weights unseeded: its accuracy is one draw from a spread of a
        # few tenths of a point, so the target is judged on the median over several seeds.
        draws = {r.command[r.command.index("--seed") + 1]: r.test_accuracy for n, r in runs.items()
                 if n.startswith("defaults")}
        median = statistics.median(draws.values())
        spread = ", ".join(f"seed {k}: {100 * v:.2f}%" for k, v in draws.items())
        return (f"median {100 * median:.2f}% over {len(draws)} seeds ({spread})",
                {"median": median, "by_seed": draws}, median >= DEFAULTS_ACCURACY)

    def best():
        run = runs["best"]
        seconds, acc = run.training_seconds, run.test_accuracy
        return (f"{100 * acc:.2f}% in {seconds:.0f} s ({len(run.epochs)} epochs)",
                {"test_accuracy": acc, "training_seconds": seconds}, acc >= BEST_ACCURACY and seconds <= BEST_SECONDS)

    def versus_seed():
        ours, theirs = runs["defaults"].median_epoch_seconds, seed.median_epoch_seconds
        ratio = theirs / ours
        return (f"{ratio:.2f}x (seed {theirs:.2f} s/epoch, scratchnet {ours:.2f} s/epoch)",
                {"speedup": ratio, "seed_seconds": theirs, "scratchnet_seconds": ours}, ratio >= SEED_SPEEDUP)

    def batching():
        per_sample, batched = runs["defaults"].median_epoch_seconds, runs["mb32"].median_epoch_seconds
        ratio = per_sample / batched
        return (f"{ratio:.1f}x (per-sample {per_sample:.2f} s/epoch, batch 32 {batched:.2f} s/epoch)",
                {"speedup": ratio, "per_sample_seconds": per_sample, "batch32_seconds": batched},
                ratio >= BATCH_SPEEDUP)

    def memory():
        mb = runs["defaults"].peak_rss_kib * 1024 / 1e6
        return f"{mb:.0f} MB", mb, mb < PEAK_MB

    row(1, f"defaults (`scratchnet train`), {epochs}: test accuracy >= {100 * DEFAULTS_ACCURACY:g}%",
        ["defaults"], defaults)
    row(2, f"`--preset tuned`{', 1 epoch (quick)' if quick else ''}: test accuracy >= {100 * TUNED_ACCURACY:g}%",
        ["tuned"], lambda: accuracy("tuned", TUNED_ACCURACY))
    row(3, f"`--preset best`: test accuracy >= {100 * BEST_ACCURACY:g}% in <= {BEST_SECONDS:g} s of training",
        ["best"], best)
    row(4, f"per-sample SGD: seconds per epoch >= {SEED_SPEEDUP:g}x faster than the seed's nn2.py",
        ["seed", "defaults"], versus_seed)
    row(5, f"`--batch-size 32` on the seed's network: epoch >= {BATCH_SPEEDUP:g}x faster than per-sample",
        ["defaults", "mb32"], batching)
    row(6, f"peak RSS of `scratchnet train` with the defaults < {PEAK_MB:g} MB", ["defaults"], memory)
    return rows


def markdown(info: dict, rows: list[dict], quick: bool) -> str:
    lines = [
        "# scratchnet targets",
        "",
        machine_line(info)
        + (" — **quick mode**: 1 epoch each, seed stopped after 2; thresholds are for the full run" if quick else ""),
        "",
        *target_lines(rows),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Measure scratchnet against its targets (Markdown table).")
    parser.add_argument("--quick", action="store_true",
                        help="for development: 1 epoch each, seed stopped after 2 epochs, no best preset")
    parser.add_argument("--seed-script", type=Path, metavar="PATH/nn2.py", help=SEED_HELP + " (target 4)")
    parser.add_argument("--skip-seed", action="store_true", help="do not run the seed's nn2.py (target 4)")
    parser.add_argument("--skip-best", action="store_true", help="do not train --preset best (target 3)")
    add_out(parser, "targets.md and targets.json")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"targets.py: {DATA} is missing", file=sys.stderr)
        return 1

    info = machine()
    one_epoch = ["--epochs", "1"] if args.quick else []
    # name -> train options; the seed runs first, beside the other per-sample run
    plan: dict[str, list[str]] = {
        "defaults": ["--seed", "0", *one_epoch],
        "mb32": ["--batch-size", "32", *one_epoch],
        "tuned": ["--preset", "tuned", *one_epoch],
        "best": ["--preset", "best"],
    }
    for draw in range(1, 1 if args.quick else DEFAULT_SEEDS):
        plan[f"defaults-seed{draw}"] = ["--seed", str(draw)]
    skipped: dict[str, str] = {}
    if args.quick or args.skip_best:
        skipped["best"] = "skipped (--quick)" if args.quick else "skipped (--skip-best)"
    if why := seed_unavailable(args.seed_script, args.skip_seed):
        skipped["seed"] = why

    runs: dict[str, Run] = {}
    seed: SeedRun | None = None
    errors: dict[str, str] = {}
    steps = [n for n in ["seed", *plan] if n not in skipped]
    with temporary_folder() as tmp:
        for i, name in enumerate(steps, 1):
            began = time.perf_counter()
            try:
                if name == "seed":
                    epochs = QUICK_SEED_EPOCHS if args.quick else SEED_EPOCHS
                    progress(f"[{i}/{len(steps)}] seed: nn2.py, {epochs} epochs")
                    seed = run_seed(Path(tmp), epochs, args.seed_script)
                else:
                    progress(f"[{i}/{len(steps)}] {name}: scratchnet train {' '.join(plan[name])}".rstrip())
                    runs[name] = run_scratchnet(name, plan[name], Path(tmp))
            except (BenchError, OSError, KeyError, ValueError) as e:
                errors[name] = str(e)
                progress(f"  error: {e}")
            progress(f"  done in {time.perf_counter() - began:.1f} s")

    rows = evaluate(runs, seed, skipped, errors, args.quick)
    table = markdown(info, rows, args.quick)
    print(table, end="")
    raw = {
        "machine": info,
        "quick": args.quick,
        "targets": rows,
        "runs": {n: {"command": r.command, "epochs": r.epochs, "peak_rss_kib": r.peak_rss_kib,
                     "wall_seconds": r.wall_seconds} for n, r in runs.items()},
        "seed": None if seed is None else {"epoch_seconds": seed.epoch_seconds, "train_accuracy": seed.accuracies,
                                           "lines": seed.lines},
        "skipped": skipped,
        "errors": errors,
    }
    write_results(args.out, "targets", table, raw)
    return 1 if errors else 0


if __name__ == "__main__":
    entry_point(main, "targets.py")
