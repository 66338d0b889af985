"""The explorer page in chromium: how fast it answers a pen, how heavy and how quick to open its file.

    python bench/explorer.py [--out bench/results] [--repeats 5] [--baseline REV] [--json]

Builds two networks in a temporary folder: 784-20-10 (the seed's, trained one epoch, as a reader
would export it) and 784-800-800-10 (``--preset best``'s shape, relu/softmax float32, untrained:
the page's work does not depend on the values). Each is exported with ``scratchnet export --format
html`` (the first 1,000 test images inside) and opened from file:// in Debian's chromium, driven by
Playwright, in a 1280x900 window.

- Latency: digits are drawn on the pad with the mouse, a pointer event every 4 pixels or so, as
  fast as Playwright sends them. For each pointer event the page records (web/explorer/core.js,
  ``perf``) the time from the event's timestamp to the end of the frame that shows it: the page's
  work (preprocessing, the forward pass, the scores, the input, the network's colours), the wait
  for the frame and the browser's rendering of it, taken as the moment a message posted from that
  frame's requestAnimationFrame callback is delivered (it runs once the frame is rendered).
  Median and 95th percentile over every event; targets 16 ms (784-20-10) and 50 ms (784-800-800-10).
  The table gives the medians of the time from the event to the frame's start ("waiting for the
  frame": Chrome dispatches pointermove at the start of the next frame; the page does its work on
  pointerrawupdate, as the event arrives, so this includes that work) and of the page's work for
  what the frame shows (wherever it ran); the rest is the browser rendering the frame.
- Size of the exported 784-20-10 file: under 3 MB.
- Time to interactive of that file: from the start of the navigation to the end of the first frame
  with every handler in place (``scratchnet.readyAt``, performance.now() there), the median of
  ``--repeats`` fresh loads; target 1 s.
- The Learn view (issue 17): a training step on test image 0 ("Step": computing it and drawing its
  first stage), then each stage shown in turn, timed from the click's handler to the frame rendered
  (as above); the slowest stage's median over ``--rounds`` passes; targets 100 ms (784-20-10) and
  500 ms (784-800-800-10). And a 200-step dream of 784-20-10 from a blank picture, animated on the
  pad as "from blank" runs it, from the click to its last frame; target 2 s (the computation alone,
  scratchnet.dream, is reported beside it).
- Preprocessing a drawing: preprocess.js's toMnist on the pad's 280x280 pixels after a 7 is drawn,
  the fastest of 15 batches of 10 calls (the machine's speed more than its load); target 10 ms a
  call, well inside a frame.

- Size of the exported 784-800-800-10 file: under 10 MB (its float32 parameters as base64 of their bytes).

``--baseline REV`` exports the same two checkpoints also with the page of git revision REV (``git archive``
of its src/, run from a temporary folder) and draws on both pages in turn, round after round, so that the
two latencies share the machine's load. ``--json`` prints one JSON object on stdout instead of the table
(progress goes to stderr): {"pen_ms": {"784-20-10": {"median", "p95", ...}, "784-800-800-10": {...}},
"export_bytes": {shape: bytes}, "load": [1, 5, 15-min load averages], "step_ms", "dream_ms", "tti_ms",
"preprocess_ms", "targets", and with --baseline "baseline": {"rev", "pen_ms", "export_bytes"}}.

Prints PASS/FAIL per target; writes explorer.md and .json to --out DIR (e.g. bench/results). The numbers depend on the
machine's load (reported beside them): the browser shares the cores with everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

import common

VIEWPORT = {"width": 1280, "height": 900}
STEP = 4.0  # pixels between two pointer events: a quick hand
# digit strokes in a 0..1 box over the pad
DIGITS = [
    [[(0.28, 0.2), (0.72, 0.2), (0.45, 0.85)]],  # 7
    [[(0.3, 0.2), (0.5, 0.13), (0.68, 0.22), (0.65, 0.38), (0.46, 0.47), (0.68, 0.56), (0.7, 0.72), (0.5, 0.85),
      (0.3, 0.78)]],  # 3
    [[(0.36, 0.15), (0.3, 0.55), (0.72, 0.55)], [(0.62, 0.15), (0.62, 0.85)]],  # 4
    [[(0.5 + 0.2 * np.sin(t), 0.5 - 0.3 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 33)]],  # 0
]
TARGETS = {"small": 16.0, "big": 50.0}  # ms, median and 95th percentile
STAGE_TARGETS = {"small": 100.0, "big": 500.0}  # ms, the slowest stage of a step
MAX_DREAM = 2000.0  # ms, a 200-step dream of 784-20-10 animated
MAX_PREPROCESS = 10.0  # ms, preprocess.js on a 280x280 drawing
# a promise that resolves once the frame after now has been rendered (see the latency above)
RENDERED = ("new Promise(done => requestAnimationFrame(() => { const c = new MessageChannel(); "
            "c.port1.onmessage = () => done(performance.now()); c.port2.postMessage(0); }))")
MAX_BYTES = 3_000_000
MAX_BIG_BYTES = 10_000_000
MAX_TTI = 1000.0  # ms
SHAPES = {"small": "784-20-10", "big": "784-800-800-10"}


def cli_in(src: Path) -> tuple[list[str], dict]:
    """The command line and environment that run the scratchnet of ``src`` (a checkout's src/), whatever is installed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    return [sys.executable, "-m", "scratchnet.cli"], env


def checkpoints(tmp: Path) -> dict[str, Path]:
    """The two networks' checkpoints: {"small": npz, "big": npz}."""
    cli, env = cli_in(common.REPO / "src")
    small, big = tmp / "small.npz", tmp / "big.npz"
    common.progress("training 784-20-10 for one epoch")
    subprocess.run([*cli, "train", "--fresh", "-p", str(small), "--data", str(common.DATA), "--epochs", "1",
                    "--batch-size", "10", "--lr", "0.5"], check=True, capture_output=True, env=env)
    sys.path.insert(0, str(common.REPO / "src"))
    from scratchnet import checkpoint, config, network

    cfg = config.resolve({"epochs": 1}, "best")
    net = network.create(cfg.layers, cfg.hidden, cfg.output, cfg.init, cfg.dtype, np.random.default_rng(0))
    checkpoint.save(big, checkpoint.Checkpoint(net, cfg))
    return {"small": small, "big": big}


def export(params: dict[str, Path], src: Path, folder: Path) -> dict[str, Path]:
    """The checkpoints exported as pages by the scratchnet of ``src``: {"small": html, "big": html}."""
    cli, env = cli_in(src)
    folder.mkdir(parents=True, exist_ok=True)
    pages = {}
    for name, path in params.items():
        pages[name] = folder / f"{name}.html"
        subprocess.run([*cli, "export", "--format", "html", "-p", str(path), "--data", str(common.DATA),
                        "-o", str(pages[name])], check=True, capture_output=True, env=env)
    return pages


def source_at(revision: str, folder: Path) -> Path:
    """src/ of git revision ``revision``, extracted into ``folder``."""
    archive = subprocess.run(["git", "-C", str(common.REPO), "archive", revision, "src"], check=True,
                             capture_output=True).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        path = []
        for (ax, ay), (bx, by) in itertools.pairwise(stroke):
            n = max(1, int(np.hypot(bx - ax, by - ay) * box["width"] / STEP))
            path += [(ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(n)]
        path.append(stroke[-1])
        path = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in path]
        page.mouse.move(*path[0])
        page.mouse.down()
        for x, y in path[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def until(page, expression: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        page.wait_for_timeout(20)


def quiet_page(browser, url: str):
    """The page at ``url``, loaded, its test set's predictions done: a quiet page to time."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    until(page, "window.scratchnet && scratchnet.ready")
    until(page, "scratchnet.evaluation !== null")
    return page


def latency(browser, url: str, rounds: int) -> dict[str, list[float]]:
    """Per pointer event, ms: to its frame rendered (latency), to that frame's start (wait: the browser
    delivers pointer moves with the next frame), and the frame's work in the page (work)."""
    page = quiet_page(browser, url)
    page.evaluate("scratchnet.perf.reset()")
    for _ in range(rounds):
        for strokes in DIGITS:
            draw(page, strokes)
    page.evaluate("new Promise(done => requestAnimationFrame(() => setTimeout(done, 50)))")
    samples = page.evaluate("scratchnet.perf.samples")
    page.close()
    return samples


def learn_view(browser, url: str, rounds: int) -> dict[str, list[float]]:
    """ms to compute a step and draw its first stage ("step"), to draw each stage (stage k), over ``rounds``."""
    page = quiet_page(browser, url)
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        times.setdefault("step", []).append(page.evaluate(
            f"async () => {{ const t = performance.now(); await scratchnet.learn.stepShown(); "
            f"return (await {RENDERED}) - t; }}"))
        for k, stage in enumerate(page.evaluate("scratchnet.learn.stages")):
            times.setdefault(f"stage {k + 1} ({stage})", []).append(page.evaluate(
                f"async () => {{ const t = performance.now(); scratchnet.learn.setStage({k}); "
                f"return (await {RENDERED}) - t; }}"))
    page.close()
    return times


def dream_times(browser, url: str, rounds: int) -> dict[str, list[float]]:
    """ms of a 200-step dream: animated on the pad ("animated"), and scratchnet.dream alone ("computed")."""
    page = quiet_page(browser, url)
    times: dict[str, list[float]] = {"animated": [], "computed": []}
    for digit in range(rounds):
        page.evaluate(f"window.benchDream = scratchnet.learn.startDream(false, {{}}, {digit % 10})")
        until(page, "window.benchDream.done === true")
        times["animated"].append(page.evaluate("window.benchDream.ms"))
        times["computed"].append(page.evaluate(
            f"(() => {{ const t = performance.now(); scratchnet.dream({digit % 10}); return performance.now() - t; }})()"))
    page.close()
    return times


def preprocess_time(browser, url: str) -> float:
    """ms of one preprocess.js toMnist call on the pad's pixels, the fastest batch's mean."""
    page = quiet_page(browser, url)
    draw(page, DIGITS[0])
    best = page.evaluate("""() => {
      const bin = atob(scratchnet.padRGBA()), side = Math.round(Math.sqrt(bin.length / 4));
      const pixels = new Uint8ClampedArray(bin.length);
      for (let i = 0; i < bin.length; i++) pixels[i] = bin.charCodeAt(i);
      for (let k = 0; k < 20; k++) ScratchnetPreprocess.toMnist(pixels, side, side);
      let best = Infinity;
      for (let batch = 0; batch < 15; batch++) {
        const start = performance.now();
        for (let k = 0; k < 10; k++) ScratchnetPreprocess.toMnist(pixels, side, side);
        best = Math.min(best, (performance.now() - start) / 10);
      }
      return best;
    }""")
    page.close()
    return best


def summary(values: list[float]) -> dict:
    """What the results file keeps of a series of milliseconds."""
    v = np.array(values)
    return {"n": len(v), "median": float(np.median(v)), "p95": float(np.percentile(v, 95)), "max": float(v.max())}


def time_to_interactive(browser, url: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(url)
        until(page, "window.scratchnet && scratchnet.ready")
        times.append(page.evaluate("scratchnet.readyAt"))
        context.close()
    return times


def pen_summary(samples: dict[str, list[float]]) -> dict:
    """The pen's figures of one page: median and p95 of the latency, the medians of its parts, ms."""
    v = np.array(samples["latency"])
    return {"median": float(np.median(v)), "p95": float(np.percentile(v, 95)), "n": len(v),
            "wait_median": float(np.median(samples["wait"])), "work_median": float(np.median(samples["work"]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_out(parser, "explorer.md and .json")
    parser.add_argument("--repeats", type=int, default=5, help="fresh loads timed (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="times the four digits are drawn per network (default 2)")
    parser.add_argument("--baseline", metavar="REV", help="also draw on the pages of git revision REV, in turn with "
                        "this checkout's (e.g. 3bc129e, before issue 22)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (see above), not the table")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("bench/explorer.py needs Playwright for Python: pip install playwright", file=sys.stderr)
        return 2
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("bench/explorer.py needs chromium (Debian: apt install chromium)", file=sys.stderr)
        return 2
    raw: dict = {"machine": common.machine(), "load_average": os.getloadavg()}
    with common.temporary_folder() as folder:
        folder = Path(folder)
        params = checkpoints(folder)
        builds = {"new": export(params, common.REPO / "src", folder / "new")}
        if args.baseline:
            common.progress(f"exporting the pages of {args.baseline}")
            builds["old"] = export(params, source_at(args.baseline, folder / "old"), folder / "old-pages")
        pages = builds["new"]
        raw["bytes"] = {name: path.stat().st_size for name, path in pages.items()}
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        raw["browser"] = browser.version
        try:
            # round after round, each build in turn: the builds share whatever load the machine has
            drawn = {build: {name: {} for name in pages} for build in builds}
            for round_ in range(args.rounds):
                for name in pages:
                    for build, built in builds.items():
                        common.progress(f"drawing on the {name} network's page ({build}), round {round_ + 1}")
                        for key, values in latency(browser, built[name].as_uri(), 1).items():
                            drawn[build][name].setdefault(key, []).extend(values)
            raw["latency_ms"] = drawn["new"]
            if args.baseline:
                raw["baseline"] = {"rev": args.baseline,
                                   "bytes": {name: path.stat().st_size for name, path in builds["old"].items()},
                                   "latency_ms": drawn["old"]}
            common.progress("opening the 784-20-10 page")
            raw["tti_ms"] = time_to_interactive(browser, pages["small"].as_uri(), args.repeats)
            raw["learn_ms"] = {}
            for name, path in pages.items():
                common.progress(f"stepping through a training step on the {name} network's page")
                raw["learn_ms"][name] = learn_view(browser, path.as_uri(), args.rounds + 1)
            common.progress("dreaming on the 784-20-10 page")
            raw["dream_ms"] = dream_times(browser, pages["small"].as_uri(), args.repeats)
            common.progress("preprocessing a drawing")
            raw["preprocess_ms"] = preprocess_time(browser, pages["small"].as_uri())
        finally:
            browser.close()
            playwright.stop()
    raw["load_average_after"] = os.getloadavg()

    targets = []
    pen = {name: pen_summary(raw["latency_ms"][name]) for name in pages}
    for number, (name, shape) in enumerate(SHAPES.items(), start=1):
        p, limit = pen[name], TARGETS[name]
        before = ""
        if args.baseline:
            old = pen_summary(raw["baseline"]["latency_ms"][name])
            before = f"; {args.baseline}'s page in turn with it: median {old['median']:.1f} ms, p95 {old['p95']:.1f} ms"
        targets.append({"target": number, "description": f"drawing with {shape}: pointer event to updated frame "
                        f"<= {limit:g} ms (median and 95th percentile)",
                        "measured": f"median {p['median']:.1f} ms, p95 {p['p95']:.1f} ms ({p['n']} events); medians: "
                                    f"{p['wait_median']:.1f} ms waiting for the frame, {p['work_median']:.1f} ms of the "
                                    f"page's work in it{before}",
                        "status": "PASS" if p["median"] <= limit and p["p95"] <= limit else "FAIL"})
    for number, (name, limit) in ((3, ("small", MAX_BYTES)), (4, ("big", MAX_BIG_BYTES))):
        size = raw["bytes"][name]
        was = f"; {args.baseline}'s {raw['baseline']['bytes'][name] / 1e6:.2f} MB" if args.baseline else ""
        targets.append({"target": number, "description": f"exported {SHAPES[name]} HTML under {limit / 1e6:g} MB",
                        "measured": f"{size / 1e6:.2f} MB ({size:,} bytes){was}",
                        "status": "PASS" if size < limit else "FAIL"})
    tti = statistics.median(raw["tti_ms"])
    targets.append({"target": 5, "description": "exported 784-20-10 HTML interactive within 1 s of opening",
                    "measured": f"median {tti:.0f} ms of {len(raw['tti_ms'])} loads (max {max(raw['tti_ms']):.0f} ms)",
                    "status": "PASS" if tti < MAX_TTI else "FAIL"})
    steps = {}
    for number, (name, shape) in enumerate(SHAPES.items(), start=6):
        medians = {stage: float(np.median(v)) for stage, v in raw["learn_ms"][name].items()}
        slowest = max(medians, key=medians.get)
        steps[shape] = {"slowest": slowest, "slowest_median": medians[slowest], "medians": medians}
        limit = STAGE_TARGETS[name]
        targets.append({"target": number, "description": f"Learn view with {shape}: each stage of a step drawn "
                        f"within {limit:g} ms", "measured": f"slowest {slowest}: median {medians[slowest]:.0f} ms; "
                        + ", ".join(f"{stage} {ms:.0f}" for stage, ms in medians.items()),
                        "status": "PASS" if medians[slowest] <= limit else "FAIL"})
    animated, computed = (statistics.median(raw["dream_ms"][k]) for k in ("animated", "computed"))
    targets.append({"target": 8, "description": "a 200-step dream of 784-20-10, animated on the pad, within 2 s",
                    "measured": f"median {animated:.0f} ms animated ({len(raw['dream_ms']['animated'])} dreams); "
                                f"the computation alone {computed:.0f} ms",
                    "status": "PASS" if animated <= MAX_DREAM else "FAIL"})
    targets.append({"target": 9, "description": f"preprocess.js on a 280x280 drawing within {MAX_PREPROCESS:g} ms",
                    "measured": f"{raw['preprocess_ms']:.1f} ms a call (the fastest of 15 batches of 10)",
                    "status": "PASS" if raw["preprocess_ms"] <= MAX_PREPROCESS else "FAIL"})
    raw["targets"] = targets
    summaries = {"pen_ms": {SHAPES[name]: p for name, p in pen.items()},
                 "export_bytes": {SHAPES[name]: size for name, size in raw["bytes"].items()},
                 "load": list(raw["load_average"]), "load_after": list(raw["load_average_after"]),
                 "step_ms": steps, "dream_ms": {"animated_median": animated, "computed_median": computed},
                 "tti_ms": tti, "preprocess_ms": raw["preprocess_ms"]}
    if args.baseline:
        summaries["baseline"] = {"rev": args.baseline,
                                 "pen_ms": {SHAPES[name]: pen_summary(raw["baseline"]["latency_ms"][name])
                                            for name in pages},
                                 "export_bytes": {SHAPES[name]: size for name, size in raw["baseline"]["bytes"].items()}}
        raw["baseline"]["latency_ms"] = {name: {key: summary(v) for key, v in parts.items()}
                                         for name, parts in raw["baseline"]["latency_ms"].items()}
    raw["latency_ms"] = {name: {key: summary(v) for key, v in parts.items()}
                         for name, parts in raw["latency_ms"].items()}
    load = ", ".join(f"{x:.1f}" for x in raw["load_average"])
    after = ", ".join(f"{x:.1f}" for x in raw["load_average_after"])
    table = "\n".join([
        "# The explorer page in the browser", "",
        (f"{common.machine_line(raw['machine'])}; chromium {raw['browser']}, headless; load average {load} "
         f"(1, 5, 15 min) when it began, {after} when it ended"), "",
        *common.target_lines(targets), "",
        "How it is measured: bench/explorer.py's docstring.", ""])
    if args.json:
        print(json.dumps({**summaries, "targets": targets, "machine": raw["machine"], "browser": raw["browser"]}))
    else:
        print(table)
    common.write_results(args.out, "explorer", table, {**raw, "summary": summaries})
    return 0


if __name__ == "__main__":
    common.entry_point(main, "bench/explorer.py")
