"""The ``scratchnet`` command: parses arguments and calls the library; every error is one line."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import platform
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from scratchnet import (
    __version__,
    c_header,
    cengine,
    checkpoint,
    compare,
    data,
    engines,
    explorer,
    ladder,
    learn,
    lock,
    network,
    plot,
    preprocess,
    run,
    svg,
    textformat,
    threads,
)
from scratchnet.atomic import STDOUT, atomic_write, check_destination
from scratchnet.config import PRESET_ALIASES, PRESETS, TrainConfig, resolve
from scratchnet.data import Dataset, load_mnist
from scratchnet.errors import ScratchnetError, printable
from scratchnet.model import load
from scratchnet.network import Network

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by Ctrl-C
SHADES = " .:-=+*#%@"  # dark to bright, for drawing a digit in the terminal
PLOTS = ("weights", "history", "confusion", "misclassified")
WHOLE_OPTION = re.compile(r"[+-]?[0-9]+")
EXPORT_NAMES = {"txt": "network_params_full.txt", "json": "network_params.json", "svg": "network.svg",
                "html": "network.html", "onnx": "network.onnx", "safetensors": "network.safetensors", "c": "network.h"}
COMPACT_FROM = 4  # pictures from which predict --image prints one line each, without drawing them
FILE_BACKENDS = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")  # matplotlib's that open no window
NETWORK_SUFFIXES = (".npz", *checkpoint.WHOLE_EPOCHS_ONLY)  # files that hold a network: see _keep_networks
HTML_IMAGES = 1000  # images of --set an exported page holds: 1 MB of its weight


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")

    def print_help(self, file=None) -> None:
        (file or sys.stdout).write(self.format_help())  # argparse's own would hide a failed write


def _whole(text: str) -> int:
    """A whole-number option: [+-] and ASCII digits, as scratchnet-c reads them (int() would take
    ' 5', '1_000' and Unicode digits)."""
    if not WHOLE_OPTION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _number(text: str) -> float:
    """A real-valued option: docs/FORMAT.md's number grammar (float() would take 'nan', '1_0', '٥')."""
    if not textformat.NUMBER.fullmatch(text.encode("utf-8", "replace")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    return float(text)


def _layers(text: str) -> tuple[int, ...]:
    if not all(WHOLE_OPTION.fullmatch(part) for part in text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of sizes, e.g. 784,20,10")
    sizes = tuple(int(part) for part in text.split(","))
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need two or more sizes of at least 1")
    return sizes


def _port(text: str) -> int:
    if not WHOLE_OPTION.fullmatch(text) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a whole number from 0 to 65535")
    return int(text)


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of threads, 1 or more")
    return value


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, with its help and default taken from there."""
    group = parser.add_argument_group("network and training (the defaults train as the original program did)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = ",".join(map(str, f.default)) if f.name == "layers" else f.default
        help_text = f"{f.metadata['help']} (default: {default})"
        if f.type in ("bool", bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        kind = {"int": _whole, "float": _number, "str": str}.get(str(f.type), _layers)
        group.add_argument(flag, type=kind, choices=f.metadata["choices"], default=None, help=help_text,
                           metavar=None if f.metadata["choices"] else f.name.upper())


def _add_common(parser: argparse.ArgumentParser, *, json_output: bool = False, data_set: bool = False,
                engine: bool = False) -> None:
    parser.add_argument("-p", "--params", default=checkpoint.DEFAULT_PATH,
                        help=f"checkpoint file (default: {checkpoint.DEFAULT_PATH})")
    parser.add_argument("--data", help="mnist.npz or a folder of IDX files (default: $SCRATCHNET_DATA, "
                        "data/mnist in the repository, the installed copy, the user cache, else a download)")
    if data_set:
        parser.add_argument("--set", choices=("test", "train"), default="test", help="which images (default: test)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    if engine:
        parser.add_argument("--engine", choices=engines.ENGINES, default="numpy",
                            help="numpy (default), or c: the C engine built with the package, same results")
        parser.add_argument("--threads", type=_threads, metavar="N",
                            help="N threads for NumPy's BLAS on large matrix products (default: 1, whatever "
                            "the load, as its bits follow its threads) and at most N for the C engine (default: "
                            "the cores free; its bits do not follow them)")


def _add_learn_input(parser: argparse.ArgumentParser, label: bool) -> None:
    """step's and explain's input: image INDEX of --set, or --image FILE (with --label N for step)."""
    _add_common(parser, json_output=True, data_set=True)
    parser.set_defaults(set="train" if label else "test")
    parser.add_argument("index", nargs="?", metavar="INDEX", help="image index in --set (default set: "
                        f"{'train' if label else 'test'})")
    parser.add_argument("--image", metavar="FILE", help="a picture instead, preprocessed as predict --image does")
    if label:
        parser.add_argument("--label", type=_whole, metavar="N", help="the true class (default: the image's label; "
                            "needed with --image unless its name starts with the digit, as 7_mine.png)")


def _add_new_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--new-data", action="store_true", help="go on training a checkpoint on other data than it "
                        "was trained on (refused otherwise)")


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="if another process is training the checkpoint, "
                        "wait for it to finish and go on from there (default: refuse at once)")


def _locked(args: argparse.Namespace, path: str):
    """Hold ``path``'s lock (scratchnet.lock) while writing it; --wait waits for its holder, saying so."""
    check_destination(path)  # a name that cannot be written has no lock either
    def waiting(holder: str) -> None:
        print(f"scratchnet: {printable(path)} is in use by {printable(holder)}: waiting for it to finish", file=sys.stderr,
              flush=True)

    return lock.exclusive(path, waiting if args.wait else None)


def _command(commands, run: Callable[[argparse.Namespace], int], **values) -> argparse.ArgumentParser:
    """The sub-command that ``run`` (cmd_NAME) carries out, documented by its docstring: the first paragraph
    is its line in the list of commands, the rest (with ``values`` filled in) what its --help says first."""
    summary, _, description = inspect.cleandoc(run.__doc__).partition("\n\n")
    parser = commands.add_parser(run.__name__.removeprefix("cmd_"), help=summary,
                                 description=description.format(**values) or None)
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scratchnet",
        description="A neural network from scratch in NumPy: train it on MNIST, evaluate it, ask it about digits.",
    )
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = _command(commands, cmd_train)
    _add_common(p, json_output=True, engine=True)
    p.add_argument("--preset", choices=(*PRESETS, *PRESET_ALIASES), help="original (or seed): the defaults; "
                   "tuned: 784-20-10 trained "
                   "well; best: the most accurate network found for a 3-minute budget; fast: 99%% in a "
                   "fifth of best's time; accurate: elastic distortions, 10 minutes with --engine c; record: "
                   "elastic and affine distortions, 30 minutes with --engine c")
    p.add_argument("--fresh", action="store_true", help="start a new network even if --params exists")
    _add_new_data(p)
    _add_wait(p)
    _add_config_options(p)

    p = _command(commands, cmd_evaluate)
    _add_common(p, json_output=True, data_set=True, engine=True)

    p = _command(commands, cmd_predict)
    _add_common(p, json_output=True, data_set=True, engine=True)
    p.add_argument("indices", nargs="*", metavar="INDEX", help="image indices to answer without asking")
    p.add_argument("--image", nargs="+", metavar="FILE", help="your own pictures instead: files (PNG, JPEG, GIF, "
                   "BMP, WebP, TIFF, ...), folders (every picture in them) or globs; a name that starts with a "
                   "digit (7_mine.png) gives the true label, and several end with the accuracy")
    p.add_argument("--save-input", metavar="DIR", help="with --image: save the 28x28 image each picture became, "
                   "as the network saw it, to DIR/NAME.png")
    p.add_argument("--plot", action="store_true", help="also show each image in a matplotlib window")

    p = _command(commands, cmd_export, images=HTML_IMAGES)
    _add_common(p, data_set=True)
    p.add_argument("--format", choices=tuple(EXPORT_NAMES), default="txt",
                   help="txt (default), json, svg, html, onnx, safetensors or c")
    p.add_argument("-o", "--output", help="file to write, - for standard output (default: " +
                   ", ".join(f"{name} for {fmt}" for fmt, name in EXPORT_NAMES.items()) + ")")
    p.add_argument("--input", type=_whole, metavar="INDEX", help="svg: show image INDEX of --set going through")
    p.add_argument("--annotate-weights", action="store_true", help="svg: print weight values on the lines of "
                   "layers small enough to read")
    p.add_argument("--max-lines", type=_whole, default=svg.MAX_LINES, metavar="N",
                   help=f"svg: draw at most N connections, the strongest, saying so on the picture "
                   f"(default: {svg.MAX_LINES:,})")
    p.add_argument("--c-dtype", choices=tuple(c_header.C_TYPES), default="float32",
                   help="c: the numbers' C type, float (float32, the default, whatever the network's dtype) or double")
    p.add_argument("--prefix", default=c_header.DEFAULT_PREFIX, help="c: the names' prefix: PREFIX_predict, "
                   f"PREFIX_weights_1, ... (default: {c_header.DEFAULT_PREFIX})")
    p.add_argument("--force", action="store_true", help="replace a network file (txt, json, onnx, safetensors) "
                   "that is there; pictures, pages and headers are replaced without it")

    p = _command(commands, cmd_import)
    p.add_argument("file", metavar="FILE", help="the .txt, .json, .onnx or .safetensors file")
    p.add_argument("-o", "--output", default=checkpoint.DEFAULT_PATH,
                   help=f"checkpoint to write; not -, as it is read back (default: {checkpoint.DEFAULT_PATH})")
    p.add_argument("--force", action="store_true", help="replace the network file that is there")
    _add_wait(p)

    p = _command(commands, cmd_inspect)
    p.add_argument("-p", "--params", default=checkpoint.DEFAULT_PATH,
                   help=f"checkpoint or parameter file (default: {checkpoint.DEFAULT_PATH})")

    p = _command(commands, cmd_plot)
    p.add_argument("what", choices=PLOTS, help="weights: layer 1's weights as images; history: loss and "
                   "accuracy per epoch; confusion: the confusion matrix; misclassified: images it gets wrong")
    _add_common(p, data_set=True)
    p.add_argument("-o", "--output", help="PNG (or PDF, SVG) file to write, - for standard output (default: "
                   "WHAT.png)")

    p = _command(commands, cmd_serve)
    _add_common(p)
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                   "only); another lets anyone who can reach it train and overwrite --params, and warns so")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    _add_new_data(p)

    p = _command(commands, cmd_ladder)
    p.add_argument("--data", help="as for train")
    p.add_argument("--engine", choices=engines.ENGINES, help="numpy, or c (default: c where it is built, else numpy)")
    p.add_argument("--threads", type=_threads, metavar="N", help="as for train")
    p.add_argument("--epochs", type=_whole, default=5, help="epochs of every rung (default: 5)")
    p.add_argument("--seed", type=_whole, default=0, help="random seed of every rung (default: 0)")
    p.add_argument("--rungs", type=_whole, metavar="N", help=f"climb only the first N rungs (default: all "
                   f"{len(ladder.RUNGS)})")
    p.add_argument("--keep", metavar="DIR", help="keep each rung's checkpoint in DIR (new or empty; made if missing) "
                   "as NN-NAME.npz, to open in serve, evaluate or plot")
    p.add_argument("-o", "--output", metavar="PNG", help="draw test accuracy per epoch of every rung to this file "
                   "(needs matplotlib: pip install 'scratchnet[plot]')")
    p.add_argument("--json", action="store_true", help="print a JSON object per rung instead of the table")

    p = _command(commands, cmd_compare)
    p.add_argument("--data", help="as for train")
    p.add_argument("--quick", action="store_true", help=f"{compare.QUICK.repetitions} repetitions of fewer samples "
                   "and a smaller SGEMM: a rougher figure in a quarter of the time")
    p.add_argument("--script", metavar="PATH", help="also time this training script (e.g. the post's nn2.py), run "
                    "with this Python in a temporary folder: the fastest gap between the lines it prints that say "
                    "'epoch N' is its epoch")
    p.add_argument("--script-timeout", type=_number, default=600.0, metavar="SECONDS",
                   help="stop --script after this long (default: 600)")
    p.add_argument("-o", "--output", metavar="PNG", help="draw samples per second of every row as bars to this file "
                   "(needs matplotlib: pip install 'scratchnet[plot]')")
    p.add_argument("--json", action="store_true", help="print one JSON object (machine, ceiling, rows, verdicts) "
                   "instead of the table")

    p = _command(commands, cmd_info)

    p = _command(commands, cmd_step)
    _add_learn_input(p, label=True)
    p.add_argument("--lr", type=_number, help="learning rate (default: the one train would use next)")
    p.add_argument("--save", metavar="PATH", help="write the stepped network there as a checkpoint (may be --params)")
    p.add_argument("--force", action="store_true", help="with --save: replace another network file that is there")
    _add_wait(p)
    p.add_argument("--top", type=_whole, default=5, metavar="N", help="errors and changes listed per layer "
                   "(default: 5)")

    p = _command(commands, cmd_explain)
    _add_learn_input(p, label=False)
    p.add_argument("--digit", type=_whole, metavar="D", help="the output to explain (default: the answer)")
    p.add_argument("--top", type=_whole, default=10, metavar="N", help="hidden neurons listed (default: 10)")
    p.add_argument("-o", "--output", metavar="PNG", help="also write the image and its heatmap to a PNG file")

    p = _command(commands, cmd_dream)
    _add_common(p, json_output=True, data_set=True)
    p.add_argument("digit", type=_whole, metavar="D", help="the digit to dream")
    p.add_argument("--steps", type=_whole, default=learn.DREAM_STEPS, help=f"steps of gradient ascent (default: "
                   f"{learn.DREAM_STEPS})")
    p.add_argument("--from", dest="start", type=_whole, metavar="INDEX", help="start from image INDEX of --set "
                   "instead of a blank picture")
    p.add_argument("-o", "--output", metavar="PNG", help="also write the picture to a PNG file")

    p = _command(commands, cmd_show)
    p.add_argument("index", metavar="INDEX", help="image index")
    p.add_argument("--data", help="as for train")
    p.add_argument("--set", choices=("test", "train"), default="test", help="which images (default: test)")
    return parser


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def cmd_train(args: argparse.Namespace) -> int:
    """train a network, resuming from --params if it exists

    Train a network. An existing --params file is resumed with its own settings unless options change them; --fresh
    starts over. --params is saved after every epoch, atomically (through a symlink, to its target); it cannot be -
    (standard output), as it is read back.
    """
    with _locked(args, args.params):  # for the whole run: the checkpoint read is the one extended
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    explicit = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    ckpt = run.start(args.params, explicit, args.preset, args.fresh)
    if args.engine == "c":
        cengine.library(ckpt.network.dtype)  # says why it cannot run before any work is done
    dataset = load_mnist(args.data)
    config, net = ckpt.config, ckpt.network
    if not args.json:
        print(f"{net.describe()}, {_plan(ckpt)}, lr {config.lr:g}, batch {config.batch_size}, "
              f"{config.optimizer}, {config.schedule} schedule")
        print(f"data {printable(dataset.source)}, checkpoint {printable(args.params)}", flush=True)

    def report(result: run.EpochResult) -> None:
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
        else:
            print(result.line(), flush=True)

    finished = run.train(ckpt, dataset, args.params, report, progress=sys.stdout.isatty() and not args.json,
                         engine=args.engine, new_data=args.new_data)
    if not finished:
        print(f"scratchnet: {printable(_interrupted(args.params, ckpt, len(dataset.train_labels)))}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.json:
        print(f"saved {printable(args.params)} ({_count(ckpt.epochs_done, 'epoch')} in all)")
    return 0


def _plan(ckpt: checkpoint.Checkpoint) -> str:
    """Which run train does (run.start decided): a new one, the rest of an interrupted one, or epochs more."""
    done, planned = ckpt.epochs_done, ckpt.planned_epochs
    within = (f", epoch {done + 1} after its first {ckpt.partial_epoch_samples:,} samples"
              if ckpt.partial_epoch_samples else "")
    if ckpt.finishes_run:
        return f"finishing the interrupted run of {_count(planned, 'epoch')}: {planned - done} to go{within}"
    if not done and not ckpt.partial_epoch_samples:
        return f"new network: {_count(planned, 'epoch')}"
    return f"resuming after {_count(done, 'epoch')}: {planned - done} more, to {planned}{within}"


def _interrupted(params: str, ckpt: checkpoint.Checkpoint, n: int) -> str:
    """What Ctrl-C left in ``params`` and what the next run does with it."""
    done, planned, suffix = ckpt.epochs_done, ckpt.planned_epochs, Path(params).suffix.lower()
    if suffix in checkpoint.WHOLE_EPOCHS_ONLY:  # no room for the run's plan, nor for a place in an epoch: see run.train
        finish = (f"a {suffix} file does not record the run: train --epochs {planned - done} finishes it"
                  f"{f', from the start of epoch {done + 1}' if ckpt.partial_epoch_samples else ''}.")
        if not ckpt.partial_epoch_samples:
            return f"interrupted after epoch {done} of {planned}; saved {params}; {finish}"
        kept = f"{params} keeps the network of epoch {done}" if done else f"{params} was not written"
        return f"interrupted in epoch {done + 1} of {planned}; {kept}; {finish}"
    if not ckpt.partial_epoch_samples:
        return f"interrupted after epoch {done} of {planned}; saved {params}. Run train again to finish the run."
    return (f"interrupted in epoch {done + 1} of {planned} after {ckpt.partial_epoch_samples:,} of {n:,} samples; "
            f"saved {params}. Run train again to finish the run from there, as if never stopped.")


def cmd_ladder(args: argparse.Namespace) -> int:
    """the post's ToDos one at a time: what each buys in test accuracy

    Train the original program (784-20-10 sigmoid, uniform(-0.5, 0.5) init, per-sample SGD at lr 0.005, images in
    file order), then one change per rung, each rung keeping the ones before, all with the same seed and epochs:
    Xavier init, shuffling, mini-batches with vectorised backprop, momentum, learning-rate decay, softmax with
    cross-entropy, then relu with He init, a wider layer and regularisation (src/scratchnet/ladder.py, RUNGS, says
    each rung's settings and how its learning rate is chosen). Prints a line per rung as it finishes: test accuracy,
    the last epoch's training loss (bce or cross-entropy), seconds of training, the change in accuracy from the rung
    before. Rung 1 is bit for bit `scratchnet train --fresh` with the same --seed and --epochs. Nothing is written
    unless asked (--keep, -o).
    """
    if args.rungs is not None and not 1 <= args.rungs <= len(ladder.RUNGS):
        raise ScratchnetError(f"--rungs must be from 1 to {len(ladder.RUNGS)}, got {args.rungs}")
    for value, name in ((args.epochs, "epochs"), (args.seed, "seed")):  # TrainConfig's ranges, checked now
        resolve({name: value})
    if args.output:
        check_destination(args.output)
        plot.check_available()  # before the training, not after it
    engine = args.engine or ladder.default_engine()
    if engine == "c":
        cengine.library(np.float64)  # says why it cannot run before any work is done
    dataset = load_mnist(args.data)
    if not args.json:
        print(f"{engine} engine, {_count(args.epochs, 'epoch')} a rung, seed {args.seed}, data {dataset.source}")
        print(f"{'rung':<16} {'test':>7} {'loss':>7} {'seconds':>8} {'change':>7}  what changed", flush=True)
    done = []
    for result in ladder.climb(dataset, engine, args.epochs, args.seed, args.rungs, args.keep,
                               progress=sys.stderr.isatty() and not args.json):
        done.append(result)
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
            continue
        gain = "" if result.gain is None else f"{100 * result.gain:+.2f}"
        print(f"{result.rung:>2} {result.name:<13} {_percent(result.test_accuracy):>7} {result.loss:7.4f} "
              f"{result.seconds:8.2f} {gain:>7}  {result.change}", flush=True)
    if args.output:
        plot.ladder(done, args.output, f"the ToDo ladder: {engine} engine, {_count(args.epochs, 'epoch')} a rung, "
                    f"seed {args.seed}")
        if not args.json:
            print(f"wrote {args.output}")
    if args.keep and not args.json:
        print(f"kept each rung's checkpoint in {args.keep}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """C against Python on this machine: speed of every engine, type, batch and thread count

    Time the training of the original 784-20-10 network per sample and in batches of 32, with the NumPy and the C
    engine, in float64 and float32, on one thread and on every core, and part of an epoch of --preset best on each
    engine (plus PyTorch if it is installed, and --script). Each row is the fastest of several repetitions,
    alternating, so another process spoils a repetition, not a row: seconds per epoch, samples/s, GFLOP/s (the count
    is printed) and the speed-up over NumPy per sample, with NumPy's SGEMM rate measured in the same run as the
    ceiling, then a verdict per comparison worded from the figures. About 1 minute (--quick: 10 s) on 2 cores.
    Writes nothing unless asked (-o).
    """
    if args.output:
        check_destination(args.output)
        plot.check_available()  # before the timing, not after it
    if args.script and not Path(args.script).is_file():
        raise ScratchnetError(f"--script {args.script}: no such file")
    dataset = load_mnist(args.data)
    say = (lambda message: print(f"scratchnet: {message}", file=sys.stderr, flush=True)) if sys.stderr.isatty() \
        else None
    result = compare.run(dataset, compare.QUICK if args.quick else compare.DEFAULT, args.script, args.script_timeout,
                         say)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print("\n".join(compare.table(result)))
    if args.output:
        plot.compare(result.to_dict()["rows"], args.output, f"scratchnet compare: {result.machine['cpu']}, "
                     f"{result.machine['cores']} cores, {result.machine['date']}")
        if not args.json:
            print(f"wrote {args.output}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """the explorer: draw a digit and see the whole network think, train it, in the browser

    Start the explorer, a page in the browser: draw digits, hover any neuron or weight for its exact value, step
    through the test images, edit a weight, and train --params from the page as train does (either resumes what the
    other trained). A --params file that does not exist starts a new network with train's defaults, written there
    when the page trains or saves it. Needs pip install 'scratchnet[web]'. Ctrl-C stops the server; a run in
    progress stops at its last whole batch and is saved, as train does (exit status 130; 0 when nothing was
    training).
    """
    try:
        from scratchnet import serve
    except ImportError as e:
        missing = (e.name or "").partition(".")[0]
        if missing not in ("starlette", "uvicorn"):
            raise
        raise ScratchnetError(f"serve needs {missing}, which is not installed: pip install 'scratchnet[web]'") from None
    ckpt = run.start(args.params, {})  # what train would begin from: the file, or a new network
    dataset = load_mnist(args.data)
    _check_fits(args.params, ckpt, dataset)
    began = f"{_count(ckpt.epochs_done, 'epoch')} trained" if ckpt.on_disk else \
        "a new network, written there when the page trains or saves it"
    print(f"{printable(args.params)}: {ckpt.network.describe()}, {began}")
    print(f"data {printable(dataset.source)}", flush=True)
    state = serve.serve(args.params, dataset, ckpt, host=args.host, port=args.port, open_browser=args.open,
                        new_data=args.new_data)
    if state.busy():  # a second Ctrl-C: the process ends with the run
        print(f"scratchnet: stopped without waiting for training: {printable(args.params)} keeps its last save",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if state.interrupted:
        print(f"scratchnet: {printable(_interrupted(args.params, state.interrupted, len(dataset.train_labels)))}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _images(args: argparse.Namespace) -> tuple[Dataset, np.ndarray, np.ndarray]:
    dataset = load_mnist(args.data)
    if args.set == "train":
        return dataset, dataset.train_images, dataset.train_labels
    return dataset, dataset.test_images, dataset.test_labels


def _check_fits(params: str, ckpt: checkpoint.Checkpoint, dataset: Dataset) -> None:
    """Refuse a dataset the network cannot take; warn when it is not the one it was trained on."""
    net = ckpt.network
    if net.sizes[0] != dataset.n_inputs:
        raise ScratchnetError(f"{params}: the network takes {net.sizes[0]} inputs but "
                              f"{dataset.source} has images of {dataset.n_inputs} pixels")
    top_label = dataset.top_label
    if top_label >= net.sizes[-1]:
        raise ScratchnetError(f"{params}: the network has {net.sizes[-1]} outputs but {dataset.source} has "
                              f"label {top_label}")
    if ckpt.data and ckpt.data["fingerprint"] != dataset.fingerprint:
        print(f"scratchnet: warning: {printable(params)} was trained on {printable(ckpt.data['source'])}, not on "
              f"{printable(dataset.source)}",
              file=sys.stderr)


def _load_network(args: argparse.Namespace, dataset: Dataset) -> Network:
    ckpt = checkpoint.load(args.params)
    _check_fits(args.params, ckpt, dataset)
    return ckpt.network


def cmd_evaluate(args: argparse.Namespace) -> int:
    """accuracy, per-class accuracy and the confusion matrix"""
    dataset, images, labels = _images(args)
    result = engines.evaluate(_load_network(args, dataset), images, labels, args.engine)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"{args.set} accuracy {_percent(result.accuracy)} on {len(labels):,} images ({printable(args.params)})")
    n = len(result.per_class)
    print("\nclass  accuracy   images")
    for c, (acc, row) in enumerate(zip(result.per_class, result.confusion)):
        print(f"{c:5d}  {_percent(acc):>8}  {sum(row):7,d}")
    print("\nconfusion (rows: true label, columns: predicted)")
    print("     " + "".join(f"{c:6d}" for c in range(n)))
    for c, row in enumerate(result.confusion):
        print(f"{c:5d}" + "".join(f"{v:6d}" for v in row))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """write every parameter as text, JSON, an SVG picture, the explorer page, ONNX, safetensors or a C header

    Write the network in --params as a human-readable text file (exact, never truncated; docs/FORMAT.md), as JSON
    with the same content, as an SVG of the whole network, as the explorer (see serve) in one HTML file that works
    offline, from file://, with the first {images:,} images of --set inside (training needs serve), as an ONNX model
    (needs pip install 'scratchnet[onnx]') or a safetensors file, which every command reads back, or as one C99
    header for a microcontroller.
    """
    ckpt = checkpoint.load(args.params)
    output = EXPORT_NAMES[args.format] if args.output is None else args.output
    _keep_networks(output, args.force)
    if args.format == "svg":
        text = _svg(args, ckpt)
    elif args.format == "html":
        dataset, images, labels = _images(args)
        _check_fits(args.params, ckpt, dataset)
        shown = explorer.images_data(images[:HTML_IMAGES], labels[:HTML_IMAGES])
        text = explorer.page(explorer.page_data(ckpt, Path(args.params).name, server=False, test=shown))
    elif args.format == "c":
        text = c_header.header(ckpt.network, args.c_dtype, args.prefix)
    elif "." + args.format in checkpoint.BRIDGE_FORMATS:
        text = checkpoint.BRIDGE_FORMATS["." + args.format].write(ckpt.network, ckpt.epochs_done, ckpt.history)
    else:
        text = checkpoint.TEXT_FORMATS["." + args.format](ckpt.network, ckpt.epochs_done, ckpt.history)
    content = text if isinstance(text, bytes) else text.encode()
    with atomic_write(output, stdout_ok=True) as f:
        f.write(content)
    if output != STDOUT:  # on standard output the file is all there is to print
        print(f"wrote {printable(output)} ({len(content):,} bytes)")
        if args.format == "c":
            print(f"{ckpt.network.describe()} as {c_header.C_TYPES[args.c_dtype]}: "
                  f"{c_header.footprint(ckpt.network, args.c_dtype).describe()}")
    return 0


def _svg(args: argparse.Namespace, ckpt: checkpoint.Checkpoint) -> str:
    if args.input is None:
        return svg.render(ckpt.network, annotate_weights=args.annotate_weights, max_lines=args.max_lines)
    dataset, images, labels = _images(args)
    _check_fits(args.params, ckpt, dataset)
    index = _index(str(args.input), len(images), args.set)
    return svg.render(ckpt.network, image=images[index], label=int(labels[index]),
                      title=f"{args.set} image {index}", annotate_weights=args.annotate_weights,
                      max_lines=args.max_lines)


def cmd_import(args: argparse.Namespace) -> int:
    """turn a .txt, .json, .onnx or .safetensors file into a checkpoint

    Read a parameter file written by export (or edited by hand, or an ONNX model of a fully connected network from
    elsewhere) and save it as a checkpoint that train, evaluate and predict use.
    """
    if Path(args.file).suffix.lower() not in checkpoint.WHOLE_EPOCHS_ONLY:
        raise ScratchnetError(f"{args.file}: import reads .txt, .json, .onnx or .safetensors parameter files")
    ckpt = checkpoint.load(args.file)
    with _locked(args, args.output):
        _keep_networks(args.output, args.force)
        checkpoint.save(os.path.realpath(args.output), ckpt)  # through a symlink: the file locked
    print(f"wrote {printable(args.output)}: {ckpt.network.describe()}, {_count(ckpt.epochs_done, 'epoch')}")
    return 0


def _keep_networks(path: str, force: bool, own: str | None = None) -> None:
    """The overwrite policy of every command: a file that holds a network (a checkpoint or a parameter
    file, by its suffix) is replaced by another network only with --force, unless it is the very
    checkpoint the command works on (``own``, as train extends its own). Pictures, pages and headers,
    made again from the network at will, are replaced without asking."""
    if path == STDOUT or Path(path).suffix.lower() not in NETWORK_SUFFIXES or force:
        return
    if own is not None and os.path.realpath(path) == os.path.realpath(own):
        return
    if os.path.lexists(path):
        raise ScratchnetError(f"{path} exists{_what_would_be_lost(path)}: pass --force to replace it, or name "
                              "another file")


def _what_would_be_lost(path: str) -> str:
    try:
        old = checkpoint.load(path)
    except ScratchnetError:
        return ""
    kept = [what for what, there in (("its history", old.history), ("its optimizer state", old.optimizer_state)) if there]
    return f" (a {old.network.describe()} network, {_count(old.epochs_done, 'epoch')} trained" + \
        (f", with {' and '.join(kept)})" if kept else ")")


def _histogram(values: np.ndarray, bins: int = 8, width: int = 30) -> list[str]:
    counts, edges = np.histogram(values, bins=bins)
    scale = width / max(counts.max(), 1)
    return [f"      {lo:+10.4f} .. {hi:+10.4f} {'#' * round(c * scale):<{width}} {c:,}"
            for lo, hi, c in zip(edges[:-1], edges[1:], counts)]


def cmd_inspect(args: argparse.Namespace) -> int:
    """per layer: shapes, parameter counts, statistics, histograms"""
    ckpt = checkpoint.load(args.params)
    net = ckpt.network
    total = sum(w.size + b.size for w, b in zip(net.weights, net.biases))
    print(f"{printable(args.params)}: {net.describe()}, {total:,} parameters, {ckpt.epochs_done} epochs trained")
    for layer, (weights, biases) in enumerate(zip(net.weights, net.biases), start=1):
        activation = net.hidden if layer < net.n_layers else net.output
        print(f"\nlayer {layer}: {weights.shape[0]} -> {weights.shape[1]} {activation}, "
              f"{weights.size + biases.size:,} parameters")
        for name, values in (("weights", weights), ("biases", biases)):
            v = values.astype(np.float64)
            print(f"  {name:7} {'x'.join(map(str, values.shape)):>8}  min {v.min():+.4f}  max {v.max():+.4f}  "
                  f"mean {v.mean():+.4f}  std {v.std():.4f}")
            print("\n".join(_histogram(v)))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """draw weights, history, confusion or misclassified images to a PNG

    Pictures of the network in --params (needs matplotlib: pip install 'scratchnet[plot]').
    """
    ckpt = checkpoint.load(args.params)
    output = f"{args.what}.png" if args.output is None else args.output
    if args.what == "weights":
        plot.weights(ckpt.network, output)
    elif args.what == "history":
        plot.history(ckpt.history, output)
    else:
        dataset, images, labels = _images(args)
        _check_fits(args.params, ckpt, dataset)
        outputs = engines.outputs(ckpt.network, images)
        if args.what == "confusion":
            matrix = engines.evaluate(ckpt.network, images, labels).confusion
            plot.confusion(matrix, output, f"{args.set} set, {ckpt.network.describe()}")
        else:
            plot.misclassified(images, labels, outputs.argmax(axis=1), outputs.max(axis=1), output)
    if output != STDOUT:
        print(f"wrote {printable(output)}")
    return 0


def hex_dump(image: np.ndarray) -> str:
    """An image as text: a row per line, each pixel two upper-case hex digits, 00 as ' .'."""
    return "\n".join("".join(" ." if v == 0 else f"{v:02X}" for v in row) for row in image)


def draw(image: np.ndarray) -> str:
    """The image in characters, two per pixel so it keeps its shape."""
    ramp = np.asarray(list(SHADES))[(image.astype(np.int32) * len(SHADES)) // 256]
    return "\n".join("".join(c * 2 for c in row) for row in ramp)


def _index(text: str, count: int, which: str) -> int:
    try:
        index = int(text)
    except ValueError:
        raise ScratchnetError(f"{text!r} is not an image index: give a whole number from 0 to {count - 1}") from None
    if not 0 <= index < count:
        raise ScratchnetError(f"image {index} does not exist: the {which} set has images 0 to {count - 1}")
    return index


def cmd_info(args: argparse.Namespace) -> int:
    """the engines available, the NumPy and BLAS in use, the threads, the data

    What this installation runs on: the engines (and why the C engine is missing, if it is), NumPy and its BLAS, the
    threads each uses, where the data is.
    """
    print(f"scratchnet {__version__} in {printable(Path(__file__).parent)} (Python {platform.python_version()})")
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b.get('architecture') or b['prefix']}, "
                     f"{b['num_threads']} threads)" for b in threads.blas()) or "none found"
    print(f"engine numpy: NumPy {np.__version__}, BLAS {blas}")
    try:
        libraries = [cengine.library(dtype)[0]._name for dtype in (np.float64, np.float32)]
        print(f"engine c: {', '.join(libraries)}, {cengine.threads(np.float64)} OpenMP threads")
    except ScratchnetError as e:
        print(f"engine c: not available: {printable(e)}")
    try:
        print(f"scratchnet-c: {printable(cengine.program())}")
    except ScratchnetError as e:
        print(f"scratchnet-c: not available: {printable(e)}")
    print(f"threads: {threads.cores()} cores, {threads.free_cores()} free now; the BLAS gets 1 thread for matrix "
          f"products, whatever the load, as its bits follow its threads (--threads N: N for products of "
          f"{threads.BIG_PRODUCT:,} multiply-adds or more); the C engine as many as cores are free, at most "
          f"--threads (its bits do not follow them)")
    found = os.environ.get("SCRATCHNET_DATA") or data.found_data_path()
    print(f"data: {printable(found or f'none here: the first command downloads MNIST to {data.cache_path()}')}")
    return 0


def c_program() -> int:
    """`scratchnet-c`: the installed standalone C program, given the data scratchnet reads (when it is
    an IDX folder and neither --data nor $SCRATCHNET_DATA says otherwise)."""
    try:
        program = cengine.program()
    except ScratchnetError as e:
        print(f"scratchnet-c: error: {printable(e)}", file=sys.stderr)
        return EXIT_ERROR
    found = data.found_data_path()
    if found and found.is_dir():
        os.environ.setdefault("SCRATCHNET_DATA", str(found))
    try:
        os.execv(program, [str(program), *sys.argv[1:]])
    except OSError as e:
        print(f"scratchnet-c: error: cannot run {printable(program)}: {e.strerror}", file=sys.stderr)
    return EXIT_ERROR


def cmd_show(args: argparse.Namespace) -> int:
    """print an image as a hex dump, a row per line"""
    _, images, labels = _images(args)
    index = _index(args.index, len(images), args.set)
    print(hex_dump(images[index]))
    print(f"image {index} ({args.set}), label {labels[index]}")
    return 0


def _learn_input(args: argparse.Namespace) -> tuple[checkpoint.Checkpoint, np.ndarray, int | None, str]:
    """The checkpoint and the image step or explain work on, its label if known, and its name."""
    if (args.index is None) == (args.image is None):
        raise ScratchnetError("give an image INDEX or --image FILE (one of the two)")
    if args.image is not None:
        ckpt = checkpoint.load(args.params)
        pixels = preprocess.to_mnist(args.image)
        return ckpt, pixels, preprocess.label_from_name(args.image), args.image
    dataset, images, labels = _images(args)
    ckpt = checkpoint.load(args.params)
    _check_fits(args.params, ckpt, dataset)
    index = _index(args.index, len(images), args.set)
    return ckpt, images[index], int(labels[index]), f"{args.set} image {index}"


def _vector(values: np.ndarray, digits: int = 4) -> str:
    return "  ".join(f"{j}: {v:.{digits}g}" for j, v in enumerate(values))


def _largest(values: np.ndarray, n: int) -> np.ndarray:
    """Flat indices of the n largest |values|, the largest first."""
    flat = np.abs(values).ravel()
    return np.argsort(-flat, kind="stable")[:n]


def cmd_step(args: argparse.Namespace) -> int:
    """one training step on one image, number by number: outputs, loss, errors, gradients, the update, the
    outputs after

    Take one training step of the network in --params on one image, as its training takes it (its loss, learning
    rate and update rule, per-sample or a batch of one with its optimizer's state), and print every stage: the
    outputs and the target, the loss, the output error, the largest hidden errors, the largest weight changes of
    each layer, the answer before and after. --params is not changed; --save writes the stepped network.
    docs/LEARN.md walks through one step.
    """
    ckpt, pixels, known, name = _learn_input(args)
    label = known if args.label is None else args.label
    if label is None:
        raise ScratchnetError(f"{name}: give its true class with --label N")
    result = learn.step(ckpt, pixels, label, args.lr)
    if args.save:
        _keep_networks(args.save, args.force, own=args.params)
        with _locked(args, args.save):
            checkpoint.save(os.path.realpath(args.save), learn.stepped(ckpt, result))
    if args.json:
        print(json.dumps({"image": name, **result.to_dict(), "saved": args.save}))
        return 0
    net = result.before
    rule = "per-sample SGD (each layer updated as soon as its error is known)" if result.order == "per-sample" else \
        f"{result.optimizer} on a batch of one"
    print(f"one training step on {name}, label {label}: {net.describe()}, {rule}, lr {result.lr:g}, "
          f"loss {result.loss_name}")
    print(f"\n1 forward   outputs  {_vector(result.outputs)}")
    print(f"            target   {_vector(result.target, 1)}")
    print(f"2 loss      {result.loss:.6g}")
    print(f"3 output error dL/dz = {'o - l' if result.loss_name == network.NATURAL_LOSS[net.output] else 'dL/do * do/dz'}"
          f"  {_vector(result.errors[-1])}")
    for layer in range(net.n_layers - 2, -1, -1):
        top = _largest(result.errors[layer], args.top)
        print(f"4 hidden layer {layer + 1} error (largest |delta| of {len(result.errors[layer])}): "
              + ", ".join(f"neuron {j} {result.errors[layer][j]:+.4g}" for j in top))
    changes = result.weight_changes
    for layer in range(net.n_layers):
        top = _largest(changes[layer], args.top)
        n_out = net.sizes[layer + 1]
        print(f"5 update layer {layer + 1} (largest |change| of {changes[layer].size:,} weights): "
              + ", ".join(f"w[{i // n_out}->{i % n_out}] {changes[layer].ravel()[i]:+.3g}" for i in top))
    before, after = int(result.outputs.argmax()), int(result.outputs_after.argmax())
    print(f"6 forward again: output {label} {result.outputs[label]:.6g} -> {result.outputs_after[label]:.6g}, "
          f"loss {result.loss:.6g} -> {result.loss_after:.6g}, answer {before} -> {after}")
    print(f"saved the stepped network to {args.save}" if args.save else
          f"{args.params} is unchanged (--save PATH writes the stepped network)")
    return 0


def _heatmap_text(values: np.ndarray) -> str:
    """A contribution heatmap in characters, two per pixel: + raised the output, - lowered it, by strength."""
    scale = np.abs(values).max() or 1.0
    rows = []
    for row in values.reshape(28, 28) / scale:
        rows.append("".join("  " if abs(v) < 0.05 else ("+" if v > 0 else "-") * (2 if abs(v) >= 0.3 else 1)
                            + ("" if abs(v) >= 0.3 else " ") for v in row))
    return "\n".join(rows)


def _png(path: str, pictures: list[Image.Image]) -> None:
    """The pictures side by side, each 28x28 scaled to 280x280, to a PNG file."""
    check_destination(path)
    sheet = Image.new("RGB", (290 * len(pictures) - 10, 280), "white")
    for k, picture in enumerate(pictures):
        sheet.paste(picture.resize((280, 280), Image.NEAREST), (290 * k, 0))
    with atomic_write(path, stdout_ok=True) as f:
        sheet.save(f, format="PNG")


def _diverging(values: np.ndarray) -> Image.Image:
    """Orange for positive, blue for negative, black at 0, as the explorer colours them."""
    t = values.reshape(28, 28) / (np.abs(values).max() or 1.0)
    positive, negative = np.array([247, 148, 29]), np.array([58, 150, 240])
    rgb = np.where(t[..., None] > 0, t[..., None] * positive, -t[..., None] * negative)
    return Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")


def cmd_explain(args: argparse.Namespace) -> int:
    """why this answer: each pixel's and each hidden neuron's part in an output

    For one image and one output (default: the answer): a heatmap of each pixel's contribution to the output's logit
    z (input times gradient, x * dz/dx; orange raised z, blue lowered it) and the last layer's inputs ranked by
    their contribution w * a, which with the bias add up to z exactly.
    """
    ckpt, pixels, label, name = _learn_input(args)
    result = learn.explain(ckpt.network, pixels, args.digit)
    if args.output:
        _png(args.output, [Image.fromarray(np.round(result.inputs * 255).astype(np.uint8).reshape(28, 28)).convert("RGB"),
                           _diverging(result.pixel_contributions)])
    if args.json:
        print(json.dumps({"image": name, "label": label, **result.to_dict(), "saved": args.output}))
        return 0
    print(f"{name}{'' if label is None else f', label {label}'}: the answer is {result.prediction} "
          f"({result.outputs[result.prediction]:.4g}); explaining output {result.digit} (z = {result.logit:.6g})")
    print("\neach pixel's part in z, input x gradient (+ raised z, - lowered it; doubled: strong):")
    print(_heatmap_text(result.pixel_contributions))
    hidden = "hidden neuron" if ckpt.network.n_layers > 1 else "pixel"
    print(f"\nz = sum of w * a over the {len(result.hidden_contributions)} {hidden}s + bias; the largest:")
    for j in result.ranking[: args.top]:
        print(f"  {hidden} {j:4d}  w {result.hidden_weights[j]:+.4g} * a {result.hidden_activations[j]:.4g} = "
              f"{result.hidden_contributions[j]:+.4g}")
    print(f"  ... all {len(result.hidden_contributions)}: {result.hidden_contributions.sum():+.6g}, bias "
          f"{result.bias:+.6g}, sum {result.hidden_contributions.sum() + result.bias:.6g} = z")
    if args.output:
        print(f"wrote {args.output}")
    return 0


def cmd_dream(args: argparse.Namespace) -> int:
    """what the network imagines a digit looks like (gradient ascent on the input)

    Run the network backwards: change a picture, from blank or from an image, step by step along the gradient that
    makes digit D win (learn.dream: the picture is kept smooth, in [0, 1] and near the centre, so that it looks like
    ink).
    """
    ckpt = checkpoint.load(args.params)
    start = None
    if args.start is not None:
        dataset, images, _ = _images(args)
        _check_fits(args.params, ckpt, dataset)
        start = images[_index(str(args.start), len(images), args.set)]
    result = learn.dream(ckpt.network, args.digit, args.steps, start)
    picture = np.round(result.image * 255).astype(np.uint8)
    if args.output:
        _png(args.output, [Image.fromarray(picture.reshape(28, 28))])
    if args.json:
        print(json.dumps({**result.to_dict(), "saved": args.output}))
        return 0
    if picture.size == 784:
        print(draw(picture.reshape(28, 28)))
    top = np.argsort(-result.outputs, kind="stable")[:3]
    print(f"a dream of {result.digit} after {args.steps} steps: the network answers {result.prediction}; top 3: "
          + ", ".join(f"{d} {result.outputs[d]:.3g}" for d in top))
    if args.output:
        print(f"wrote {args.output}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """which digit is image N, or your picture? (asks in a loop without indices)

    Draw images, their true label and the network's answer. With no INDEX, asks for indices until 'q' or end of
    input; --image answers your own pictures.
    """
    if args.plot:
        _plot_window()
    if args.image:
        return _predict_pictures(args)
    if args.save_input:
        raise ScratchnetError("--save-input saves what --image pictures became: give --image too")
    for text in args.indices:
        if not text.lstrip("-").isdigit() and Path(text).exists():
            raise ScratchnetError(f"{text!r} is not an image index: for a picture file, use --image {text}")
    dataset, images, labels = _images(args)
    net = _load_network(args, dataset)
    explained: list[Network] = []  # once _explain_scores has spoken

    def answer(index: int) -> None:
        probabilities = engines.outputs(net, images[index : index + 1], args.engine)[0]
        top = np.argsort(probabilities)[::-1][:3]
        result = {"index": index, "set": args.set, "label": int(labels[index]), "prediction": int(top[0]),
                  "confidence": float(probabilities[top[0]]),
                  "top3": [{"digit": int(d), "score": float(probabilities[d])} for d in top]}
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            verdict = "right" if top[0] == labels[index] else "WRONG"
            if not explained:
                _explain_scores(net)
                explained.append(net)
            print(draw(images[index]))
            print(f"image {index} ({args.set}): label {labels[index]}, prediction {top[0]} "
                  f"(confidence {probabilities[top[0]]:.2f}), {verdict}; top 3: "
                  + ", ".join(f"{d} {probabilities[d]:.2f}" for d in top), flush=True)
        if args.plot:
            _plot(images[index], result)

    if args.indices:
        for text in args.indices:
            answer(_index(text, len(images), args.set))
        return 0
    while True:
        try:
            prompt = f"Enter the number of an image (0 - {len(images) - 1}), q to quit: "
            if not sys.stdin.isatty():  # indices from a file or a pipe: nobody to ask
                prompt = ""
            elif args.json:  # stdout carries JSON lines only
                print(prompt, end="", file=sys.stderr, flush=True)
                prompt = ""
            text = input(prompt).strip()
        except EOFError:
            if sys.stdin.isatty():
                print(file=sys.stderr if args.json else sys.stdout)  # end the prompt's line
            return 0
        if text.lower() in ("q", "quit", "exit"):
            return 0
        try:
            answer(_index(text, len(images), args.set))
        except ScratchnetError as e:
            print(f"scratchnet: {printable(e)}", file=sys.stderr)


def _explain_scores(net: Network) -> None:
    """What "confidence" means for this network, said once before its answers."""
    if net.output == "sigmoid":
        print("(a sigmoid output layer: each digit's score, and so the confidence, is its own output from 0 to 1; "
              "the scores need not sum to 1, and are not probabilities)")


def _predict_pictures(args: argparse.Namespace) -> int:
    """predict --image: each picture preprocessed as MNIST was, then answered; a bad file is reported
    and skipped when there are several."""
    if args.indices:
        raise ScratchnetError("give image indices or --image pictures, not both")
    model = load(args.params, args.engine)
    files = preprocess.find_images(args.image)
    folder = Path(args.save_input) if args.save_input else None
    if folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ScratchnetError(f"--save-input {folder}: cannot make the folder ({e.strerror or e})") from None
    saved: set[str] = set()
    labelled = right = failed = 0
    explained = False  # once _explain_scores has spoken
    for path in files:
        try:
            pixels = preprocess.to_mnist(path)
        except ScratchnetError as e:
            if len(files) == 1:
                raise
            print(f"scratchnet: error: {printable(e)}", file=sys.stderr, flush=True)
            failed += 1
            continue
        answer = model.predict_digit(pixels, preprocessed=True)
        label = preprocess.label_from_name(path)
        labelled += label is not None
        right += label == answer.digit
        result = {"file": str(path), "label": label, **answer.to_dict()}
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            verdict = "" if label is None else f"label {label}, "
            mark = "" if label is None else (", right" if label == answer.digit else ", WRONG")
            if not explained:
                _explain_scores(model.network)
                explained = True
            if len(files) < COMPACT_FROM:
                print(draw(pixels))
            print(f"{printable(path)}: {verdict}prediction {answer.digit} (confidence {answer.confidence:.2f}){mark}; top 3: "
                  + ", ".join(f"{d} {score:.2f}" for d, score in answer.top3), flush=True)
        if folder:
            _save_input(folder, path, pixels, saved)
        if args.plot:
            _plot(pixels, result)
    if len(files) > 1 and (labelled or failed):
        summary = f"accuracy {_percent(right / labelled)} on {_count(labelled, 'labelled picture')} ({right:,} right)" \
            if labelled else "no labelled pictures"
        unread = f"; {_count(failed, 'file')} could not be read" if failed else ""
        print(summary + unread, file=sys.stderr if args.json else sys.stdout)
    return EXIT_ERROR if failed else 0


def _save_input(folder: Path, path: Path, pixels: np.ndarray, saved: set[str]) -> None:
    """folder/NAME.png, NAME the picture's name without its suffix (-2, -3, ... when taken in this run)."""
    name, n = path.stem, 1
    while name in saved:
        n += 1
        name = f"{path.stem}-{n}"
    saved.add(name)
    with atomic_write(folder / f"{name}.png") as f:
        Image.fromarray(pixels).save(f, format="PNG")


def _plot_window():
    """matplotlib's pyplot, if it can open a window here; else a one-line error, before any work."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ScratchnetError("--plot needs matplotlib: pip install 'scratchnet[plot]'") from None
    backend = plt.get_backend().lower()
    if backend in FILE_BACKENDS:  # what matplotlib falls back on without a display: show() would do nothing
        raise ScratchnetError(f"--plot needs a display to open a window, and there is none here (matplotlib's "
                              f"backend is {backend}): drop --plot (with --image, --save-input DIR saves what the network saw)")
    return plt


def _plot(image: np.ndarray, result: dict) -> None:
    plt = _plot_window()
    plt.imshow(image, cmap="Blues")
    plt.title(f"Prediction: {result['prediction']} (Confidence: {result['confidence']:.2f})")
    plt.show()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)  # exits itself for --help and usage errors
            threads.set_cap(getattr(args, "threads", None))  # None: per workload
            return args.run(args)
        finally:
            sys.stdout.flush()  # a full disk or a closed pipe shows here, not in Python's flush at exit
    except ScratchnetError as e:
        print(f"scratchnet: error: {printable(e)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nscratchnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()
        sys.stderr.close()  # output piped into head & co.: nothing left to say
        return EXIT_ERROR
    except OSError as e:  # standard output on a full disk (train > /dev/full) or gone
        _drop_stdout()
        print(f"scratchnet: error: cannot write {printable(e.filename or 'the output')}: {e.strerror or e}",
              file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("scratchnet: error: out of memory: try a smaller network or --batch-size", file=sys.stderr)
        return EXIT_ERROR


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so that Python's last flush at exit cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
