"""Two machines sharing one home, simulated: mount namespaces, FUSE, different Pythons.

Each ``Machine`` is a mount namespace (``unshare -m``) kept alive by a ``sleep``; commands
run in it through ``nsenter``. Both see one shared folder (uvlaunch's home, the user's
home, the scripts) through their own bindfs FUSE mount at the same path: same inode
numbers, a different ``st_dev`` on each, as NFS clients see one export. Each has its
own Python (3.11 on one, 3.12 on the other) at a path the other lacks, and its own uv
cache on the local disk, another filesystem than the home, as on an HPC cluster. FUSE
mounts without lock forwarding keep flock local to each mount, as NFS with ``nolock``.

Linux, root, ``unshare``, ``nsenter`` and ``bindfs`` (Debian's package; .ci/run installs
it) are needed: ``skip_reason`` says which is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import Sandbox, interpreter_dir


def skip_reason(*versions: str) -> str | None:
    """Why the simulation cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "the two-machine simulation needs Linux mount namespaces"
    if os.geteuid() != 0:
        return "the two-machine simulation needs root (unshare -m, mount)"
    for tool in ("unshare", "nsenter", "bindfs", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"the two-machine simulation needs {tool} (apt-get install bindfs util-linux)"
    if not os.path.exists("/dev/fuse"):
        return "the two-machine simulation needs /dev/fuse"
    for version in versions:
        if interpreter_dir(version) is None:
            return f"the two-machine simulation needs a Python {version}"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"unshare -m fails here: {probe.stderr.decode(errors='replace').strip()}"
    return None


class Machine:
    """One simulated machine: a mount namespace seeing the shared folder and its Python."""

    def __init__(
        self,
        sandbox: Sandbox,
        label: str,
        version: str,
        *,
        real: Path,
        python_at: str | None = None,
        hostname: str | None = None,
        binds: tuple[tuple[Path, Path], ...] | None = None,
        cache: float | None = None,
    ) -> None:
        """``python_at``: the folder its Python appears in (machines with the same one
        share a variant); ``hostname``: its own (UTS namespace), else ``label``;
        ``binds``: plain bind mounts (a container's view of its host's folders) in
        place of the FUSE mount of ``real`` at ``ROOT/shared``; ``cache``: seconds its
        FUSE mount trusts a name and the attributes it looked up (FUSE's
        ``entry_timeout`` and ``attr_timeout``, 1 by default), as an NFS client trusts
        them for up to ``acregmax`` seconds."""
        self.label = label
        self.sandbox = sandbox
        base = interpreter_dir(version)
        assert base is not None
        prefix = os.path.dirname(base)
        pythons = sandbox.root / "pythons"
        pythons.mkdir(exist_ok=True)
        where = python_at or label
        self.python = str(pythons / where / "bin" / f"python{version}")
        shared = sandbox.root / "shared"
        shared.mkdir(exist_ok=True)
        self.cache = sandbox.root / f"cache-{label}"
        if binds is None:
            options = "" if cache is None else f"-o entry_timeout={cache},attr_timeout={cache} "
            mounts = [f"bindfs --no-allow-other {options}{real} {shared}"]
        else:
            mounts = [f"mkdir -p {dst} && mount --bind {src} {dst}" for src, dst in binds]
        setup = " && ".join(
            [
                f"hostname {hostname or label}",
                f"mount -t tmpfs tmpfs {pythons}",
                f"mkdir {pythons / where}",
                f"mount --bind {prefix} {pythons / where}",
                *mounts,
                "echo ready",
                "exec sleep 100000",
            ]
        )
        self.holder = subprocess.Popen(
            ["unshare", "-m", "-u", "--propagation", "private", "sh", "-c", setup],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()  # blocks until ready or the shell exits
        if line.strip() != "ready":
            self.holder.kill()
            raise RuntimeError(f"machine {label}: {self.holder.stderr.read()}")  # type: ignore[union-attr]
        self.env = dict(
            sandbox.env,
            UV_PYTHON=self.python,
            UV_CACHE_DIR=str(self.cache),
        )

    def run(
        self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on this machine, in the sandbox's scripts directory."""
        return subprocess.run(
            ["nsenter", "-t", str(self.holder.pid), "-m", "-u", "--", *argv],
            cwd="/",
            env=dict(self.env, **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stat(self, path: Path) -> tuple[int, int]:
        """(st_dev, st_ino) of ``path`` as this machine sees it."""
        out = self.run(["stat", "-c", "%d %i", str(path)]).stdout.split()
        return int(out[0]), int(out[1])

    def start(self, argv: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``argv`` on this machine without waiting (a burst)."""
        return subprocess.Popen(
            ["nsenter", "-t", str(self.holder.pid), "-m", "-u", "--", *argv],
            cwd="/",
            env=dict(self.env, **(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def close(self) -> None:
        self.run(["umount", str(self.sandbox.root / "shared")])
        self.holder.kill()
        self.holder.wait(timeout=30)


def share(sandbox: Sandbox) -> Path:
    """Move the sandbox's home, user home and scripts into the shared folder
    (``ROOT/shared`` as the machines see it); the real folder behind it."""
    real = sandbox.root / "real"
    real.mkdir()
    shared = sandbox.root / "shared"
    sandbox.home = shared / "uvlaunch-home"
    sandbox.scripts = shared / "scripts"
    sandbox.env["UVLAUNCH_HOME"] = str(sandbox.home)
    sandbox.env["HOME"] = str(shared / "user-home")
    return real


def cluster(
    sandbox: Sandbox,
    count: int,
    version: str,
    *,
    hostname: str | None = None,
    cache: float | None = None,
) -> list[Machine]:
    """``count`` machines with one Python at one path (one variant), each seeing the
    shared folder through its own FUSE mount; ``hostname``: the one they all report;
    ``cache``: how long their mounts trust a name they looked up (``Machine``)."""
    real = share(sandbox)
    made: list[Machine] = []
    try:
        for i in range(count):
            label = f"n{i}"
            made.append(
                Machine(
                    sandbox,
                    label,
                    version,
                    real=real,
                    python_at="py",
                    hostname=hostname,
                    cache=cache,
                )
            )
    except BaseException:
        for machine in made:
            machine.close()
        raise
    (real / "scripts").mkdir()
    (real / "user-home").mkdir()
    deadline = time.monotonic() + 30
    while made[0].run(["test", "-d", str(sandbox.scripts)]).returncode != 0:
        assert time.monotonic() < deadline, "the shared folder never appeared"
    return made


def two_machines(sandbox: Sandbox) -> tuple[Machine, Machine]:
    """Machines "a" (Python 3.11) and "b" (Python 3.12) sharing the sandbox's home.

    The home, the user's home and the scripts move into the shared folder
    (``ROOT/shared``, as both machines see it); the sandbox's paths point there.
    """
    real = share(sandbox)
    a = Machine(sandbox, "a", "3.11", real=real)
    try:
        b = Machine(sandbox, "b", "3.12", real=real)
    except BaseException:
        a.close()
        raise
    (real / "scripts").mkdir()
    (real / "user-home").mkdir()
    deadline = time.monotonic() + 30
    while a.run(["test", "-d", str(sandbox.scripts)]).returncode != 0:
        assert time.monotonic() < deadline, "the shared folder never appeared on machine a"
    return a, b
