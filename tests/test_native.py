"""The native launcher and the warm record it reads (issue 12).

What the native launcher does on a warm start is tested with both launchers in
test_fastpath.py. Here: damaged, foreign and misleading records are "not warm" for both;
races with gc and remove; the launcher under AddressSanitizer and UBSan; the build's
fallback to the Python launcher; ``--version``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    UVLAUNCH,
    UVLAUNCH_PY,
    Sandbox,
    block_handover,
    in_background,
    is_native,
    must_be_warm,
    report,
)

from uvlaunch.home import paths

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "src" / "uvlaunch" / "native" / "launcher.c"

pytestmark = pytest.mark.usefixtures("launcher")


def record_of(sandbox: Sandbox, script: Path) -> Path:
    st = script.stat()
    return Path(paths.warm_path(str(sandbox.home), st.st_dev, st.st_ino))


def fields(record: Path) -> list[bytes]:
    raw = record.read_bytes()
    assert raw.endswith(b"\0")
    return raw[:-1].split(b"\0")


def handed_over(sandbox: Sandbox, script: Path) -> bool:
    """Whether the native launcher handed this start to Python (False: it started it)."""
    if not is_native(sandbox.command):
        return True
    with block_handover(sandbox):
        proc = sandbox.run(str(script))
    assert proc.returncode in (0, 99), proc.stderr
    return proc.returncode == 99


def test_the_record_holds_what_the_docs_say(sandbox: Sandbox) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    (env,) = sandbox.envs()  # the current generation, envs/NAME/gN
    st = script.stat()
    f = fields(record_of(sandbox, script))
    assert f[0] == b"uvlaunch-warm-4" and f[-1] == b"end" and len(f) == 12
    assert f[1] == env.parent.name.encode()
    sig = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    assert f[2] == sig.encode()
    assert f[3] == b"-"
    assert f[6] == os.fsencode(env) and f[7] == b"current"
    assert f[8] == os.fsencode(env / "bin" / "python")
    py = (env / "bin" / "python").stat()
    assert f[9] == f"{py.st_dev}:{py.st_ino}:{py.st_size}:{py.st_mtime_ns}".encode()
    assert f[10:-1] == [os.fsencode(os.path.realpath(script))]  # its one name
    assert oct(record_of(sandbox, script).stat().st_mode & 0o777) == "0o600"


def damage(record: Path, how: str, sandbox: Sandbox) -> None:
    raw = record.read_bytes()
    if how == "missing":
        record.unlink()
    elif how == "truncated":
        record.write_bytes(raw[: len(raw) // 2])
    elif how == "no-final-nul":
        record.write_bytes(raw[:-1])
    elif how == "garbage":
        record.write_bytes(os.urandom(300))
    elif how == "empty":
        record.write_bytes(b"")
    elif how == "huge":
        record.write_bytes(raw[:-4] + b"x" * 40000 + b"end\0")
    elif how == "extra-field":
        record.write_bytes(raw + b"more\0")
    elif how == "other-magic":
        record.write_bytes(raw.replace(b"uvlaunch-warm-4", b"uvlaunch-warm-1", 1))
    elif how == "bad-name":
        name = fields(record)[1]
        record.write_bytes(raw.replace(b"\0" + name + b"\0", b"\0../" + name + b"\0", 1))
    elif how == "symlink":
        target = sandbox.root / "record-elsewhere"
        target.write_bytes(raw)
        record.unlink()
        record.symlink_to(target)
    elif how == "fifo":
        record.unlink()
        os.mkfifo(record)
    elif how == "other-user":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a file to another user")
        os.chown(record, 12345, 12345)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "missing",
        "truncated",
        "no-final-nul",
        "garbage",
        "empty",
        "huge",
        "extra-field",
        "other-magic",
        "bad-name",
        "symlink",
        "fifo",
        "other-user",
    ],
)
def test_a_damaged_record_is_not_warm(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    record = record_of(sandbox, script)
    damage(record, how, sandbox)
    assert handed_over(sandbox, script)
    seen = report(sandbox.run(str(script)))  # the Python side repairs it
    assert seen["alpha"] == "2.0"
    assert fields(record)[0] == b"uvlaunch-warm-4"
    assert not handed_over(sandbox, script) or not is_native(sandbox.command)


@pytest.mark.parametrize("where", ["outside", "other-env", "python"])
def test_a_record_pointing_elsewhere_is_not_followed(sandbox: Sandbox, where: str) -> None:
    """A record naming an interpreter outside the home's envs/NAME never runs it."""
    script = sandbox.script()
    report(sandbox.run(str(script)))
    (env,) = sandbox.envs()
    record = record_of(sandbox, script)
    f = fields(record)
    evil = sandbox.root / "evil" if where == "outside" else sandbox.home / "envs" / "evil"
    (evil / "bin").mkdir(parents=True)
    shutil.copy(env / "uvlaunch-stamp", evil / "uvlaunch-stamp")
    marker = sandbox.root / "evil-ran"
    fake = evil / "bin" / "python"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    if where == "python":
        f[9] = os.fsencode(fake)
    else:
        f[7], f[9] = os.fsencode(evil), os.fsencode(fake)
    record.write_bytes(b"\0".join(f) + b"\0")
    assert handed_over(sandbox, script)
    report(sandbox.run(str(script)))
    assert not marker.exists()


def test_a_record_of_another_script_is_not_used(sandbox: Sandbox) -> None:
    a = sandbox.script("a.py")
    b = sandbox.script("b.py", deps=["beta"])
    report(sandbox.run(str(a)))
    report(sandbox.run(str(b)))
    shutil.copy(record_of(sandbox, b), record_of(sandbox, a))
    assert handed_over(sandbox, a)
    assert report(sandbox.run(str(a)))["alpha"] == "2.0"


@pytest.mark.parametrize(
    "setting",
    [
        {"UVLAUNCH_NO_FAST_PATH": "1"},
        {"UVLAUNCH_UV": "relative/uv"},
        {"UV_RUN_RECURSION_DEPTH": "x"},
        {"UVLAUNCH_HOME": "relative-home"},
    ],
    ids=["no-fast-path", "relative-uv", "odd-depth", "relative-home"],
)
def test_what_the_native_launcher_cannot_decide_goes_to_python(
    sandbox: Sandbox, setting: dict[str, str]
) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    sandbox.env.update(setting)
    assert handed_over(sandbox, script)


def test_options_and_subcommands_go_to_python(sandbox: Sandbox) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    with must_be_warm(sandbox):
        assert report(sandbox.run("-q", "-vv", str(script)))["alpha"] == "2.0"
    for args in (["--no-fast-path", str(script)], ["where", str(script)], ["--version"], []):
        proc = sandbox.run(*args)
        assert "Traceback" not in proc.stderr
        assert proc.returncode in (0, 2), proc.stderr
    assert sandbox.run("--version").stdout.startswith("uvlaunch ")


def test_version_names_the_launcher(sandbox: Sandbox) -> None:
    kind = "native" if is_native(sandbox.command) else "Python"
    proc = sandbox.run("--version")
    assert proc.stdout.strip().endswith(f"({kind} launcher)") or not is_native(UVLAUNCH), proc
    real = subprocess.run([UVLAUNCH, "--version"], capture_output=True, text=True)
    expected = "native" if is_native(UVLAUNCH) else "Python"
    assert real.stdout.strip() == f"uvlaunch 0.1.0 ({expected} launcher)"


@pytest.mark.parametrize("how", ["other-owner", "group-writable"])
def test_an_unsafe_home_is_refused_by_python(sandbox: Sandbox, how: str) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    if how == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the home to another user")
        os.chown(sandbox.home, 12345, -1)
    else:
        sandbox.home.chmod(0o770)
    assert handed_over(sandbox, script)
    proc = sandbox.run(str(script))
    assert proc.returncode == 2 and "uvlaunch's home" in proc.stderr, proc.stderr


# -- races with gc and remove ----------------------------------------------------------


def test_remove_keeps_the_generation_of_a_script_started_natively(sandbox: Sandbox) -> None:
    body = "import sys\nprint('started', flush=True)\nsys.stdin.readline()\nimport alpha\n"
    script = sandbox.script("sleeper.py", body=body)
    assert sandbox.run(str(script), input="\n").returncode == 0
    (generation,) = sandbox.envs()
    with contextlib.ExitStack() as stack:
        with must_be_warm(sandbox):  # the start only: remove is Python's
            running = stack.enter_context(
                in_background([sandbox.command, str(script)], cwd=sandbox.scripts, env=sandbox.env)
            )
        # Removed at once, but the generation the script runs in stays, and says so.
        gone = sandbox.run("remove", str(script))
        assert gone.returncode == 0, gone.stderr
        assert f"kept {generation.parent.name} {generation.name} for now" in gone.stderr
        assert generation.is_dir() and not (generation.parent / "current").exists()
        running.finish("\n")  # its lazy import still works
        assert running.returncode == 0
    assert sandbox.run("gc").returncode == 0  # the script has exited: now it goes
    assert sandbox.envs() == []
    assert handed_over(sandbox, script)  # its record names an environment that is gone
    assert sandbox.run(str(script), input="\n").returncode == 0


def test_starts_during_remove_and_gc_always_run_the_script(sandbox: Sandbox) -> None:
    """Warm starts racing `remove` and `gc`: each start runs, warm or rebuilt, never half."""
    script = sandbox.script()
    report(sandbox.run(str(script)))
    deadline = time.monotonic() + 8
    starts = 0
    while time.monotonic() < deadline and starts < 12:
        remover = subprocess.Popen(
            [UVLAUNCH_PY, "remove", str(script)],
            env=sandbox.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        gc = subprocess.Popen(
            [UVLAUNCH_PY, "gc"], env=sandbox.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        seen = report(sandbox.run(str(script)))
        assert seen["alpha"] == "2.0"
        remover.wait(timeout=60)
        gc.wait(timeout=60)
        starts += 1
    report(sandbox.run(str(script)))
    assert fields(record_of(sandbox, script))[0] == b"uvlaunch-warm-4"


def test_gc_sweeps_records_of_environments_that_are_gone(sandbox: Sandbox) -> None:
    script = sandbox.script()
    report(sandbox.run(str(script)))
    record = record_of(sandbox, script)
    stray = sandbox.home / "warm" / "1-2"
    stray.write_bytes(b"garbage")
    other = sandbox.home / "warm" / "3-4"
    f = fields(record)
    f[1] = b"gone-0123456789"
    other.write_bytes(b"\0".join(f) + b"\0")
    assert sandbox.run("gc").returncode == 0
    assert record.exists() and not stray.exists() and not other.exists()
    assert sandbox.run("remove", str(script)).returncode == 0
    assert not record.exists()  # remove drops it at once


# -- under the sanitizers ------------------------------------------------------------


def test_the_launcher_under_address_and_undefined_sanitizers(sandbox: Sandbox) -> None:
    """The warm start, the hand-overs and damaged records, with ASan and UBSan watching."""
    if not is_native(sandbox.command):
        pytest.skip("the native launcher only")
    built = sandbox.root / "launcher" / "uvlaunch"
    proc = subprocess.run(
        [
            "cc",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            "-g",
            "-fno-omit-frame-pointer",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-o",
            str(built) + ".asan",
            str(SOURCE),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build with sanitizers: {proc.stderr[-300:]}")
    os.replace(str(built) + ".asan", built)
    script = sandbox.script("show.py", body="import json, os, sys\nprint(json.dumps(sys.argv))\n")
    assert sandbox.run(str(script)).returncode == 0
    with must_be_warm(sandbox):
        proc = sandbox.run(str(script), "a", "b c", "--help")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert json.loads(proc.stdout) == [str(script), "a", "b c", "--help"]
        proc = sandbox.run("-qv", str(script), env={**sandbox.env, "UV_RUN_RECURSION_DEPTH": "3"})
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    record = record_of(sandbox, script)
    good = record.read_bytes()
    for how in ("truncated", "garbage", "no-final-nul", "huge", "extra-field", "bad-name"):
        record.write_bytes(good)
        damage(record, how, sandbox)
        assert handed_over(sandbox, script), how
    record.write_bytes(good)
    for args in (["--version"], [], ["list"], ["-q"]):
        proc = sandbox.run(*args)
        assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    with open(script, "a") as f:
        f.write("# edited\n")
    assert sandbox.run(str(script)).returncode == 0  # Python refreshes the record
    with must_be_warm(sandbox):
        proc = sandbox.run(str(script))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize(
    "name", [b"previous", b"current-../../x", b"current-ABCDEF12", b"current-1"]
)
def test_a_record_naming_another_pointer_is_not_followed(sandbox: Sandbox, name: bytes) -> None:
    """Only ``current`` or ``current-KEY`` (a variant for another interpreter) is read."""
    script = sandbox.script()
    report(sandbox.run(str(script)))
    record = record_of(sandbox, script)
    f = fields(record)
    f[8] = name
    record.write_bytes(b"\0".join(f) + b"\0")
    assert handed_over(sandbox, script)
    report(sandbox.run(str(script)))
