"""The environment lifecycle (issue 3): `list`, `gc`, `remove`, `sync` and `exec`.

Every test drives the installed `uvlaunch` command and the real uv, offline, in the
shared sandbox (its own home, uv cache and HOME).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Sandbox, compiled, current_generation, settle
from filelock import FileLock

QUIET = "print('ran')"


def launch(sandbox: Sandbox, script: Path) -> None:
    proc = sandbox.run(str(script))
    assert proc.returncode == 0, proc.stderr


def listing(sandbox: Sandbox) -> dict[str, dict[str, object]]:
    """`uvlaunch list --json`, keyed by environment name."""
    proc = sandbox.run("list", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return {e["name"]: e for e in json.loads(proc.stdout)}


def names_by_script(sandbox: Sandbox) -> dict[object, str]:
    """Environment names from `uvlaunch list --json`, keyed by recorded script path."""
    return {e["script"]: str(e["name"]) for e in listing(sandbox).values()}


def only_env(sandbox: Sandbox) -> dict[str, object]:
    entries = listing(sandbox)
    assert len(entries) == 1, entries
    return next(iter(entries.values()))


def gc(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    proc = sandbox.run("gc", *args)
    assert proc.returncode == 0, f"stdout:{proc.stdout}\nstderr:{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def gc_json(sandbox: Sandbox, *args: str) -> dict[str, object]:
    return json.loads(gc(sandbox, *args, "--json").stdout)


def removed_names(result: dict[str, object]) -> set[str]:
    return {r["name"] for r in result["removed"]}  # type: ignore[attr-defined,index]


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def du_total(*paths: Path) -> int:
    """Bytes used under all ``paths`` together, hard links counted once (one ``du``)."""
    argv = ["du", "-s", "-c", "-B1", *map(str, paths)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return int(out.stdout.splitlines()[-1].split()[0])


def without_sizes(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in e.items() if k not in ("size", "freed")} for e in entries]


def outside_dir(sandbox: Sandbox) -> tuple[Path, Path]:
    """A directory outside the home holding a file that must survive: (dir, file)."""
    d = sandbox.root / "outside"
    d.mkdir(exist_ok=True)
    keep = d / "keep.txt"
    keep.write_text("precious\n")
    return d, keep


# -- list ------------------------------------------------------------------------


def test_list_table_and_json(sandbox: Sandbox) -> None:
    assert sandbox.run("list").stdout.strip() == "no environments"
    one = sandbox.script("one.py", body=QUIET)
    two = sandbox.script("two.py", deps=("beta",), body=QUIET)
    launch(sandbox, one)
    launch(sandbox, two)
    # Sizes are measured once a compiler is done (compiling.done); before, the stamp's
    # (the sync's) stand: du would count .pyc files a compiler wrote after list read.
    settle(sandbox)

    entries = listing(sandbox)
    assert len(entries) == 2
    by_script = {e["script"]: e for e in entries.values()}
    assert set(by_script) == {str(one), str(two)}
    for script in (one, two):
        e = by_script[str(script)]
        assert e["state"] == "live"
        assert e["complete"] is True
        assert e["python"] and str(e["python"]).count(".") == 2
        env = Path(str(e["environment"]))
        # The current generation, envs/NAME/gN.
        assert env.parent.parent == sandbox.home / "envs" and env.parent.name == e["name"]
        # Measured after the sync, as `du` measures (the stamp came after: a few KiB).
        assert abs(int(e["size"]) - du_bytes(env)) <= 16384  # type: ignore[call-overload]
        assert time.time() - float(e["last_launched"]) < 120  # type: ignore[arg-type]
        assert str(e["last_launched_iso"]).endswith("Z")

    table = sandbox.run("list")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "PYTHON", "SIZE", "LAST", "LAUNCHED", "SCRIPT"]
    assert len(lines) == 4
    assert lines[3].startswith("SIZE: what `uvlaunch remove` would free;"), lines[3]
    for line in lines[1:3]:
        name = line.split()[0]
        e = entries[name]
        assert line.endswith(str(e["script"]))
        assert " live " in line and f" {e['python']} " in line
        assert "just now" in line or " ago " in line
        assert "KiB" in line or "MiB" in line


def test_list_and_show_say_what_size_counts(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    e = only_env(sandbox)
    # uv hard-links the package from its cache: the size in all is more than removal frees.
    assert int(e["size"]) > int(e["freed"]) > 0  # type: ignore[call-overload]
    last = sandbox.run("list").stdout.splitlines()[-1]
    assert "SIZE: what `uvlaunch remove` would free" in last and "uv's cache" in last
    shown = sandbox.run("show", str(script)).stdout
    (line,) = [x for x in shown.splitlines() if x.startswith("size:")]
    assert line.endswith("in all (the rest is hard-linked from uv's cache)"), line


def test_list_size_counts_hard_links_once(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    env = compiled(sandbox.envs()[0])  # the compiler writes no more while list and du measure
    # Make it incomplete (no stamp: measured now, not the size recorded at sync)
    # and add 1 MiB with three more hard links to it.
    (env / "uvlaunch-stamp").unlink()
    big = env / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024))
    for i in range(3):
        os.link(big, env / f"link{i}.bin")
    e = only_env(sandbox)
    assert e["complete"] is False
    size = int(e["size"])  # type: ignore[call-overload]
    assert size >= 1024 * 1024
    assert size < 2 * 1024 * 1024, "hard links were counted more than once"
    assert abs(size - du_bytes(env)) <= 8192
    assert "(incomplete)" in sandbox.run("list").stdout


# -- states ----------------------------------------------------------------------


def test_states_live_after_atomic_save_and_orphaned(sandbox: Sandbox) -> None:
    saved = sandbox.script("saved.py", body=QUIET)
    gone = sandbox.script("gone.py", body=QUIET)
    launch(sandbox, saved)
    launch(sandbox, gone)
    # An editor's atomic save: a new inode at the same path.
    tmp = sandbox.scripts / ".saved.py.swp"
    tmp.write_text(saved.read_text() + "# edited\n")
    os.replace(tmp, saved)
    gone.unlink()
    states = {e["script"]: e["state"] for e in listing(sandbox).values()}
    assert states == {str(saved): "live", str(gone): "orphaned"}


def _mount_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    return proc.returncode == 0


def test_unreachable_is_kept_unless_asked(sandbox: Sandbox) -> None:
    volume = sandbox.root / "volume"
    if not _mount_tmpfs(volume):
        pytest.skip("needs root and a working `mount -t tmpfs`")
    mounted = True
    try:
        script = sandbox.script("usb.py", body=QUIET, directory=volume)
        launch(sandbox, script)
        assert only_env(sandbox)["state"] == "live"
        subprocess.run(["umount", str(volume)], check=True)
        mounted = False

        e = only_env(sandbox)
        assert e["state"] == "unreachable"
        assert e["script"] == str(script)
        result = gc_json(sandbox)
        assert result["removed"] == []
        assert Path(str(e["environment"])).is_dir()
        assert only_env(sandbox)["state"] == "unreachable"
        # --unused-for does not take it either: its script may still be there.
        assert gc_json(sandbox, "--unused-for", "0s")["removed"] == []

        out = gc(sandbox, "--include-unreachable").stdout
        assert f"removed {e['name']}" in out and "unreachable" in out
        assert not Path(str(e["environment"])).exists()
        assert listing(sandbox) == {}
    finally:
        if mounted:
            subprocess.run(["umount", str(volume)], check=False)


# -- gc --------------------------------------------------------------------------


def test_gc_removes_deleted_scripts_env_and_prints_total(sandbox: Sandbox) -> None:
    kept = sandbox.script("kept.py", body=QUIET)
    gone = sandbox.script("gone.py", body=QUIET)
    launch(sandbox, kept)
    launch(sandbox, gone)
    entries = {e["script"]: e for e in listing(sandbox).values()}
    victim = entries[str(gone)]
    gone.unlink()

    out = gc(sandbox).stdout.splitlines()
    assert len(out) == 2, out
    assert out[0].startswith(f"removed {victim['name']} (")
    assert out[0].endswith(f"orphaned: its script is gone: {gone}")
    assert out[1].startswith("freed ") and out[1].endswith(" in 1 environment")
    assert "0 B" not in out[1]
    assert not Path(str(victim["environment"])).exists()
    assert not (sandbox.home / "records" / f"{victim['name']}.json").exists()
    assert list((sandbox.home / "trash").iterdir()) == []
    assert set(listing(sandbox)) == {entries[str(kept)]["name"]}
    # Nothing is left pointing at it: a new script at the old path gets a fresh environment.
    sandbox.script("gone.py", body=QUIET)
    launch(sandbox, gone)
    assert len(listing(sandbox)) == 2
    # And a second gc finds nothing.
    assert gc(sandbox).stdout.strip() == "freed 0 B in 0 environments"


def test_moved_script_launched_after_move_is_kept(sandbox: Sandbox) -> None:
    script = sandbox.script("mover.py", body=QUIET)
    launch(sandbox, script)
    name = only_env(sandbox)["name"]
    new_dir = sandbox.scripts / "elsewhere"
    new_dir.mkdir()
    moved = new_dir / "moved.py"
    script.rename(moved)
    launch(sandbox, moved)
    e = only_env(sandbox)
    assert (e["name"], e["script"], e["state"]) == (name, str(moved), "live")
    assert gc_json(sandbox)["removed"] == []
    assert only_env(sandbox)["name"] == name


def test_moved_script_not_launched_is_removed_by_plain_gc(sandbox: Sandbox) -> None:
    script = sandbox.script("mover.py", body=QUIET)
    launch(sandbox, script)
    e = only_env(sandbox)
    (sandbox.scripts / "elsewhere").mkdir()
    script.rename(sandbox.scripts / "elsewhere" / "moved.py")
    assert only_env(sandbox)["state"] == "orphaned"
    assert removed_names(gc_json(sandbox)) == {e["name"]}
    assert listing(sandbox) == {}


def test_gc_search_finds_moved_script_by_inode(sandbox: Sandbox) -> None:
    script = sandbox.script("mover.py", body=QUIET)
    launch(sandbox, script)
    e = only_env(sandbox)
    search = sandbox.root / "archive"
    (search / "deep" / "er").mkdir(parents=True)
    (search / "decoy.py").write_text(script.read_text())  # same content, other inode
    moved = search / "deep" / "er" / "renamed.py"
    script.rename(moved)

    dry = gc(sandbox, "--dry-run", "--search", str(search)).stdout
    assert f"would keep {e['name']}: its script is now {moved}" in dry
    assert only_env(sandbox)["script"] == str(script)  # dry run recorded nothing

    out = gc(sandbox, "--search", str(search)).stdout
    assert f"kept {e['name']}: its script is now {moved}" in out
    assert "freed 0 B in 0 environments" in out
    after = only_env(sandbox)
    assert (after["name"], after["script"], after["state"]) == (e["name"], str(moved), "live")
    assert Path(str(e["environment"])).is_dir()
    # The next launch uses the same environment.
    launch(sandbox, moved)
    assert set(listing(sandbox)) == {e["name"]}


def test_gc_search_rewrites_a_stamp_only_under_the_environments_lock(sandbox: Sandbox) -> None:
    script = sandbox.script("mover.py", body=QUIET)
    launch(sandbox, script)
    e = only_env(sandbox)
    stamp = Path(str(e["environment"])) / "uvlaunch-stamp"
    search = sandbox.root / "archive"
    search.mkdir()
    moved = search / "mover.py"
    script.rename(moved)
    record = sandbox.home / "records" / f"{e['name']}.json"
    before = (stamp.read_bytes(), record.read_bytes())
    # Whoever holds the lock (a launch building, an upgrade) may be writing the stamp.
    with FileLock(str(sandbox.home / "locks" / f"{e['name']}.lock")):
        out = gc(sandbox, "--search", str(search)).stdout
        assert f"skipped {e['name']}: " in out and "kept" not in out, out
        assert (stamp.read_bytes(), record.read_bytes()) == before
    out = gc(sandbox, "--search", str(search)).stdout
    assert f"kept {e['name']}: its script is now {moved}" in out
    after = only_env(sandbox)
    assert (after["script"], after["state"]) == (str(moved), "live")
    assert str(moved).encode() in stamp.read_bytes()


def test_gc_dry_run_removes_nothing_and_reports_size(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    compiled(sandbox.envs()[0])  # nothing else writes in the home from here on
    e = only_env(sandbox)
    script.unlink()
    before = sorted(p.relative_to(sandbox.home) for p in sandbox.home.rglob("*"))

    out = gc(sandbox, "--dry-run").stdout.splitlines()
    assert out[0].startswith(f"would remove {e['name']} (") and "orphaned" in out[0]
    assert out[-1].startswith("would free ") and out[-1].endswith(" in 1 environment")
    result = gc_json(sandbox, "--dry-run")
    assert result["dry_run"] is True
    freed = int(result["freed"])  # type: ignore[call-overload]
    assert freed > 0
    assert without_sizes(result["removed"]) == [  # type: ignore[arg-type]
        {
            "name": e["name"],
            "script": str(script),
            "reason": "orphaned: its script is gone",
            "commands": [],  # none installed (issue 21)
        }
    ]
    (removal,) = result["removed"]  # type: ignore[misc]
    assert removal["freed"] == freed
    assert abs(removal["size"] - int(e["size"])) <= 8192  # type: ignore[call-overload]
    after = sorted(p.relative_to(sandbox.home) for p in sandbox.home.rglob("*"))
    assert after == before
    assert only_env(sandbox)["state"] == "orphaned"

    # What the dry run promised is what gc frees: files hard-linked with uv's cache
    # are not counted, since deleting the environment does not free them.
    used = du_total(sandbox.home, sandbox.cache)
    folders = [p for p in (sandbox.home / "pyc").iterdir()]
    assert int(gc_json(sandbox)["freed"]) == freed  # type: ignore[call-overload]
    really = used - du_total(sandbox.home, sandbox.cache)
    # Besides the environment: its record, index entries (by inode, by path, and by
    # resolution key: keyindex.py), warm record, the directories of the environment, of
    # its generation and of its use marks, and the .pyc store's folders it alone used
    # (4 KiB each).
    emptied = sum(not p.exists() for p in folders) * 4096
    assert abs(really - emptied - freed) <= max(0.05 * freed, 8 * 4096), (really, emptied, freed)
    assert freed < int(e["size"])  # type: ignore[call-overload]  # the shared part is left out


def _age(sandbox: Sandbox, name: str, seconds: float) -> None:
    stamp = current_generation(sandbox.home / "envs" / name) / "uvlaunch-stamp"
    past = time.time() - seconds
    os.utime(stamp, (past, past))


def test_gc_unused_for_removes_live_but_unused(sandbox: Sandbox) -> None:
    # Blocks that differ: each builds its own (a copy would share, test_sharing.py).
    old = sandbox.script("old.py", body=QUIET)
    recent = sandbox.script("recent.py", deps=("alpha", "beta"), body=QUIET)
    launch(sandbox, old)
    launch(sandbox, recent)
    names = names_by_script(sandbox)
    _age(sandbox, str(names[str(old)]), 100 * 86400)
    _age(sandbox, str(names[str(recent)]), 2 * 86400)

    assert gc_json(sandbox)["removed"] == []  # both live: plain gc keeps them
    assert without_sizes(gc_json(sandbox, "--unused-for", "90d")["removed"]) == [  # type: ignore[arg-type]
        {
            "name": names[str(old)],
            "script": str(old),
            "reason": "unused: not launched for longer than asked",
            "commands": [],
        }
    ]
    assert set(listing(sandbox)) == {names[str(recent)]}
    assert old.exists()  # the script itself is never touched
    assert gc_json(sandbox, "--unused-for", "3d")["removed"] == []
    assert removed_names(gc_json(sandbox, "--unused-for", "24h")) == {names[str(recent)]}


def test_gc_unused_for_rejects_bad_duration(sandbox: Sandbox) -> None:
    proc = sandbox.run("gc", "--unused-for", "12x")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not a duration" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_gc_json_output(sandbox: Sandbox) -> None:
    live = sandbox.script("live.py", body=QUIET)
    gone = sandbox.script("gone.py", body=QUIET)
    launch(sandbox, live)
    launch(sandbox, gone)
    victim = next(e for e in listing(sandbox).values() if e["script"] == str(gone))
    gone.unlink()
    result = gc_json(sandbox)
    assert set(result) == {
        "dry_run",
        "removed",
        "freed",
        "skipped",
        "relocated",
        "unreadable",
        "leftovers",
    }
    assert result["dry_run"] is False
    assert removed_names(result) == {victim["name"]}
    assert result["freed"] == sum(r["freed"] for r in result["removed"])  # type: ignore[attr-defined]
    assert 0 < int(result["freed"]) <= int(victim["size"])  # type: ignore[call-overload]
    assert result["skipped"] == result["relocated"] == result["unreadable"] == []


# -- safe removal ------------------------------------------------------------------


def test_gc_and_remove_skip_an_environment_being_synced(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    e = only_env(sandbox)
    env = Path(str(e["environment"]))
    script.unlink()
    lock = FileLock(str(sandbox.home / "locks" / f"{e['name']}.lock"))
    with lock.acquire(timeout=5):
        out = gc(sandbox).stdout
        assert f"skipped {e['name']}: a launch is creating or syncing it" in out
        assert "freed 0 B in 0 environments" in out
        assert gc_json(sandbox)["skipped"] == [
            {"name": e["name"], "why": "a launch is creating or syncing it"}
        ]
        proc = sandbox.run("remove", str(e["name"]))
        assert proc.returncode == 1
        assert f"skipped {e['name']}" in proc.stderr
        assert env.is_dir() and (env / "uvlaunch-stamp").exists()
    assert removed_names(gc_json(sandbox)) == {e["name"]}
    assert not env.exists()


def test_edited_record_pointing_outside_home_deletes_nothing_there(sandbox: Sandbox) -> None:
    a = sandbox.script("a.py", body=QUIET)
    b = sandbox.script("b.py", body=QUIET)
    launch(sandbox, a)
    launch(sandbox, b)
    settle(sandbox)
    names = names_by_script(sandbox)
    outside, keep = outside_dir(sandbox)
    # a's record now claims an existing file outside; b's a missing one beside it.
    for script, target in ((a, keep), (b, outside / "missing.py")):
        record = sandbox.home / "records" / f"{names[str(script)]}.json"
        data = json.loads(record.read_text())
        data["script"] = str(target)
        record.write_text(json.dumps(data))

    # Records that disagree with their stamps are not trusted (issue 13): whose
    # environments these are cannot be told, so gc keeps both.
    entries = listing(sandbox)
    assert entries[names[str(a)]]["state"] == entries[names[str(b)]]["state"] == "unknown"
    assert removed_names(gc_json(sandbox)) == set()
    proc = sandbox.run("remove", names[str(a)], names[str(b)])
    assert proc.returncode == 0, proc.stderr
    assert listing(sandbox) == {}
    assert keep.read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert a.exists() and b.exists()


def test_symlink_planted_inside_environment_is_not_followed(sandbox: Sandbox) -> None:
    outside, keep = outside_dir(sandbox)
    # Blocks that differ: each has a site-packages of its own to plant links in.
    by_gc = sandbox.script("by_gc.py", body=QUIET)
    by_remove = sandbox.script("by_remove.py", deps=("alpha", "beta"), body=QUIET)
    launch(sandbox, by_gc)
    launch(sandbox, by_remove)
    for env in sandbox.envs():
        (env / "escape").symlink_to(outside, target_is_directory=True)
        site = next(env.glob("lib/python*/site-packages"))
        (site / "deeper").symlink_to(outside, target_is_directory=True)
        (site / "file-link").symlink_to(keep)
    by_gc.unlink()
    assert len(removed_names(gc_json(sandbox))) == 1
    proc = sandbox.run("remove", str(by_remove))
    assert proc.returncode == 0, proc.stderr
    assert sandbox.envs() == []
    assert keep.read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_environment_dir_that_is_a_symlink_is_not_followed(sandbox: Sandbox) -> None:
    # No background compiler: still running, it would write uvlaunch-compiled through
    # the symlink planted below (its own matter, not gc's or remove's).
    sandbox.env["UVLAUNCH_COMPILE_BYTECODE"] = "0"
    a = sandbox.script("a.py", body=QUIET)
    b = sandbox.script("b.py", body=QUIET)
    launch(sandbox, a)
    launch(sandbox, b)
    outside, keep = outside_dir(sandbox)
    # b's points to what looks like generations: a complete current one (b's, copied)
    # and an old one, which gc would delete if it were inside the home.
    (b_env,) = [e for e in sandbox.envs() if e.parent.name.startswith("b-")]
    other = sandbox.root / "other"
    shutil.copytree(b_env, other / "g1", symlinks=True)
    (other / "g7").mkdir()
    (other / "g7" / "keep.txt").write_text("precious\n")
    (other / "current").symlink_to("g1")
    # Replace both environment directories with symlinks to a directory outside.
    for env in sandbox.env_dirs():
        shutil.rmtree(env)
        target = other if env.name.startswith("b-") else outside
        env.symlink_to(target, target_is_directory=True)
    # A bare symlink with no record either (swept as a leftover).
    (sandbox.home / "envs" / "planted-0123456789").symlink_to(outside, target_is_directory=True)
    names = {e["script"]: str(e["name"]) for e in listing(sandbox).values() if e["script"]}
    a.unlink()
    gc(sandbox)
    proc = sandbox.run("remove", names[str(b)])
    assert proc.returncode == 0, proc.stderr
    assert sandbox.env_dirs() == []
    assert keep.read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in other.iterdir()) == ["current", "g1", "g7"]
    assert (other / "g7" / "keep.txt").read_text() == "precious\n"


# -- crash safety ------------------------------------------------------------------


def test_next_gc_finishes_what_a_killed_gc_left_in_trash(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    name = only_env(sandbox)["name"]
    # A gc killed after the rename into trash/, before the delete.
    trash = sandbox.home / "trash"
    half = trash / f"{name}.deadbeef"
    shutil.copytree(compiled(sandbox.envs()[0]), half, symlinks=True)
    (half / "lib" / "readonly").mkdir()
    (half / "lib" / "readonly" / "f").write_text("x")
    (half / "lib" / "readonly").chmod(0o500)
    (trash / "stray-file").write_text("x")
    # What deleting them frees is counted (issue 19: it used to say "freed 0 B").
    lines = gc(sandbox).stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("removed leftovers of interrupted commands (")
    assert lines[1].startswith("freed ") and lines[1] != "freed 0 B in 0 environments"
    assert list(trash.iterdir()) == []
    assert only_env(sandbox)["state"] == "live"  # the live environment is untouched


def test_half_built_environment_without_record_is_swept(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    good = only_env(sandbox)
    leftover = sandbox.home / "envs" / "halfbuilt-0123456789"
    (leftover / "lib").mkdir(parents=True)
    (leftover / "lib" / "partial.bin").write_bytes(b"x" * 50000)
    entry = listing(sandbox)["halfbuilt-0123456789"]
    assert entry["state"] == "unknown" and entry["complete"] is False

    dry = gc(sandbox, "--dry-run").stdout
    assert "would remove halfbuilt-0123456789" in dry
    assert leftover.is_dir()
    out = gc(sandbox).stdout
    assert "removed halfbuilt-0123456789" in out, out
    assert "kept halfbuilt" not in out
    assert out.strip().endswith("in 1 environment")
    assert not leftover.exists()
    assert set(listing(sandbox)) == {good["name"]}


# -- remove ------------------------------------------------------------------------


def test_remove_by_script_path_and_by_name(sandbox: Sandbox) -> None:
    # Blocks that differ: each builds its own (a copy would share, test_sharing.py).
    one = sandbox.script("one.py", body=QUIET)
    two = sandbox.script("two.py", deps=("alpha", "beta"), body=QUIET)
    three = sandbox.script("three.py", deps=("gamma",), body=QUIET)
    for s in (one, two, three):
        launch(sandbox, s)
    names = names_by_script(sandbox)

    proc = sandbox.run("remove", "one.py")  # relative to the working directory
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"removed {names[str(one)]} (")
    assert proc.stdout.strip().endswith(str(one))
    proc = sandbox.run("remove", names[str(two)])
    assert proc.returncode == 0, proc.stderr
    assert f"removed {names[str(two)]}" in proc.stdout
    assert set(listing(sandbox)) == {names[str(three)]}
    assert one.exists() and two.exists()
    # The next launch simply creates a new environment.
    launch(sandbox, one)
    assert len(listing(sandbox)) == 2


def test_remove_unknown_name_is_an_error_and_removes_nothing(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    name = str(only_env(sandbox)["name"])
    for args in ((name, "no-such-env"), ("no-such-env", name), ("missing.py", name)):
        proc = sandbox.run("remove", *args)
        assert proc.returncode == 2, proc
        bad = args[0] if args[0] != name else args[1]
        assert proc.stderr.startswith(f"uvlaunch: error: {bad}: ")
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert proc.stdout == ""
        assert set(listing(sandbox)) == {name}
        assert sandbox.env_dirs()[0].name == name


def test_remove_by_path_of_a_deleted_script(sandbox: Sandbox) -> None:
    # Blocks that differ: each builds its own (a copy would share, test_sharing.py).
    gone = sandbox.script("gone.py", body=QUIET)
    other = sandbox.script("other.py", deps=("alpha", "beta"), body=QUIET)
    launch(sandbox, gone)
    launch(sandbox, other)
    names = names_by_script(sandbox)
    gone.unlink()
    proc = sandbox.run("remove", str(gone))
    assert proc.returncode == 0, proc.stderr
    assert f"removed {names[str(gone)]}" in proc.stdout
    assert set(listing(sandbox)) == {names[str(other)]}


# -- sync and exec -----------------------------------------------------------------


MARKER_BODY = """\
import pathlib, sys
pathlib.Path(sys.argv[0]).with_suffix(".ran").write_text("ran")
"""


def test_sync_creates_and_updates_without_running(sandbox: Sandbox) -> None:
    a = sandbox.script("a.py", body=MARKER_BODY)
    b = sandbox.script("b.py", deps=("beta",), body=MARKER_BODY)
    proc = sandbox.run("sync", str(a), str(b))
    assert proc.returncode == 0, proc.stderr
    entries = {e["script"]: e for e in listing(sandbox).values()}
    assert set(entries) == {str(a), str(b)}
    assert proc.stdout.splitlines() == [
        f"{a}: {entries[str(a)]['environment']}",
        f"{b}: {entries[str(b)]['environment']}",
    ]
    assert all(e["state"] == "live" and e["complete"] for e in entries.values())
    assert not a.with_suffix(".ran").exists() and not b.with_suffix(".ran").exists()
    # Compiled before it returns, and it says so (seconds for real packages).
    for e in entries.values():
        assert f"uvlaunch: byte-compiling {e['environment']}" in proc.stderr
        assert (Path(str(e["environment"])) / "uvlaunch-compiled").is_file()

    # An update: a new dependency is installed by sync, still without running.
    a.write_text(a.read_text().replace('["alpha"]', '["alpha", "beta"]'))
    assert sandbox.run("sync", str(a)).returncode == 0
    probe = sandbox.run("exec", str(a), "--", "python", "-c", "import beta; print(beta.VERSION)")
    assert probe.stdout.strip() == "1.0", probe.stderr
    assert not a.with_suffix(".ran").exists()
    # The script's environment is the one sync made: launching creates nothing new.
    sandbox.run(str(a))
    assert a.with_suffix(".ran").exists()
    assert len(listing(sandbox)) == 2


def test_sync_missing_script_is_an_error(sandbox: Sandbox) -> None:
    proc = sandbox.run("sync", "nope.py")
    assert proc.returncode == 2
    assert proc.stderr.startswith("uvlaunch: error: nope.py")
    assert "Traceback" not in proc.stderr


def test_exec_runs_python_inside_the_environment(sandbox: Sandbox) -> None:
    script = sandbox.script(body=MARKER_BODY)
    code = (
        "import json, os, sys, alpha; print(json.dumps([sys.prefix, alpha.VERSION, sys.argv[1:]]))"
    )
    proc = sandbox.run("exec", str(script), "--", "python", "-c", code, "--x", "y")
    assert proc.returncode == 0, proc.stderr
    prefix, version, argv = json.loads(proc.stdout)
    env = only_env(sandbox)  # created first, since it did not exist
    assert prefix == env["environment"]
    assert version == "2.0"
    assert argv == ["--x", "y"]
    assert not script.with_suffix(".ran").exists()
    # pip list, as the issue suggests, and the exit status passes through.
    status = sandbox.run("exec", str(script), "--", "python", "-c", "raise SystemExit(7)")
    assert status.returncode == 7


def test_exec_runs_a_console_script_from_the_environment(sandbox: Sandbox) -> None:
    script = sandbox.script(deps=("gamma",), body=MARKER_BODY)
    proc = sandbox.run("exec", str(script), "--", "gamma-tool")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "gamma-tool ran"
    assert not script.with_suffix(".ran").exists()
    missing = sandbox.run("exec", str(script), "--", "no-such-tool-here")
    assert missing.returncode != 0
    assert "no-such-tool-here" in missing.stderr and "Traceback" not in missing.stderr


# -- damaged records -----------------------------------------------------------------


def test_damaged_record_is_kept_and_reported(sandbox: Sandbox) -> None:
    script = sandbox.script(body=QUIET)
    launch(sandbox, script)
    settle(sandbox)
    e = only_env(sandbox)
    name = str(e["name"])
    env = Path(str(e["environment"]))
    record = sandbox.home / "records" / f"{name}.json"
    record.write_bytes(b"\x00\xff garbage \x9c{{{")

    # The stamp keeps a copy of the identity: the state is still known.
    assert only_env(sandbox)["state"] == "live"
    assert gc_json(sandbox)["removed"] == []

    # Without a stamp either (a sync killed halfway), nothing is known: kept, reported.
    (env / "uvlaunch-stamp").unlink()
    script.unlink()
    table = sandbox.run("list")
    assert table.returncode == 0 and "Traceback" not in table.stderr
    assert "unknown" in table.stdout
    assert only_env(sandbox)["state"] == "unknown"
    out = gc(sandbox).stdout
    assert f"kept {name}: its record and stamp cannot be read or name different files" in out
    assert gc_json(sandbox, "--unused-for", "0s")["unreadable"] == [name]
    assert env.is_dir() and record.exists()
