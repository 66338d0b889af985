"""The layers of docs/ARCHITECTURE.md hold: the engines need nothing of their drivers, no import cycle,
no issue numbers in the sources."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "scratchnet"
CSRC = PACKAGE.parents[1] / "csrc"
# the network and its engines, and what they stand on
CORE = {"network", "optim", "augment", "numpy_engine", "cengine", "engines", "stop", "threads", "learn"}
# what drives them: a run, the command line, the page, the API, the experiments, the pictures
DRIVERS = {"run", "cli", "serve", "model", "explorer", "ladder", "compare", "plot", "svg"}


def imports() -> dict[str, set[str]]:
    """Each module of the package and the package's modules it imports (anywhere in it)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "scratchnet":
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names if a.name in modules}
                if len(parts) == 1 and any(a.name not in modules for a in node.names):
                    found.add("__init__")  # a name of the package itself
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("scratchnet.")}
        graph[path.stem] = found & (modules | {"__init__"}) - {path.stem}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_layers_are_what_the_architecture_says():
    graph = imports()
    assert CORE | DRIVERS <= set(graph), "a module of the layers is gone: update this test and ARCHITECTURE.md"


def test_the_engines_need_nothing_of_their_drivers():
    graph = imports()
    for module in sorted(CORE):
        assert not reachable(graph, module) & (DRIVERS | {"__init__"}), \
            f"{module} imports, directly or not, {sorted(reachable(graph, module) & (DRIVERS | {'__init__'}))}"


def test_no_import_cycle():
    graph = imports()
    for module in sorted(graph):
        assert module not in reachable(graph, module), f"{module} imports itself through others"


def test_no_issue_numbers_in_the_sources():
    sources = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.js"), *CSRC.rglob("*.c"), *CSRC.rglob("*.h")]
    found = [f"{path.name}: {line.strip()}" for path in sources for line in path.read_text().splitlines()
             if re.search(r"\bissues? #?\d+", line, re.IGNORECASE)]
    assert not found, found
