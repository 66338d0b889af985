"""Write docs/API.md from the docstrings of scratchnet's public API.

    python docs/make_api.py            # rewrite docs/API.md
    python docs/make_api.py --check    # exit 1 if docs/API.md is out of date (a test runs this)
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
import scratchnet
from scratchnet import compare, datasets, engines, ladder, learn, preprocess, run

OUTPUT = REPO / "docs" / "API.md"

INTRO = """\
# The Python API

Everything the command line does, from Python. `import scratchnet` gives:

```python
import scratchnet

model = scratchnet.load("network_params.npz")          # a network trained by `scratchnet train`
answer = model.predict_digit("my7.png")                # any picture: PNG, JPEG, ..., any size
print(answer.digit, answer.confidence, answer.top3)

data = scratchnet.datasets.mnist()                     # MNIST as uint8 arrays
print(model.score(data.test_images, data.test_labels)) # accuracy, as scikit-learn's score
model.predict(data.test_images[:5])                    # classes of MNIST-style images

model = scratchnet.fit(preset="tuned", epochs=10)      # train a new one (as `scratchnet train`)
model.save("mine.npz")
```

[examples/quickstart.py](../examples/quickstart.py) runs all of it. Bad input raises
`scratchnet.ScratchnetError` with a one-line message naming the file or value. Pictures go through
`scratchnet.preprocess.to_mnist`, specified in [PREPROCESS.md](PREPROCESS.md); the files are
described in [FORMAT.md](FORMAT.md).

This page is generated from the docstrings by `docs/make_api.py`.
"""


class Bare(str):
    """An annotation shown as written, without the quotes repr() would add."""

    def __repr__(self) -> str:
        return str(self)


def signature(name: str, obj) -> str:
    sig = inspect.signature(obj)
    bare = sig.replace(
        parameters=[p.replace(annotation=Bare(p.annotation)) if isinstance(p.annotation, str) else p
                    for p in sig.parameters.values()],
        return_annotation=Bare(sig.return_annotation) if isinstance(sig.return_annotation, str) else
        sig.return_annotation)
    return f"```python\n{name}{bare}\n```".replace("'", '"')


def entry(title: str, obj, doc_of=None) -> list[str]:
    return [f"### `{title}`", "", signature(title, obj), "", inspect.getdoc(doc_of or obj) or "", ""]


def fields(cls) -> list[str]:
    """A dataclass's fields with the comment after each in its source, as a table."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        name, _, rest = line.strip().partition(":")
        if "#" in rest and name.isidentifier():
            comments[name] = rest.split("#", 1)[1].strip()
    rows = [f"| `{f.name}` | `{f.type}` | {comments.get(f.name, '')} |" for f in dataclasses.fields(cls)]
    return ["| field | type | |", "|---|---|---|", *rows, ""]


def methods(cls, names: list[str]) -> list[str]:
    lines = []
    for name in names:
        member = inspect.getattr_static(cls, name)
        if isinstance(member, property):
            lines += [f"#### `{cls.__name__}.{name}` (property)", "", inspect.getdoc(member) or "", ""]
        else:
            lines += [f"#### `{cls.__name__}.{name}`", "", signature(name, getattr(cls, name)).replace("(self, ", "(").
                      replace("(self)", "()"), "", inspect.getdoc(member) or "", ""]
    return lines


def render() -> str:
    lines = [INTRO, "## Networks", ""]
    lines += entry("scratchnet.load", scratchnet.load)
    lines += entry("scratchnet.fit", scratchnet.fit)
    lines += ["### `scratchnet.Model`", "", inspect.getdoc(scratchnet.Model), ""]
    lines += methods(scratchnet.Model, ["predict_digit", "predict", "predict_proba", "score", "evaluate", "step",
                                        "explain", "dream", "save", "network"])
    lines += ["### `scratchnet.Prediction`", "", inspect.getdoc(scratchnet.Prediction), "",
              *fields(scratchnet.Prediction), *methods(scratchnet.Prediction, ["top3", "to_dict"])]
    lines += ["### `EpochResult` (what `fit`'s `on_epoch` receives)", "", *fields(run.EpochResult)]
    lines += ["### `Evaluation` (what `Model.evaluate` returns)", "", *fields(engines.Evaluation)]
    lines += ["## Watch it learn: `scratchnet.learn`", "", inspect.getdoc(learn), ""]
    for cls, title, extra in ((learn.Step, "what `Model.step` returns", ["weight_changes", "bias_changes"]),
                              (learn.Explanation, "what `Model.explain` returns", ["hidden_contributions", "ranking"]),
                              (learn.Dream, "what `Model.dream` returns", ["image", "prediction"])):
        lines += [f"### `learn.{cls.__name__}` ({title})", "", inspect.getdoc(cls), "", *fields(cls),
                  *methods(cls, extra + ["to_dict"])]
    lines += entry("scratchnet.learn.stepped", learn.stepped)
    lines += ["## Data: `scratchnet.datasets`", "", inspect.getdoc(datasets), ""]
    lines += entry("scratchnet.datasets.mnist", datasets.mnist)
    lines += entry("scratchnet.datasets.load", datasets.load)
    lines += ["### `scratchnet.datasets.Dataset`", "", *fields(datasets.Dataset)]
    lines += ["## Pictures: `scratchnet.preprocess`", "", inspect.getdoc(preprocess), ""]
    for name in ("to_mnist", "decode", "find_images", "label_from_name"):
        lines += entry(f"scratchnet.preprocess.{name}", getattr(preprocess, name))
    lines += ["## The post's experiments: `scratchnet.ladder` and `scratchnet.compare`", "",
              "What `scratchnet ladder` and `scratchnet compare` run, from Python.", "",
              "### `scratchnet.ladder`", "", inspect.getdoc(ladder), "",
              "`ladder.RUNGS` is the table of rungs, one `Rung(name, change, overrides)` each:", "",
              "| rung | name | what changes | settings changed |", "|---|---|---|---|",
              *(f"| {n} | `{r.name}` | {r.change} | `{r.overrides}` |" for n, r in enumerate(ladder.RUNGS, 1)), ""]
    lines += entry("scratchnet.ladder.climb", ladder.climb)
    lines += ["### `scratchnet.ladder.RungResult` (what `climb` yields)", "", *fields(ladder.RungResult),
              *methods(ladder.RungResult, ["test_accuracy", "loss", "seconds"])]
    lines += ["### `scratchnet.compare`", "", inspect.getdoc(compare), ""]
    lines += entry("scratchnet.compare.run", compare.run)
    lines += ["### `scratchnet.compare.Comparison` (what `run` returns)", "", *fields(compare.Comparison),
              *methods(compare.Comparison, ["speedup", "to_dict"])]
    lines += ["### `scratchnet.compare.Row`", "", *fields(compare.Row)]
    for name in ("table", "flops_per_sample", "sgemm_rate", "time_script"):
        lines += entry(f"scratchnet.compare.{name}", getattr(compare, name))
    lines += ["## Errors", "", "### `scratchnet.ScratchnetError`", "", inspect.getdoc(scratchnet.ScratchnetError), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
