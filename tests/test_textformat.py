"""scratchnet.textformat: exact round trips (hypothesis), hand edits, and line-numbered errors."""

import itertools
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crafted import run_limited, run_measured
from scratchnet import checkpoint, cli, network, textformat
from scratchnet.errors import ScratchnetError


def make_net(dtype="float64", sizes=(5, 3, 2)):
    return network.create(sizes, "tanh", "softmax", "xavier", dtype, np.random.default_rng(0))


def same(a: network.Network, b: network.Network) -> bool:
    return (a.sizes, a.hidden, a.output) == (b.sizes, b.hidden, b.output) and all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x.view(np.uint8), y.view(np.uint8))
        for x, y in zip(a.weights + a.biases, b.weights + b.biases)
    )  # compared as bytes: -0.0 must stay -0.0


def floats(dtype):
    width = 64 if dtype == "float64" else 32
    return st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True, width=width)


@st.composite
def networks(draw, dtype):
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    weights = [draw(hnp.arrays(dtype, (a, b), elements=floats(dtype))) for a, b in itertools.pairwise(sizes)]
    biases = [draw(hnp.arrays(dtype, (b,), elements=floats(dtype))) for b in sizes[1:]]
    return network.Network(tuple(sizes), "relu", "sigmoid", weights, biases)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_round_trip_is_bit_identical(dtype, fmt):
    write, read = {"text": (textformat.to_text, textformat.from_text),
                   "json": (textformat.to_json, textformat.from_json)}[fmt]

    @settings(max_examples=150, deadline=None)
    @given(networks(dtype))
    def check(net):
        assert same(read(write(net)).network, net)

    check()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_values_round_trip(dtype):
    info = np.finfo(dtype)
    special = np.array([0.0, -0.0, info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
                        info.max, -info.max, info.eps, 1 / 3, 0.1, 1e-300 if dtype == "float64" else 1e-38,
                        123456789.0, 2.0**-1074 if dtype == "float64" else 2.0**-149], dtype=dtype)
    net = network.Network((len(special), 1), "relu", "sigmoid", [special[:, None]], [np.array([-0.0], dtype)])
    for write, read in ((textformat.to_text, textformat.from_text), (textformat.to_json, textformat.from_json)):
        assert same(read(write(net)).network, net)


def test_float32_halfway_cases_round_like_strtof():
    # 1 + 2**-24 is exactly halfway between float32 1.0 and 1 + 2**-23: ties go to even (1.0);
    # a hair above it must go up, though float64 would first round the hair away.
    tie, above = "1.000000059604644775390625", "1.00000005960464477539062500000001"
    got = textformat.parse_numbers([tie, above, "-" + above], "float32")
    assert got.tolist() == [1.0, np.float32(1 + 2**-23), -np.float32(1 + 2**-23)]


def test_the_text_is_readable_and_labelled():
    text = textformat.to_text(make_net(), 4, [{"epoch": 4, "loss": 0.25, "train_accuracy": 0.9,
                                                "test_accuracy": 0.925}])
    lines = text.splitlines()
    assert lines[0] == "scratchnet-params 1"
    assert "sizes 5 3 2" in lines and "hidden tanh" in lines and "dtype float64" in lines and "epochs 4" in lines
    assert any("test accuracy 92.50%" in line for line in lines)
    assert "layer 1 inputs 5 neurons 3" in lines and "layer 2 inputs 3 neurons 2" in lines
    assert sum(line.startswith("neuron ") for line in lines) == 5 and lines[-1] == "end"
    assert "..." not in text  # never truncated


def test_full_size_network_is_never_truncated():
    net = network.create((784, 20, 10), "sigmoid", "sigmoid", "uniform", "float64", np.random.default_rng(1))
    text = textformat.to_text(net)
    assert "..." not in text
    assert sum(len(line.split()) - 5 for line in text.splitlines() if line.startswith("neuron")) == 784 * 20 + 20 * 10
    assert same(textformat.from_text(text).network, net)


def test_hand_edits_are_fine():
    net = make_net()
    text = textformat.to_text(net)
    edited = "# my notes\r\n\r\n" + text.replace("\n", "   # a comment\r\n").replace(" weights ", "   weights\t ")
    edited = edited.replace("sizes 5 3 2", "  sizes   5  3 2").replace("hidden tanh", "output softmax  ")
    edited = edited.replace("output softmax   # a comment\r\ndtype", "hidden tanh\r\ndtype", 1)
    assert same(textformat.from_text(edited).network, net)
    # an edited value is read as written
    changed = text.replace("neuron 0 bias 0.0", "neuron 0 bias 1.5e-3", 1)
    assert textformat.from_text(changed).network.biases[0][0] == 1.5e-3


def broken(text, *fragments, line=None):
    with pytest.raises(ScratchnetError) as info:
        textformat.from_text(text, "net.txt")
    message = str(info.value)
    assert "\n" not in message and message.startswith("net.txt")
    if line is not None:
        assert message.startswith((f"net.txt:{line}:", f"net.txt:{line} "))
    for fragment in fragments:
        assert fragment in message, message
    return message


GOOD = textformat.to_text(make_net())
LINES = GOOD.splitlines()


def replace_line(prefix, new):
    index = next(i for i, line in enumerate(LINES) if line.startswith(prefix))
    return "\n".join(LINES[:index] + ([new] if new is not None else []) + LINES[index + 1 :]) + "\n", index + 1


def test_short_and_long_rows():
    row = next(line for line in LINES if line.startswith("neuron 1 "))
    text, n = replace_line("neuron 1 ", row.rsplit(" ", 1)[0])
    broken(text, "row too short", "4 weights, expected 5", line=n)
    text, n = replace_line("neuron 1 ", row + " 0.5")
    broken(text, "row too long", "6 weights, expected 5", line=n)


def test_a_non_number_names_line_and_column():
    row = next(line for line in LINES if line.startswith("neuron 2 "))
    bad = row.split()
    bad[7] = "0.1x"
    text, n = replace_line("neuron 2 ", " ".join(bad))
    message = broken(text, "'0.1x' is not a number", line=n)
    column = " ".join(bad).index("0.1x") + 1
    assert message.startswith(f"net.txt:{n}:{column}:")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_nan_and_infinity_are_refused(value):
    text, n = replace_line("neuron 0 ", LINES[next(i for i, line in enumerate(LINES) if line.startswith("neuron 0 "))]
                           .replace("bias 0.0", f"bias {value}"))
    broken(text, value, "must be finite", line=n)


def test_overflow_is_refused():
    text, n = replace_line("neuron 0 ", next(line for line in LINES if line.startswith("neuron 0 "))
                           .replace("bias 0.0", "bias 1e999"))
    broken(text, "overflows float64", line=n)


@pytest.mark.parametrize("number", ["1_000", "0x10", ".", "1e", "+-1", "1.2.3"])
def test_only_plain_decimals_are_numbers(number):
    text, _ = replace_line("neuron 0 ", next(line for line in LINES if line.startswith("neuron 0 "))
                           .replace("bias 0.0", f"bias {number}"))
    broken(text, "is not a number")


def test_missing_and_repeated_sections():
    broken(replace_line("hidden", None)[0], "'hidden' is missing")
    broken(GOOD.replace("dtype float64", "dtype float64\ndtype float64"), "'dtype' appears twice")
    broken(GOOD.replace("layer 2 inputs 3 neurons 2", "layer 1 inputs 5 neurons 3"),
           "layer 1 appears twice, or has more than 3 neurons")
    broken(GOOD.replace("neuron 2 bias", "neuron 7 bias"), "expected neuron 2 of layer 1, found neuron 7")
    layer2 = GOOD.index("layer 2")
    broken(GOOD[:layer2] + "end\n", "'end' comes before layer 2")
    broken(GOOD.replace("neuron 1 bias", "#neuron 1 bias"), "expected neuron 1 of layer 1, found neuron 2")


def test_sizes_that_do_not_chain():
    broken(GOOD.replace("layer 2 inputs 3 neurons 2", "layer 2 inputs 4 neurons 2"),
           "layer 2 has 4 inputs but the layer before it has 3 neurons")
    broken(GOOD.replace("sizes 5 3 2", "sizes 5 3 3"), "expected 'layer 2 inputs 3 neurons 3'")
    broken(GOOD.replace("sizes 5 3 2", "sizes 5 x 2"), "a layer size must be a whole number, not 'x'")
    broken(GOOD.replace("sizes 5 3 2", "sizes 5"), "two or more layer sizes")


def test_trailing_text_and_files_cut_short():
    broken(GOOD + "neuron 9 bias 0 weights 1\n", "text after 'end'")
    broken(GOOD.replace("end\n", ""), "file ends early", "'end'")
    broken(GOOD[: len(GOOD) // 2], "cut short")
    broken("", "file ends early")
    broken(GOOD.replace("end\n", "finish\n"), "expected 'end', found 'finish'")


def test_foreign_files():
    broken("Weights and Biases:\nLayer 1 Weights:\n[[0.1 0.2]]\n", "not a scratchnet parameter file", line=1)
    broken(GOOD.replace("scratchnet-params 1", "scratchnet-params 2"), "format version 2 is not supported")
    broken(GOOD.replace("hidden tanh", "hidden swish"), "hidden 'swish' is not one of")
    broken(GOOD.replace("hidden tanh", "colour blue"), "unknown header line 'colour'")


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda t: t[: len(t) // 2], "line"),
        (lambda t: t.replace('"format": "scratchnet-params"', '"format": "other"'), "not a scratchnet parameter file"),
        (lambda t: t.replace("[0.0, 0.0, 0.0]", "[0.0, 0.0]"), "layer 1 biases must be a list of 3, not of 2"),
        (lambda t: t.replace("[0.0, 0.0, 0.0]", '[0.0, "a", 0.0]'), "layer 1: a string 'a' is not a number"),
        (lambda t: t.replace("[0.0, 0.0, 0.0]", "[0.0, NaN, 0.0]"), "NaN is not allowed: parameters must be finite"),
        (lambda t: t.replace('"version": 1', '"version": 7'), "version 7"),
    ],
)
def test_broken_json_is_one_line(mutate, fragment):
    with pytest.raises(ScratchnetError) as info:
        textformat.from_json(mutate(textformat.to_json(make_net())), "net.json")
    assert "\n" not in str(info.value) and str(info.value).startswith("net.json") and fragment in str(info.value)


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_checkpoints_in_text_form(tmp_path, suffix):
    net = make_net("float32")
    path = tmp_path / f"p{suffix}"
    checkpoint.save(path, checkpoint.Checkpoint(net, checkpoint.TrainConfig(), epochs_done=2))
    back = checkpoint.load(path)
    assert same(back.network, net) and back.epochs_done == 2
    assert back.config.layers == (5, 3, 2) and back.config.loss == "cross_entropy"


def test_unreadable_text_file(tmp_path):
    path = tmp_path / "p.txt"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ScratchnetError, match="p.txt:1:1: character 0xff is not allowed outside comments"):
        textformat.read(path)
    with pytest.raises(ScratchnetError, match="no such file"):
        textformat.read(tmp_path / "missing.txt")


# -----------------------------------------------------------------------------
# the shared corpus: csrc/tests_io.c reads the same files and must agree (docs/FORMAT.md's grammar)

CORPUS = Path(__file__).resolve().parent / "corpus" / "params"


def expected_error(path: Path) -> str:
    """What a bad file's last line says both readers report: the message after the file's name."""
    last = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()
    assert last.startswith("# error: "), path
    return last[len("# error: "):]


@pytest.mark.parametrize("path", sorted((CORPUS / "good").iterdir()), ids=lambda p: p.name)
def test_good_corpus_files_read_as_their_canonical_form(path):
    params = textformat.read(path)
    canonical = (CORPUS / "canonical" / path.name).read_text()
    assert textformat.to_text(params.network, params.epochs_done) == canonical
    again = textformat.from_text(canonical)
    assert same(again.network, params.network) and again.epochs_done == params.epochs_done


@pytest.mark.parametrize("path", sorted((CORPUS / "bad").iterdir()), ids=lambda p: p.name)
def test_bad_corpus_files_are_refused_as_written_down(path):
    with pytest.raises(ScratchnetError) as info:
        textformat.read(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}{expected_error(path)}")


def test_the_corpus_covers_the_grammar():
    assert len(list((CORPUS / "good").iterdir())) >= 15 and len(list((CORPUS / "bad").iterdir())) >= 40
    assert {p.name for p in (CORPUS / "good").iterdir()} == {p.name for p in (CORPUS / "canonical").iterdir()}


def test_a_huge_row_is_refused_within_memory(tmp_path):
    path = tmp_path / "wide.txt"
    head = GOOD[: GOOD.index("neuron 0 ")].encode()
    path.write_bytes(head + b"neuron 0 bias 0 weights" + b" 0" * 500_000 + b"\nend\n")  # 1 MB, one row
    done = run_limited("inspect", "-p", path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "wide.txt:12: row too long: neuron 0 of layer 1 has 500000 weights, expected 5" in done.stderr


@pytest.mark.parametrize("suffix", [".txt", ".json"])
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_special_files_are_refused(tmp_path, suffix, kind):
    path = tmp_path / f"special{suffix}"
    if kind == "fifo":
        os.mkfifo(path)  # a writer comes after 5 s, so a failure is no hang
        threading.Thread(target=lambda: time.sleep(5) or open(path, "wb").close(), daemon=True).start()
    else:
        path.mkdir()
    with pytest.raises(ScratchnetError, match=f"{path}: is a (named pipe|folder), not a regular file"):
        checkpoint.load(path)


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_an_endless_device_is_refused(tmp_path, suffix):
    path = tmp_path / f"zero{suffix}"
    path.symlink_to("/dev/zero")  # read to its end, it would fill the memory
    done = run_limited("inspect", "-p", path)
    assert done.returncode == 1 and done.stderr == f"scratchnet: error: {path}: is a character device, not a regular file\n"


def json_with(**changes):
    doc = json.loads(textformat.to_json(make_net()))
    doc.update(changes)
    return json.dumps(doc)


def json_layer(**changes):
    doc = json.loads(textformat.to_json(make_net()))
    doc["layers"][0].update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    "text,fragment",
    [
        (json_layer(biases="012"), "layer 1 biases must be a list of 3, not a string '012'"),
        (json_layer(biases=["0.5", "1", "2"]), "layer 1: a string '0.5' is not a number"),
        (json_layer(biases=[True, 0, 0]), "layer 1: true is not a number"),
        (json_layer(weights=[[0] * 5, [0] * 5, "00000"]), "layer 1: a row of weights must be a list of 5, not a string"),
        (json_layer(biases=[0, 0, "X"]).replace('"X"', "1e999"), "layer 1: 1e999 overflows float64"),
        (json_layer(inputs="5"), "layer 1 inputs must be a whole number from 0 to 1000000, not a string '5'"),
        (json_layer(colour="blue"), "layer 1 must be an object of \"inputs\", \"neurons\", \"biases\" and \"weights\""),
        (json_with(sizes=["5", "3", "2"]), "a layer size must be a whole number from 0 to 1000000, not a string '5'"),
        (json_with(sizes=[5.0, 3, 2]), "a layer size must be a whole number from 0 to 1000000, not 5.0"),
        (json_with(sizes="5 3 2"), "\"sizes\" must be a list of 2 to 17 layer sizes, not a string '5 3 2'"),
        (json_with(sizes=[100000, 100000]), "layer sizes 100000-100000 make 10000100000 parameters"),
        (json_with(epochs=True), "\"epochs\" must be a whole number from 0 to 2147483647, not true"),
        (json_with(epochs=2**31), "\"epochs\" must be a whole number from 0 to 2147483647, not 2147483648"),
        (json_with(epochs=-1), "\"epochs\" must be a whole number from 0 to 2147483647, not -1"),
        (json_with(version="1"), "format version a string '1' is not supported"),
        (json_with(version=True), "format version true is not supported"),
        (json_with(hidden=["tanh"]), "\"hidden\" must be one of sigmoid, tanh, relu, not a list"),
        (json_with(epoch=5), "unknown field 'epoch'"),
        (json_with(summary=5), "\"summary\" must be a string, not 5"),
        (json_with(layers={}), "\"layers\" must be a list of 2, not an object"),
        (json_with(layers=[]), "\"layers\" must be a list of 2, not of 0"),
        (json_with().replace('"epochs": 0', '"epochs": Infinity'), "Infinity is not allowed: parameters must be finite"),
        (b"\xff" + json_with().encode(), "not UTF-8 text (byte 0)"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else "",
)
def test_json_values_must_be_of_their_type(text, fragment):
    with pytest.raises(ScratchnetError) as info:
        textformat.from_json(text, "net.json")
    assert "\n" not in str(info.value) and str(info.value).startswith(f"net.json: {fragment}")


# -----------------------------------------------------------------------------
# both command lines read numbers by the same grammar

SCRATCHNET_C = Path(__file__).resolve().parents[1] / "csrc" / "scratchnet-c"


@pytest.mark.parametrize("option,value,fragment", [
    ("--lr", "0x10", "'0x10' is not a number"),
    ("--lr", "nan", "'nan' is not a number"),
    ("--lr", "1_0", "'1_0' is not a number"),
    ("--lr", "\u0665", "is not a number"),  # an Arabic-Indic digit five
    ("--lr", " 5", "' 5' is not a number"),
    ("--lr", "2\u00b2", "is not a number"),  # a superscript two
    ("--epochs", "0x5", "'0x5' is not a whole number"),
    ("--epochs", "1_0", "'1_0' is not a whole number"),
    ("--epochs", " 5", "' 5' is not a whole number"),
    ("--seed", "\u0665", "is not a whole number"),
    ("--layers", "784, 20,10", "is not a comma-separated list of sizes"),
    ("--layers", "784,\u0662\u0660,10", "is not a comma-separated list of sizes"),
])
@pytest.mark.parametrize("program", ["scratchnet", "scratchnet-c"])
def test_numeric_options_follow_the_number_grammar(tmp_path, capsys, program, option, value, fragment):
    argv = ["train", "--data", str(tmp_path), "--params", str(tmp_path / "p.txt"), option, value]
    if program == "scratchnet":
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        code, err = info.value.code, capsys.readouterr().err
    else:
        if not SCRATCHNET_C.exists():
            pytest.skip("scratchnet-c is not built (make -C csrc)")
        done = subprocess.run([str(SCRATCHNET_C), *argv], capture_output=True, text=True, check=False)
        code, err = done.returncode, done.stderr
    assert code != 0 and err.count("\n") == 1 and fragment in err and option in err


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_a_4_gib_sparse_file_is_refused_before_it_is_read(tmp_path, suffix):
    path = tmp_path / f"big{suffix}"
    with open(path, "wb") as f:
        f.truncate(4 << 30)  # sparse: no disk
    done, peak_mb = run_measured("inspect", "-p", path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert (f"big{suffix}: 4,294,967,296 bytes, more than a parameter file that declares no sizes in its first "
            "1,048,576 bytes may take (1,048,576: 1 MiB and 64 bytes a parameter)") in done.stderr
    assert peak_mb < 300


def test_a_file_far_larger_than_its_network_needs_is_refused_one_within_reach_is_read(tmp_path):
    bound = textformat.max_file_bytes((5, 3, 2))
    assert bound == (1 << 20) + 64 * network.count_parameters((5, 3, 2))
    path = tmp_path / "commented.txt"
    comment = b"# " + b"x" * (bound - len(GOOD) - 3) + b"\n"  # the file at its bound, exactly
    path.write_bytes(GOOD.encode() + comment)
    assert same(textformat.read(path).network, make_net())
    path.write_bytes(GOOD.encode() + b"#" + comment)  # one byte more
    with pytest.raises(ScratchnetError, match=rf"{bound + 1:,} bytes, more than a parameter file of a 5-3-2"):
        textformat.read(path)
    path.write_bytes(comment + GOOD.encode())  # the sizes come too late: only 1 MiB may come before them
    with pytest.raises(ScratchnetError, match=rf"commented.txt: {bound:,} bytes, more than a parameter file that "
                                              rf"declares no sizes in its first 1,048,576 bytes may take"):
        textformat.read(path)
    big_json = tmp_path / "big.json"
    big_json.write_bytes(textformat.to_json(make_net()).encode().replace(b'"summary"', b' ' * bound + b'"summary"'))
    with pytest.raises(ScratchnetError, match="5-3-2 network may take"):
        textformat.read(big_json)


def test_a_huge_comment_is_left_out_as_it_streams_in(tmp_path, monkeypatch):
    """Comments never reach the parser, in chunks of any size, across chunk boundaries too; line numbers hold."""
    pieces = textformat._without_comment_text(iter([b"ab#cd", b"ef\ngh #", b"x" * 1000, b"y\nz\r", b"\n#", b"q"]))
    assert b"".join(pieces) == b"ab#\ngh #\nz\r\n#"
    monkeypatch.setattr(textformat, "READ_CHUNK", 7)
    path = tmp_path / "p.txt"
    lines = GOOD.splitlines()
    path.write_text("\n".join(lines[:3] + ["# a comment # of several # marks", lines[3] + "  # end of line"]
                              + lines[4:]) + "\n")
    assert same(textformat.read(path).network, make_net())
    path.write_text("\n".join(lines[:3] + ["# x" * 300, "hidden nope"] + lines[4:]) + "\n")
    with pytest.raises(ScratchnetError, match=r"p.txt:5:\d*:? ?hidden 'nope' is not one of"):
        textformat.read(path)
