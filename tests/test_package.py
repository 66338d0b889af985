"""The package as pip builds it: a wheel carries the C engine and MNIST and runs from them alone; without
a C compiler it still builds, and `--engine c` says why it is missing.

Each test copies the sources a build needs to a temporary folder and runs `pip wheel` there, offline
(--no-build-isolation: the setuptools of the test requirements builds it).
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_wheel(tmp_path: Path, **env: str) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, source)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("_lib", "__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "data" / "mnist", source / "data" / "mnist")
    (source / "csrc").mkdir()
    for path in [*REPO.glob("csrc/*.[ch]"), REPO / "csrc" / "Makefile"]:
        shutil.copy(path, source / "csrc")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-w",
                             str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600,
                            env={**os.environ, **env}, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    return wheel


def unpack(wheel: Path, folder: Path) -> Path:
    """Unzip as pip installs: with the files' modes (zipfile alone drops the executable bits)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            archive.extract(info, folder)
            if info.external_attr >> 16:
                os.chmod(folder / info.filename, (info.external_attr >> 16) & 0o777)
    return folder


def run(site: Path, *argv: str, cwd: Path, command: str = "scratchnet.cli:main") -> subprocess.CompletedProcess:
    """The console script ``command`` (module:function) with ``argv``, with only the unpacked wheel on the
    path, away from the repository."""
    module, function = command.split(":")
    code = f"import sys; from {module} import {function}; sys.exit({function}())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRATCHNET_")} | {"PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_wheel_carries_the_c_engine_and_mnist(tmp_path):
    wheel = build_wheel(tmp_path)
    assert "-py3-none-linux_" in wheel.name  # any Python 3, this platform
    with zipfile.ZipFile(wheel) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    for name in ("libscratchnet64.so", "libscratchnet32.so", "scratchnet-c"):
        assert modes[f"scratchnet/_lib/{name}"] & 0o111, name
    assert "scratchnet/_lib/NOT-BUILT.txt" not in modes
    assert {n for n in modes if n.startswith("scratchnet/_data/mnist/")} == {
        f"scratchnet/_data/mnist/{name}.gz" for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    site, work = unpack(wheel, tmp_path / "site"), tmp_path / "work"
    work.mkdir()
    info = run(site, "info", cwd=work)
    assert info.returncode == 0, info.stderr
    assert f"engine c: {site}/scratchnet/_lib/libscratchnet64.so" in info.stdout
    assert f"data: {site}/scratchnet/_data/mnist" in info.stdout
    trained = run(site, "train", "--engine", "c", "--epochs", "1", "--batch-size", "100", "--lr", "1", "--json",
                  cwd=work)
    assert trained.returncode == 0, trained.stderr
    assert '"test_accuracy": 0.' in trained.stdout and (work / "network_params.npz").exists()
    # the installed scratchnet-c command: the wheel's program, on the data the package carries
    program = run(site, "train", "--epochs", "1", "--params", "net.txt", cwd=work, command="scratchnet.cli:c_program")
    assert program.returncode == 0, program.stderr
    assert f"data {site}/scratchnet/_data/mnist" in program.stdout and "epoch   1" in program.stdout


def test_without_a_compiler_the_wheel_builds_and_says_why_c_is_missing(tmp_path):
    wheel = build_wheel(tmp_path, CC=str(tmp_path / "no-such-cc"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        why = archive.read("scratchnet/_lib/NOT-BUILT.txt").decode()
    assert "no-such-cc" in why and not any(n.endswith(".so") for n in names)
    site, work = unpack(wheel, tmp_path / "site"), tmp_path / "work"
    work.mkdir()
    refused = run(site, "train", "--engine", "c", "--epochs", "1", cwd=work)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "the C engine was not built when scratchnet was installed" in refused.stderr
    assert "no-such-cc" in refused.stderr and "--engine numpy works without" in refused.stderr
    assert not (work / "network_params.npz").exists()
    info = run(site, "info", cwd=work)
    assert info.returncode == 0 and "engine c: not available: " in info.stdout
    program = run(site, "train", cwd=work, command="scratchnet.cli:c_program")
    assert program.returncode == 1 and program.stderr.count("\n") == 1
    assert program.stderr.startswith("scratchnet-c: error: the C engine was not built") and "no-such-cc" in program.stderr
