"""Fault injection with strace: fail or kill the Kth state-changing system call of a command.

``strace -f -e inject=SYSCALLS:error=EIO:when=K`` makes the Kth call of each of those
system calls fail, in every process the command starts (uvlaunch, its uv and uv's
threads, the background compiler: strace counts each syscall of each tracee apart, so
one run may fail the Kth call of several of them). ``signal=SIGKILL`` kills the process
making the call instead. A ``Point`` is one such run: a scene (a command, from a state
prepared once and restored before every run), a class of system calls, a fault and K.

``World`` is one scene's sandbox: its home, uv cache and bin directory are copied aside
once prepared and copied back before each point, at the same paths (environments hold
absolute paths) and without touching the scripts (the home knows them by inode).

Linux with strace and ptrace allowed: ``skip_reason`` says what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# The state-changing system calls, by class: what fails together at one point.
CLASSES = {
    "rename": "rename,renameat,renameat2",
    "link": "symlink,symlinkat,link,linkat",
    "mkdir": "mkdir,mkdirat",
    "unlink": "unlink,unlinkat,rmdir",
    "fsync": "fsync",
    "ftruncate": "ftruncate",
}
ALL_CALLS = ",".join(CLASSES.values())
# How each fault is given to strace; a full disk is tried where it is what a disk says.
FAULTS = {"EIO": "error=EIO", "ENOSPC": "error=ENOSPC", "kill": "signal=SIGKILL"}
ENOSPC_CLASSES = ("mkdir", "link", "fsync")

# UVLAUNCH_FAULTS=all: every point; else the fixed spread test_faults.py lists.
EVERY = os.environ.get("UVLAUNCH_FAULTS", "") == "all"

TRACEBACK = "Traceback (most recent call last)"


def skip_reason() -> str | None:
    """Why faults cannot be injected here (no strace, ptrace forbidden), or None."""
    strace = shutil.which("strace")
    if strace is None:
        return "strace is not installed (apt-get install strace)"
    probe = subprocess.run(
        [strace, "-f", "-qq", "-o", "/dev/null", "-e", "inject=mkdir:error=EIO:when=1", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"strace cannot trace here (ptrace forbidden?): {probe.stderr.strip()}"
    return None


@dataclass(frozen=True)
class Point:
    """Fail (or kill) the Kth call of a class of system calls, in every process of the
    command (``strace -f``), or in uvlaunch's own alone (``alone``: uv and the background
    compiler run untouched, so that uv's calls, counted apart, cannot fail first).

    ``at``: a path in the home (``envs/NAME/spare``): only the calls on that path are
    counted and failed (``strace -P``), in whichever process makes them; so that a call
    of the background compiler's is reached whatever uvlaunch's and uv's counts are."""

    scene: str
    fault: str  # a key of FAULTS
    cls: str  # a key of CLASSES
    k: int
    alone: bool = False
    at: str = ""

    def __str__(self) -> str:
        who = " of uvlaunch alone" if self.alone else ""
        on = f" on {self.at}" if self.at else ""
        return f"{self.scene}: {self.fault} at {self.cls} call {self.k}{on}{who}"

    def strace_args(self, home: Path | None = None) -> list[str]:
        calls = CLASSES[self.cls]
        inject = f"inject={calls}:{FAULTS[self.fault]}:when={self.k}"
        only = ["-P", str(home / self.at)] if self.at and home is not None else []
        return [*([] if self.alone else ["-f"]), *only, "-e", f"trace={calls}", "-e", inject]


def parse_point(scene: str, text: str, name: str | None = None) -> Point:
    """``"EIO rename 5"`` (in every process), ``"EIO rename 5 alone"`` (in uvlaunch's),
    ``"EIO rename 1 at envs/NAME/spare"`` (on that path; NAME: the script's ``name``)."""
    fault, cls, k, *rest = text.split()
    at = ""
    if rest[:1] == ["at"]:
        assert name is not None and len(rest) == 2, text
        at, rest = rest[1].replace("NAME", name), []
    assert fault in FAULTS and cls in CLASSES and rest in ([], ["alone"]), text
    return Point(scene, fault, cls, int(k), alone=bool(rest), at=at)


def every_point(scene: str, counts: Counts) -> list[Point]:
    """Every point of ``scene``: for each fault and class, K from 1 to the most calls one
    process made, so that the last call fails too; and for uvlaunch's own process alone,
    each K at which another process (uv) would have failed first."""
    found = []
    for fault in FAULTS:
        for cls in ENOSPC_CLASSES if fault == "ENOSPC" else tuple(CLASSES):
            found += [Point(scene, fault, cls, k) for k in range(1, counts.most[cls] + 1)]
            hidden = min(counts.own[cls], counts.others[cls])
            found += [Point(scene, fault, cls, k, alone=True) for k in range(1, hidden + 1)]
    return found


_CALL = re.compile(r"^(\d+) +(\w+)\(")


class Counts:
    """For each class, the most calls of one of its system calls: made by one process
    (``most``), by uvlaunch's own, the first (``own``), by any other (``others``).
    strace counts each system call of each process apart: ``when=K`` fails the Kth of each."""

    def __init__(self, trace: str) -> None:
        per: dict[tuple[str, str], int] = {}
        first = None
        for line in trace.splitlines():
            m = _CALL.match(line)
            if m:
                first = first or m.group(1)
                key = (m.group(1), m.group(2))
                per[key] = per.get(key, 0) + 1
        self.most: dict[str, int] = {}
        self.own: dict[str, int] = {}
        self.others: dict[str, int] = {}
        for cls, calls in CLASSES.items():
            names = calls.split(",")
            mine = [n for (pid, call), n in per.items() if call in names and pid == first]
            theirs = [n for (pid, call), n in per.items() if call in names and pid != first]
            self.own[cls] = max(mine, default=0)
            self.others[cls] = max(theirs, default=0)
            self.most[cls] = max(self.own[cls], self.others[cls])


class World:
    """One scene's sandbox: ``root`` holds the scripts, the home, uv's cache, a bin directory."""

    STATE = ("uvlaunch-home", "uv-cache", "bin")

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.scripts = root / "scripts"
        self.home = Path(env["UVLAUNCH_HOME"])
        self.env = env
        self.saved = root.parent / f"{root.name}-saved"

    def run(
        self, argv: list[str], *, extra: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the scripts directory; a run past ``timeout`` is killed, with
        every process it started (its session), and reported as exit status None."""
        env = {**self.env, **(extra or {})}
        proc = subprocess.Popen(
            argv,
            cwd=self.scripts,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return subprocess.CompletedProcess(argv, -999, out, err + f"\n(hung: {timeout} s)")
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def save(self) -> None:
        """Keep the state as it is now, for ``restore`` before each point."""
        self.saved.mkdir()
        present = [str(self.root / d) for d in self.STATE if (self.root / d).exists()]
        if present:  # one cp: the hard links between the home and uv's cache stay links
            subprocess.run(["cp", "-a", *present, str(self.saved)], check=True)

    def restore(self) -> None:
        for d in self.STATE:
            if (self.root / d).exists():
                subprocess.run(["rm", "-rf", str(self.root / d)], check=True)
        saved = [str(p) for p in self.saved.iterdir()]
        if saved:
            subprocess.run(["cp", "-a", *saved, str(self.root)], check=True)

    def count(self, argv: list[str]) -> Counts:
        """Run ``argv`` once under strace, from the saved state: the calls of each class."""
        self.restore()
        out = self.root / "count.strace"
        proc = self.run(["strace", "-f", "-qq", "-o", str(out), "-e", f"trace={ALL_CALLS}", *argv])
        assert proc.returncode == 0, f"{argv} failed untouched:\n{proc.stderr}"
        return Counts(out.read_text())

    def inject(self, point: Point, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` from the saved state with ``point``'s fault injected; return once
        every process it started is gone (strace without -f leaves the background
        compiler running, which would write into the next point's home)."""
        self.restore()
        args = point.strace_args(self.home)
        proc = self.run(["strace", "-qq", "-o", "/dev/null", *args, *argv])
        self.settle()
        return proc

    def settle(self, deadline: float = 120) -> None:
        """Wait until no process works in this world (none has its directory under it)."""
        end = time.monotonic() + deadline
        while _working_in(self.root):
            assert time.monotonic() < end, f"processes still work in {self.root}"
            time.sleep(0.05)


def _working_in(root: Path) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(root):
                    return True
            except OSError:
                pass  # gone meanwhile, or not ours to look at
    return False


def killed(proc: subprocess.CompletedProcess[str]) -> bool:
    """Whether the process strace started was itself killed (nothing could say a line)."""
    return proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)


def last_line_problem(proc: subprocess.CompletedProcess[str], outcome_label: str) -> str | None:
    """What is wrong with how a failed command ended, or None: its stderr must end with
    one line of uvlaunch's own, an error (status 2) or a failed outcome (status 1)."""
    if proc.returncode == 0 or killed(proc):
        return None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if proc.returncode == 2 and last.startswith("uvlaunch: error: "):
        return None
    if proc.returncode == 1 and last.startswith(f"{outcome_label}: failed"):
        return None
    return f"exit {proc.returncode}, and stderr does not end in one uvlaunch line: {last!r}"


def traceback_summary(stderr: str) -> str:
    """The exception and the frame it came from, of the last traceback in ``stderr``."""
    lines = stderr[stderr.rindex(TRACEBACK) :].splitlines()
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    error = next((line for line in reversed(lines) if line and not line[0].isspace()), "")
    return f"{error} ({frames[-1] if frames else 'no frame'})"
