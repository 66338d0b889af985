"""The README's commands work when run in order from a fresh clone.

Every ```sh block of README.md runs, in order, in a clone of this repository, with the pictures its
"Your own digits" block names made first. What cannot run inside a test is left out and said why:
the set-up (making a virtual environment and installing into it: this test runs in one already)
and the test command itself. Blocks meant to be read, not run (serve, which waits for Ctrl-C), are
fenced without ``sh``.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
SET_UP = ("python3 -m venv", ". ", "pip install")  # this test already runs in an installed environment


def commands(text: str) -> list[str]:
    """The README's shell commands in order, comments dropped, the set-up and the test run left out."""
    found = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip() if not line.startswith("#") else ""
            parts = [part.strip() for part in line.split("&&") if part.strip()]
            parts = [p for p in parts if not p.startswith(SET_UP) and "pytest" not in p and "make -C csrc test" not in p]
            found += parts
    return found


def test_the_readme_has_commands_to_run():
    found = commands(README.read_text())
    assert "scratchnet train" in found and any(c.startswith("scratchnet step") for c in found)
    assert not any("pytest" in c for c in found)


def _pictures(folder: Path) -> None:
    """my7.png and photos/ as the README's "Your own digits" names them: a 7 drawn in dark ink."""
    seven = Image.new("RGB", (300, 220), "white")
    ImageDraw.Draw(seven).line([(50, 30), (160, 30), (100, 190)], fill="black", width=15)
    seven.save(folder / "my7.png")
    (folder / "photos").mkdir()
    seven.save(folder / "photos" / "7_photo.jpg")


@pytest.mark.slow
def test_the_readme_commands_run_in_order_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "scratchnet"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
    _pictures(clone)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "src")}
    env.pop("SCRATCHNET_DATA", None)
    for command in commands(README.read_text()):
        argv = shlex.split(command)
        if argv[0] == "scratchnet" and shutil.which("scratchnet", path=env["PATH"]) is None:
            argv = [sys.executable, "-m", "scratchnet.cli", *argv[1:]]
        result = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert result.returncode == 0, f"README command failed: {command}\n{result.stdout[-2000:]}\n{result.stderr}"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone, capture_output=True,
                            text=True, check=True)
    assert status.stdout == "", f"the README's commands changed tracked files:\n{status.stdout}"
