"""scratchnet's build: the Python package (pyproject.toml), with the C engine and MNIST inside it.

The command build_c runs before the rest of `build`: it builds the C engine with csrc/Makefile,
the one place its compiler flags live, into the package's _lib folder, and copies the repository's
MNIST (data/mnist) into the package's _data folder, so that an installed scratchnet, a wheel
included, has everything a checkout has. An editable install runs the package from src/, so there
the engine goes to src/scratchnet/_lib (where `make -C csrc` puts it too) and the data stays where
it is. Without a C compiler or make the install still succeeds: build_c says why in a warning
(shown by `pip install -v`) and in _lib/NOT-BUILT.txt, which `--engine c` and `scratchnet info`
repeat. The wheel is tagged for the platform but for any Python 3: the libraries do not use
Python's API, only ctypes loads them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from setuptools import Command, Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build import build

ROOT = Path(__file__).resolve().parent
SOURCE_LIB = ROOT / "src" / "scratchnet" / "_lib"
NOT_BUILT = "NOT-BUILT.txt"  # cengine.NOT_BUILT
MNIST = [ROOT / "data" / "mnist" / f"{name}.gz" for name in (  # data.IDX_NAMES
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]


class build_c(Command):
    description = "build the C engine into the package (csrc/Makefile) and copy MNIST into it"
    user_options: ClassVar[list] = []

    def initialize_options(self) -> None:
        self.build_lib = None
        self.editable_mode = False
        self.outputs: list[str] = []

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def run(self) -> None:
        package = SOURCE_LIB if self.editable_mode else Path(self.build_lib, "scratchnet", "_lib").resolve()
        package.mkdir(parents=True, exist_ok=True)
        (package / NOT_BUILT).unlink(missing_ok=True)
        why = self.make(package)
        if why:
            (package / NOT_BUILT).write_text(why + "\n")
            self.warn(f"the C engine was not built ({why}): scratchnet works without it, but `--engine c` and "
                      f"scratchnet-c will not; install a C compiler, make and zlib's headers, then reinstall")
        self.outputs = [str(p) for p in package.iterdir()]
        if not self.editable_mode:
            data = Path(self.build_lib, "scratchnet", "_data", "mnist")
            data.mkdir(parents=True, exist_ok=True)
            for path in MNIST:
                self.outputs.append(shutil.copyfile(path, data / path.name))

    def make(self, package: Path) -> str:
        """Run the Makefile's `all` with the libraries going to ``package``; '' or why it failed."""
        command = ["make", "-C", str(ROOT / "csrc"), f"PACKAGE={package}", "all"]
        self.announce(" ".join(command), level=2)
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as e:
            return f"cannot run make: {e.strerror}"
        self.announce(result.stdout + result.stderr, level=2)
        if result.returncode == 0:
            return ""
        # the first complaint, not make's summary of it
        lines = [line.strip() for line in result.stderr.splitlines() if not line.startswith(("make: ***", "make["))]
        return next((line for line in lines if line), "make failed")

    def get_outputs(self) -> list[str]:
        return [] if self.editable_mode else self.outputs  # editable: they stay in the source tree

    def get_output_mapping(self) -> dict[str, str]:
        return {}

    def get_source_files(self) -> list[str]:
        return []


class build_all(build):
    sub_commands: ClassVar[list] = [("build_c", None), *build.sub_commands]


class with_binaries(Distribution):
    def has_ext_modules(self) -> bool:
        return True  # the C engine: the package goes to platlib and the wheel is a platform wheel


class platform_wheel(bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=with_binaries, cmdclass={"build": build_all, "build_c": build_c, "bdist_wheel": platform_wheel})
