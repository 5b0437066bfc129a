"""The build step (setup.py): the native launcher where cc works, else the Python one."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, UVLAUNCH, is_native

REPO = Path(__file__).resolve().parent.parent


def test_the_native_launcher_is_installed_where_cc_exists() -> None:
    if sys.platform not in ("linux", "darwin") or shutil.which("cc") is None:
        pytest.skip("no native launcher here")
    assert is_native(UVLAUNCH)
    assert os.path.exists(BIN / "uvlaunch-py")


@pytest.mark.parametrize("compiler", ["cc", "none"])
def test_build_scripts_falls_back_to_the_python_launcher(tmp_path: Path, compiler: str) -> None:
    if compiler == "cc" and shutil.which("cc") is None:
        pytest.skip("no C compiler")
    env = {**os.environ, "CC": "cc" if compiler == "cc" else str(tmp_path / "no-such-cc")}
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_scripts", "--build-dir", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip(f"setuptools cannot run setup.py here: {proc.stderr[-200:]}")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out" / "uvlaunch"
    assert os.access(out, os.X_OK)
    if compiler == "cc":
        assert is_native(str(out))
    else:
        assert "using the Python one" in proc.stderr
        assert out.read_text().startswith("#!") and "uvlaunch.main" in out.read_text()


# Every platform launcher.c has code for, as zig names it: (format, machine) of the result.
CROSS_TARGETS = {
    "x86_64-linux-gnu": ("elf", 62),
    "aarch64-linux-gnu": ("elf", 183),
    "x86_64-macos": ("mach-o", 0x01000007),
    "aarch64-macos": ("mach-o", 0x0100000C),
    "x86_64-freebsd": ("elf", 62),
}


def binary_kind(path: Path) -> tuple[str, int]:
    """(format, machine) of a little-endian 64-bit executable: ELF e_machine, Mach-O cputype."""
    head = path.read_bytes()[:24]
    if head[:4] == b"\x7fELF":
        return "elf", int.from_bytes(head[18:20], "little")
    if head[:4] == b"\xcf\xfa\xed\xfe":
        return "mach-o", int.from_bytes(head[4:8], "little")
    return "unknown", 0


@pytest.mark.parametrize("target", sorted(CROSS_TARGETS))
def test_the_native_launcher_builds_for_every_platform_it_names(
    tmp_path: Path, target: str
) -> None:
    """launcher.c compiles and links, warnings as errors, for each platform of its #ifdefs.

    Only Linux runs it here: for macOS and FreeBSD, building is what can be checked.
    """
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("ziglang (a cross C compiler, in the dev group) is not installed")
    out = tmp_path / "uvlaunch"
    source = REPO / "src" / "uvlaunch" / "native" / "launcher.c"
    # setup.py's CFLAGS; zig keeps what it builds for each target in its own cache.
    flags = ["-Wall", "-Wextra", "-Werror", "-O2"]
    proc = subprocess.run(
        [sys.executable, "-m", "ziglang", "cc", "-target", target, *flags, "-o", str(out), source],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert binary_kind(out) == CROSS_TARGETS[target]


def test_the_declared_uv_floor_is_the_one_uvlaunch_checks() -> None:
    """pyproject.toml's `uv>=` is uv.MIN_UV: CI installs that release and runs the suite on it."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    from uvlaunch.uv.calls import MIN_UV

    with open(REPO / "pyproject.toml", "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    assert f"uv>={MIN_UV}" in dependencies
