"""Build step for the ``uvlaunch`` command; all metadata is in pyproject.toml.

On Linux and macOS the command is the native launcher (src/uvlaunch/native/launcher.c),
compiled here with the system's C compiler (``CC``, else ``cc``) and warnings as errors.
When that fails (no compiler), or with ``UVLAUNCH_NATIVE=0``, the command is a small
Python script instead, and the install goes on. The Python implementation is always
there as ``uvlaunch-py``: the native launcher hands every case it does not take to it.
On Windows both are ordinary console scripts.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig

from setuptools import setup

# isort: split
# setuptools has no build_scripts of its own: its vendored distutils' (after `setuptools`).
from distutils.command.build_scripts import build_scripts

SOURCE = os.path.join("src", "uvlaunch", "native", "launcher.c")
FALLBACK = os.path.join("src", "uvlaunch", "native", "uvlaunch")
NATIVE = sys.platform.startswith("linux") or sys.platform == "darwin"
CFLAGS = ["-Wall", "-Wextra", "-Werror", "-O2"]
built_native = False


def compile_launcher(out: str) -> bool:
    """Compile the native launcher to ``out``; False (with a note on stderr) if it fails."""
    cc = shlex.split(os.environ.get("CC") or "cc")
    tmp = out + ".tmp"
    try:
        proc = subprocess.run(
            [*cc, *CFLAGS, "-o", tmp, SOURCE], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as e:
        proc = None
        why = str(e)
    if proc is not None and proc.returncode == 0:
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
        return True
    if proc is not None:
        why = proc.stderr.strip() or f"exit status {proc.returncode}"
    sys.stderr.write(f"uvlaunch: not building the native launcher ({why}); using the Python one\n")
    return False


class BuildLauncher(build_scripts):
    def run(self) -> None:
        global built_native
        self.force = True  # never keep a launcher from an earlier build
        super().run()  # the Python launcher, its `#!python` line rewritten
        if NATIVE and os.environ.get("UVLAUNCH_NATIVE", "1") != "0":
            built_native = compile_launcher(os.path.join(self.build_dir, "uvlaunch"))


cmdclass: dict[str, type] = {"build_scripts": BuildLauncher}
try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]
    except ImportError:
        bdist_wheel = None  # type: ignore[assignment,misc]

if bdist_wheel is not None:

    class PlatformWheel(bdist_wheel):  # type: ignore[misc,valid-type]
        """A wheel holding the native launcher is for this platform only."""

        def get_tag(self) -> tuple[str, str, str]:
            impl, abi, plat = super().get_tag()
            if built_native:
                plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
            return impl, abi, plat

    cmdclass["bdist_wheel"] = PlatformWheel

if NATIVE:
    setup(
        cmdclass=cmdclass,
        scripts=[FALLBACK],
        entry_points={"console_scripts": ["uvlaunch-py = uvlaunch.main:main"]},
    )
else:
    setup(
        entry_points={
            "console_scripts": ["uvlaunch = uvlaunch.main:main", "uvlaunch-py = uvlaunch.main:main"]
        },
    )
