"""The resolution index (home/keyindex.py): a copy's first launch finds the generation to
share in one read, and no entry, however wrong, makes a launch share a wrong generation
or fail.

End to end through each launch path, with sharing switched on (UVLAUNCH_SHARE=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Sandbox, compiled, installed, report, site_packages
from conftest import settle as settle_all

from uvlaunch.building import shared
from uvlaunch.home import keyindex, sharers


@pytest.fixture(autouse=True)
def sharing_on(sandbox: Sandbox) -> None:
    sandbox.env["UVLAUNCH_SHARE"] = "1"


def generation_of(sandbox: Sandbox, script: Path) -> Path:
    where = sandbox.run("where", "--json", str(script))
    assert where.returncode == 0, where.stderr
    found = json.loads(where.stdout)
    return Path(found["environment"]).parent / found["generation"]


def copies(sandbox: Sandbox, n: int = 2, deps: tuple[str, ...] = ("alpha",)) -> list[Path]:
    return [
        sandbox.script("train.py", deps=deps, directory=sandbox.scripts / f"run{i}")
        for i in range(n)
    ]


def entries(sandbox: Sandbox) -> list[Path]:
    return sorted((sandbox.home / "index").glob(keyindex.PREFIX + "*"))


def only_entry(sandbox: Sandbox) -> Path:
    found = entries(sandbox)
    assert len(found) == 1, found
    return found[0]


def test_a_complete_generation_is_indexed_by_its_key(sandbox: Sandbox, launch_path: str) -> None:
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    original = generation_of(sandbox, one)
    entry = only_entry(sandbox)
    assert entry.name == keyindex.PREFIX + shared.read(str(original))
    assert entry.read_text() == f"{original.parent.name} {original.name}\n"
    report(sandbox.run(str(copy)))
    # A thin generation is not indexed: the entry still names what holds the packages.
    assert sharers.source_of(str(generation_of(sandbox, copy))) is not None
    assert only_entry(sandbox).read_text() == f"{original.parent.name} {original.name}\n"


def many_environments(sandbox: Sandbox, n: int, key: str) -> list[str]:
    """``n`` environments as a scan would read them: a current pointer to a generation
    that records a resolution key (another one than the copies')."""
    names = []
    for i in range(n):
        name = f"other-{i:04d}"
        generation = sandbox.home / "envs" / name / "g1"
        generation.mkdir(parents=True, mode=0o700)
        (generation.parent / "current").symlink_to("g1")
        (generation / shared.NAME).write_text(f"{shared.MAGIC}\n{key}\n")
        names.append(name)
    return names


def opened(trace: Path) -> list[str]:
    """The paths a strace output file says were opened."""
    found = []
    for line in trace.read_text().splitlines():
        if "open" in line and '"' in line:
            found.append(line.split('"')[1])
    return found


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_copy_first_launch_reads_no_other_environment(sandbox: Sandbox, launch_path: str) -> None:
    """With 300 other environments in the home, a copy's first launch opens none of them
    (counted by strace, every process of the launch); it still shares."""
    one, copy = copies(sandbox)
    first = report(sandbox.run(str(one)))
    others = many_environments(sandbox, 300, "0" * 64)
    trace = sandbox.root / "trace"
    strace = ["strace", "-f", "-qq", "-e", "trace=openat,open", "-o", str(trace)]
    proc = sandbox.capture([*strace, sandbox.command, str(copy)])
    second = report(proc)
    envs = str(sandbox.home / "envs") + "/"
    read = {p[len(envs) :].split("/")[0] for p in opened(trace) if p.startswith(envs)}
    assert not read & set(others), sorted(read & set(others))[:5]
    thin = generation_of(sandbox, copy)
    assert sharers.source_of(str(thin)) is not None
    assert second["prefix"] == str(thin) and second["alpha"] == first["alpha"] is not None


def plant(sandbox: Sandbox, entry: Path, how: str, other: Path) -> None:
    """Make the index entry ``entry`` wrong in the way ``how`` says. Those not the user's
    own to trust name the right generation: only the trust check keeps them out."""
    right = entry.read_text()
    entry.unlink()
    if how == "garbage":
        entry.write_bytes(b"\xff\x00 not an entry\n")
    elif how == "unsafe-name":
        entry.write_text("../../../tmp g1\n")
    elif how == "other-key":
        # Names a complete generation of this home built for another block.
        entry.write_text(f"{other.parent.name} {other.name}\n")
    elif how == "missing-env":
        entry.write_text("gone-env g1\n")
    elif how == "writable-by-others":
        entry.write_text(right)
        entry.chmod(0o666)
    elif how == "another-user":
        entry.write_text(right)
        os.chown(entry, os.geteuid() + 4242, -1)
    elif how == "symlink":
        target = sandbox.root / "elsewhere"
        target.write_text(right)
        entry.symlink_to(target)
    elif how == "fifo":
        os.mkfifo(entry)
    elif how == "directory":
        entry.mkdir()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "garbage",
        "unsafe-name",
        "other-key",
        "missing-env",
        "writable-by-others",
        pytest.param(
            "another-user",
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root"),
        ),
        "symlink",
        "fifo",
        "directory",
    ],
)
def test_a_wrong_entry_never_shares_a_wrong_generation(
    sandbox: Sandbox, launch_path: str, how: str
) -> None:
    """An entry damaged, planted or naming what does not fit: the copy builds its own,
    runs with the right packages, and its build writes the entry again."""
    one, copy = copies(sandbox)
    other = sandbox.script("other.py", deps=("alpha", "beta"))
    report(sandbox.run(str(one)))
    report(sandbox.run(str(other)))
    key = shared.read(str(generation_of(sandbox, one)))
    assert key is not None
    plant(
        sandbox,
        Path(keyindex.entry_path(str(sandbox.home), key)),
        how,
        generation_of(sandbox, other),
    )
    second = report(sandbox.run(str(copy)))
    mine = generation_of(sandbox, copy)
    assert sharers.source_of(str(mine)) is None  # built, not thin
    assert second["prefix"] == str(mine) and second["alpha"] is not None
    assert "beta" not in installed(mine)
    if how != "directory":
        entry = Path(keyindex.entry_path(str(sandbox.home), key))
        assert entry.read_text() == f"{mine.parent.name} {mine.name}\n"
    # The original is as it was.
    assert report(sandbox.run(str(one)))["prefix"] == str(generation_of(sandbox, one))


def test_a_stale_entry_after_an_upgrade_or_remove_is_not_followed(
    sandbox: Sandbox, launch_path: str
) -> None:
    """The generation an entry names stops being current (removed): the next copy builds,
    and the one after it shares that copy's generation."""
    one, copy, third = copies(sandbox, 3)
    report(sandbox.run(str(one)))
    original = generation_of(sandbox, one)
    removed = sandbox.run("remove", str(one))
    assert removed.returncode == 0, removed.stderr
    assert not original.exists()
    assert only_entry(sandbox).read_text() == f"{original.parent.name} {original.name}\n"
    assert keyindex.stale(str(sandbox.home)) == [only_entry(sandbox).name[len(keyindex.PREFIX) :]]
    second = report(sandbox.run(str(copy)))
    mine = generation_of(sandbox, copy)
    assert sharers.source_of(str(mine)) is None and second["prefix"] == str(mine)
    assert keyindex.stale(str(sandbox.home)) == []
    third_report = report(sandbox.run(str(third)))
    thin = generation_of(sandbox, third)
    assert sharers.source_of(str(thin)) == (mine.parent.name, mine.name)
    assert third_report["alpha"] == second["alpha"] is not None


def test_an_entry_another_process_holds_open_is_harmless(sandbox: Sandbox) -> None:
    """keyindex.read on a FIFO returns at once (no writer: it would block a plain open)."""
    one, _ = copies(sandbox)
    report(sandbox.run(str(one)))
    key = shared.read(str(generation_of(sandbox, one)))
    assert key is not None
    entry = Path(keyindex.entry_path(str(sandbox.home), key))
    entry.unlink()
    os.mkfifo(entry)
    code = (
        f"from uvlaunch.home import keyindex; print(keyindex.read({str(sandbox.home)!r}, {key!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "None", proc.stderr


def test_a_copy_first_launch_starts_no_uv_and_imports_no_regex(
    sandbox: Sandbox, launch_path: str
) -> None:
    """What a copy's first launch does not need stays out of it: no uv process (traced),
    and neither ``re`` nor ``hashlib`` (5 to 10 ms of imports) in uvlaunch's process."""
    body = "print('ran')\n"
    one = sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / "a", body=body)
    copy = sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / "b", body=body)
    assert sandbox.run(str(one)).returncode == 0
    trace = sandbox.root / "trace"
    strace = ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace)]
    env = {**sandbox.env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = sandbox.capture([*strace, sandbox.command, str(copy)], env=env)
    assert proc.returncode == 0 and proc.stdout == "ran\n", proc.stderr
    assert sharers.source_of(str(generation_of(sandbox, copy))) is not None
    started = [line.split('"')[1] for line in trace.read_text().splitlines() if "execve(" in line]
    uvs = [p for p in started if os.path.basename(p) == "uv"]
    # UVLAUNCH_NO_FAST_PATH starts every script through `uv run` (the last exec): by design.
    assert len(uvs) == (1 if launch_path == "slow" else 0), started
    # Each Python prints the header once: uvlaunch's own process first, then the script.
    processes = proc.stderr.split("import time: self [us]")
    ours = next(p for p in processes if "uvlaunch.main" in p)
    imported = {line.split("|")[-1].strip() for line in ours.splitlines() if "|" in line}
    assert not imported & {"re", "hashlib", "uvlaunch.uv.escaping"}, sorted(imported)


@pytest.mark.parametrize("source", ["compiled", "not compiled"])
def test_a_copy_compiles_only_what_its_source_has_not(sandbox: Sandbox, source: str) -> None:
    """A thin generation's background compiler leaves a compiled source alone (walking its
    files costs 0.1 s per copy); a source not compiled yet gets its packages compiled."""
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    original = compiled(generation_of(sandbox, one))
    pycs = sorted((site_packages(original) / "alpha").glob("__pycache__/*.pyc"))
    assert pycs
    for pyc in pycs:
        pyc.unlink()
    if source == "not compiled":
        (original / "uvlaunch-compiled").unlink()
    report(sandbox.run(str(copy)))
    thin = compiled(generation_of(sandbox, copy))
    assert sharers.source_of(str(thin)) is not None
    again = sorted((site_packages(original) / "alpha").glob("__pycache__/*.pyc"))
    assert again == ([] if source == "compiled" else pycs)


def test_gc_drops_entries_whose_generation_is_gone(sandbox: Sandbox) -> None:
    """A generation deleted by hand leaves its entry stale; gc drops it, and keeps the
    entries that still lead somewhere."""
    one = sandbox.script("one.py", deps=("alpha",))
    other = sandbox.script("other.py", deps=("alpha", "beta"))
    report(sandbox.run(str(one)))
    report(sandbox.run(str(other)))
    settle_all(sandbox)
    assert len(entries(sandbox)) == 2
    shutil.rmtree(generation_of(sandbox, one).parent)
    kept = generation_of(sandbox, other)
    assert sandbox.run("gc").returncode == 0
    (entry,) = entries(sandbox)
    assert entry.read_text() == f"{kept.parent.name} {kept.name}\n"
