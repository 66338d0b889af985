"""The ``scratchnet`` command: parses arguments and calls the library; every error is one line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

import numpy as np

from scratchnet import __version__, checkpoint, train
from scratchnet.config import PRESETS, TrainConfig
from scratchnet.data import Dataset, load_mnist
from scratchnet.errors import ScratchnetError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by Ctrl-C
SHADES = " .:-=+*#%@"  # dark to bright, for drawing a digit in the terminal


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _layers(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of sizes, e.g. 784,20,10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need two or more sizes of at least 1")
    return sizes


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, with its help and default taken from there."""
    group = parser.add_argument_group("network and training (defaults: the seed's)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = ",".join(map(str, f.default)) if f.name == "layers" else f.default
        help_text = f"{f.metadata['help']} (default: {default})"
        if f.type in ("bool", bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        kind = {"int": int, "float": float, "str": str}.get(str(f.type), _layers)
        group.add_argument(flag, type=kind, choices=f.metadata["choices"], default=None, help=help_text,
                           metavar=None if f.metadata["choices"] else f.name.upper())


def _add_common(parser: argparse.ArgumentParser, *, json_output: bool = False, data_set: bool = False) -> None:
    parser.add_argument("-p", "--params", default=checkpoint.DEFAULT_PATH,
                        help=f"checkpoint file (default: {checkpoint.DEFAULT_PATH})")
    parser.add_argument("--data", help="mnist.npz or a folder of IDX files (default: $SCRATCHNET_DATA, "
                        "data/mnist.npz in the repository, the user cache, else a download)")
    if data_set:
        parser.add_argument("--set", choices=("test", "train"), default="test", help="which images (default: test)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scratchnet",
        description="A neural network from scratch in NumPy: train it on MNIST, evaluate it, ask it about digits.",
    )
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = commands.add_parser("train", help="train a network, resuming from --params if it exists",
                            description="Train a network. An existing --params file is resumed with its own "
                            "settings unless options change them; --fresh starts over.")
    _add_common(p, json_output=True)
    p.add_argument("--preset", choices=tuple(PRESETS), help="seed: the seed's settings; tuned: 784-20-10 trained "
                   "well; best: the most accurate network found for a 3-minute budget")
    p.add_argument("--fresh", action="store_true", help="start a new network even if --params exists")
    _add_config_options(p)
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("evaluate", help="accuracy, per-class accuracy and the confusion matrix")
    _add_common(p, json_output=True, data_set=True)
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("predict", help="which digit is image N? (asks in a loop without indices)",
                            description="Draw images, their true label and the network's answer. With no INDEX, "
                            "asks for indices until 'q' or end of input.")
    _add_common(p, json_output=True, data_set=True)
    p.add_argument("indices", nargs="*", metavar="INDEX", help="image indices to answer without asking")
    p.add_argument("--plot", action="store_true", help="also show each image in a matplotlib window, as the seed")
    p.set_defaults(run=cmd_predict)

    p = commands.add_parser("show", help="print an image as the seed's hex dump")
    p.add_argument("index", metavar="INDEX", help="image index")
    p.add_argument("--data", help="as for train")
    p.add_argument("--set", choices=("test", "train"), default="test", help="which images (default: test)")
    p.set_defaults(run=cmd_show)
    return parser


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def cmd_train(args: argparse.Namespace) -> int:
    explicit = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    ckpt = train.start(args.params, explicit, args.preset, args.fresh)
    dataset = load_mnist(args.data)
    config, net = ckpt.config, ckpt.network
    if not args.json:
        began = f"resuming after {ckpt.epochs_done} epochs" if ckpt.epochs_done else "new network"
        print(f"{net.describe()}, {began}: {config.epochs} epochs, lr {config.lr:g}, batch {config.batch_size}, "
              f"{config.optimizer}, {config.schedule} schedule")
        print(f"data {dataset.source}, checkpoint {args.params}", flush=True)

    def report(result: train.EpochResult) -> None:
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
        else:
            print(f"epoch {result.epoch:3d}  loss {result.loss:.4f}  train {_percent(result.train_accuracy)}  "
                  f"test {_percent(result.test_accuracy)}  {result.seconds:6.2f} s  "
                  f"{result.samples_per_second:9,.0f} samples/s", flush=True)

    finished = train.run(ckpt, dataset, args.params, report, progress=sys.stdout.isatty() and not args.json)
    if not finished:
        n = len(dataset.train_labels)
        print(f"scratchnet: interrupted in epoch {ckpt.epochs_done + 1} after {ckpt.partial_epoch_samples:,} of "
              f"{n:,} samples; saved {args.params} ({ckpt.epochs_done} whole epochs). Run train again to go on.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.json:
        print(f"saved {args.params} ({ckpt.epochs_done} epochs in all)")
    return 0


def _images(args: argparse.Namespace) -> tuple[Dataset, np.ndarray, np.ndarray]:
    dataset = load_mnist(args.data)
    if args.set == "train":
        return dataset, dataset.train_images, dataset.train_labels
    return dataset, dataset.test_images, dataset.test_labels


def _load_network(args: argparse.Namespace, dataset: Dataset):
    net = checkpoint.load(args.params).network
    if net.sizes[0] != dataset.n_inputs:
        raise ScratchnetError(f"{args.params}: the network takes {net.sizes[0]} inputs but "
                              f"{dataset.source} has images of {dataset.n_inputs} pixels")
    return net


def cmd_evaluate(args: argparse.Namespace) -> int:
    dataset, images, labels = _images(args)
    result = train.evaluate(_load_network(args, dataset), images, labels)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"{args.set} accuracy {_percent(result.accuracy)} on {len(labels):,} images ({args.params})")
    n = len(result.per_class)
    print("\nclass  accuracy   images")
    for c, (acc, row) in enumerate(zip(result.per_class, result.confusion)):
        print(f"{c:5d}  {_percent(acc):>8}  {sum(row):7,d}")
    print("\nconfusion (rows: true label, columns: predicted)")
    print("     " + "".join(f"{c:6d}" for c in range(n)))
    for c, row in enumerate(result.confusion):
        print(f"{c:5d}" + "".join(f"{v:6d}" for v in row))
    return 0


def hex_dump(image: np.ndarray) -> str:
    """The seed's view of an image: a row per line, each pixel two upper-case hex digits, 00 as ' .'."""
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


def cmd_show(args: argparse.Namespace) -> int:
    _, images, _ = _images(args)
    print(hex_dump(images[_index(args.index, len(images), args.set)]))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    dataset, images, labels = _images(args)
    net = _load_network(args, dataset)

    def answer(index: int) -> None:
        probabilities = train.predict(net, images[index : index + 1])[0]
        top = np.argsort(probabilities)[::-1][:3]
        result = {"index": index, "set": args.set, "label": int(labels[index]), "prediction": int(top[0]),
                  "confidence": float(probabilities[top[0]]),
                  "top3": [{"digit": int(d), "score": float(probabilities[d])} for d in top]}
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            verdict = "right" if top[0] == labels[index] else "WRONG"
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
            text = input(f"Enter the number of an image (0 - {len(images) - 1}), q to quit: ").strip()
        except EOFError:
            print()
            return 0
        if text.lower() in ("q", "quit", "exit"):
            return 0
        try:
            answer(_index(text, len(images), args.set))
        except ScratchnetError as e:
            print(f"scratchnet: {e}", file=sys.stderr)


def _plot(image: np.ndarray, result: dict) -> None:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ScratchnetError("--plot needs matplotlib: pip install 'scratchnet[plot]'") from None
    plt.imshow(image, cmap="Blues")
    plt.title(f"Prediction: {result['prediction']} (Confidence: {result['confidence']:.2f})")
    plt.show()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ScratchnetError as e:
        print(f"scratchnet: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nscratchnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # output piped into head & co.: nothing left to say
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
