"""Content identity of a generation (building/content.py), the ground sharing stands on.

Quick tier: the key of hand-made generations (no uv). End to end: every generation a
launch or an upgrade builds records its key, through each launch path, and two scripts
whose blocks resolve to the same set on the same interpreter get the same key.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import Sandbox, current_generation, installed, must_be_warm, report

from uvlaunch.building import content, shared
from uvlaunch.home import sharers

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def fake_generation(
    top: Path, dists: dict[str, str], *, extra_record: str = "", python: str = sys.executable
) -> Path:
    """A generation as uv leaves it, enough for ``content.describe``: pyvenv.cfg, the
    interpreter link and one dist-info per distribution."""
    (top / "bin").mkdir(parents=True)
    (top / "bin" / "python").symlink_to(python)
    (top / "pyvenv.cfg").write_text(f"home = /x\nversion_info = {VERSION}.1\n")
    site = top / "lib" / f"python{VERSION}" / "site-packages"
    site.mkdir(parents=True)
    for name, version in dists.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: py3-none-any\n")
        (info / "RECORD").write_text(
            f"{name}/__init__.py,sha256=abc{version},10\n"
            f"{name}/__pycache__/__init__.cpython-311.pyc,,\n"
            f"{info.name}/RECORD,,\n" + extra_record
        )
    return top


def key(generation: Path, uv: str = "0.13.10") -> str:
    return content.key_of(content.describe(str(generation), uv))


def test_same_contents_at_two_paths_have_one_key(tmp_path: Path) -> None:
    a = fake_generation(tmp_path / "a" / "g1", {"alpha": "1.0", "beta": "2.0"})
    # Entry points name their own generation's interpreter: not content.
    b = fake_generation(
        tmp_path / "b" / "g3",
        {"beta": "2.0", "alpha": "1.0"},
        extra_record="../../../bin/tool,sha256=other,99\n",
    )
    assert key(a) == key(b)


@pytest.mark.parametrize("change", ["version", "package", "uv", "interpreter", "files"])
def test_what_was_built_changes_the_key(tmp_path: Path, change: str) -> None:
    base = key(fake_generation(tmp_path / "a", {"alpha": "1.0"}))
    dists, uv, python, extra = {"alpha": "1.0"}, "0.13.10", sys.executable, ""
    if change == "version":
        dists = {"alpha": "1.1"}
    elif change == "package":
        dists = {"alpha": "1.0", "beta": "2.0"}
    elif change == "uv":
        uv = "0.13.11"
    elif change == "interpreter":
        python = os.path.realpath("/bin/sh")
    else:
        extra = "alpha/data.txt,sha256=zzz,3\n"
    other = fake_generation(tmp_path / "b", dists, python=python, extra_record=extra)
    assert key(other, uv) != base


def test_a_damaged_record_shares_with_nothing(tmp_path: Path) -> None:
    generation = fake_generation(tmp_path / "g1", {"alpha": "1.0"})
    lines = content.describe(str(generation), "0.13.10")
    good = "\n".join([content.MAGIC, f"key {content.key_of(lines)}", *lines, ""])
    path = Path(content.path_of(str(generation)))
    path.write_text(good)
    assert content.read(str(generation)) == content.key_of(lines)
    path.write_text(good.replace("alpha 1.0", "alpha 9.9"))
    assert content.read(str(generation)) is None
    path.write_text(good[: len(good) // 2])
    assert content.read(str(generation)) is None
    path.unlink()
    assert content.read(str(generation)) is None


def generation_of(sandbox: Sandbox, script: Path) -> Path:
    import json

    where = sandbox.run("where", "--json", str(script))
    assert where.returncode == 0, where.stderr
    found = json.loads(where.stdout)
    return Path(found["environment"]).parent / found["generation"]


def test_every_generation_records_its_content(sandbox: Sandbox, launch_path: str) -> None:
    """Through each launch path: copies of one block share a key, another block has its
    own, and a reinstall's generation records one too."""
    one = sandbox.script("one.py", deps=("alpha",))
    copy = sandbox.script("copy.py", deps=("alpha",), directory=sandbox.scripts / "worktree")
    other = sandbox.script("other.py", deps=("alpha", "beta"))
    for script in (one, copy, other, one):  # the last launch is warm
        report(sandbox.run(str(script)))
    keys = {s.name: content.read(str(generation_of(sandbox, s))) for s in (one, copy, other)}
    assert None not in keys.values(), keys
    assert keys["one.py"] == keys["copy.py"] != keys["other.py"]
    text = Path(content.path_of(str(generation_of(sandbox, other)))).read_text()
    assert " alpha " in text and " beta " in text and f"python-version {VERSION}" in text

    rebuilt = sandbox.run("reinstall", str(one))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert [current_generation(d).name for d in sandbox.env_dirs()].count("g2") == 1
    assert content.read(str(generation_of(sandbox, one))) == keys["one.py"]


# -- the resolution key, and which generation a copy matches (building/shared.py) ----


def resolution(path: Path, environ: dict[str, str]) -> str:
    from uvlaunch.scripts.script import read_script

    return shared.resolution_key(read_script(str(path)), sys.executable, environ)


def test_copies_of_a_block_have_one_resolution_key(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/bin", "UV_OFFLINE": "1", "UV_NO_CONFIG": "1", "HOME": "/nowhere"}
    one = tmp_path / "a" / "train.py"
    copy = tmp_path / "b" / "c" / "train-copy.py"
    other = tmp_path / "a" / "other.py"
    for path, deps in ((one, '"alpha"'), (copy, '"alpha"'), (other, '"alpha", "beta"')):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# /// script\n# dependencies = [{deps}]\n# ///\nprint(1)\n")
    base = resolution(one, environ)
    assert resolution(copy, environ) == base
    assert resolution(other, environ) != base
    # What uv reads besides the block: its variables, the interpreters PATH finds.
    assert resolution(one, {**environ, "UV_EXCLUDE_NEWER": "2024-01-01T00:00:00Z"}) != base
    assert resolution(one, {**environ, "PATH": "/opt/py/bin:/usr/bin"}) != base


def test_a_configuration_file_uv_reads_changes_the_key(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/bin", "HOME": str(tmp_path / "home")}
    script = tmp_path / "w" / "train.py"
    script.parent.mkdir()
    script.write_text('# /// script\n# dependencies = ["alpha"]\n# ///\n')
    from uvlaunch.scripts.script import read_script

    base = resolution(script, environ)
    (script.parent / "uv.toml").write_text('exclude-newer = "2024-01-01T00:00:00Z"\n')
    assert resolution(script, environ) != base
    found = shared.config_files(read_script(str(script)), environ)
    assert str(script.parent / "uv.toml") in found


def test_a_copy_matches_the_generation_of_its_original(sandbox: Sandbox, launch_path: str) -> None:
    """Through each launch path: a copy's resolution key finds the original's current
    generation, never its own, and a copy launched under other uv settings finds none."""
    one = sandbox.script("train.py", deps=("alpha",))
    copy = sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / "run2")
    odd = sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / "run3")
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    report(sandbox.run(str(odd), env={**sandbox.env, "UV_INDEX_STRATEGY": "first-index"}))
    gens = {p.parent.name: generation_of(sandbox, p) for p in (one, copy, odd)}
    keys = {k: shared.read(str(g)) for k, g in gens.items()}
    assert keys["scripts"] == keys["run2"] != keys["run3"]
    home = str(sandbox.home)
    name = {k: g.parent.name for k, g in gens.items()}
    found = shared.match(home, str(keys["run2"]), besides=name["run2"])
    assert found is not None and Path(found) == gens["scripts"]
    assert shared.match(home, str(keys["run3"]), besides=name["run3"]) is None
    # A generation others could write is no one's to share.
    gens["scripts"].chmod(0o775)
    gens["run2"].chmod(0o775)
    assert shared.match(home, str(keys["run2"]), besides="none") is None


# -- a copy's first launch shares; nothing shared changes through one script ----------


def copies(sandbox: Sandbox, n: int = 2) -> list[Path]:
    """``n`` copies of one script, each in a folder of its own (worktrees, runs)."""
    return [
        sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / f"run{i}")
        for i in range(n)
    ]


def env_dir_of(sandbox: Sandbox, script: Path) -> Path:
    return generation_of(sandbox, script).parent


def test_a_copy_first_launch_shares_the_original_generation(
    sandbox: Sandbox, launch_path: str
) -> None:
    one, copy = copies(sandbox)
    first = report(sandbox.run(str(one)))
    second = report(sandbox.run(str(copy)))
    original, thin = generation_of(sandbox, one), generation_of(sandbox, copy)
    assert thin.parent != original.parent
    assert sharers.source_of(str(thin)) == (original.parent.name, original.name)
    assert (thin / "lib" / f"python{VERSION}" / "site-packages").is_symlink()
    assert sharers.referrers(str(original)) == [f"{thin.parent.name}/{thin.name}"]
    # Each runs in its own environment's generation, with its own stable `where` path.
    assert first["prefix"] == str(original) and second["prefix"] == str(thin)
    assert second["alpha"] == first["alpha"] is not None
    where = sandbox.run("where", str(copy)).stdout.strip()
    assert where == str(thin.parent / "current")
    with must_be_warm(sandbox):
        again = report(sandbox.run(str(copy)))
    assert again["prefix"] == str(thin)


def test_a_block_resolved_otherwise_is_built(sandbox: Sandbox, launch_path: str) -> None:
    one = sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / "a")
    other = sandbox.script("train.py", deps=("alpha", "beta"), directory=sandbox.scripts / "b")
    odd = sandbox.script("train.py", deps=("alpha",), directory=sandbox.scripts / "c")
    report(sandbox.run(str(one)))
    report(sandbox.run(str(other)))
    report(sandbox.run(str(odd), env={**sandbox.env, "UV_INDEX_STRATEGY": "first-index"}))
    for script in (one, other, odd):
        assert sharers.source_of(str(generation_of(sandbox, script))) is None


@pytest.mark.parametrize("change", ["reinstall", "edit"])
def test_changing_a_copy_never_changes_the_original(
    sandbox: Sandbox, launch_path: str, change: str
) -> None:
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original = generation_of(sandbox, one)
    before = installed(original)
    if change == "reinstall":
        assert sandbox.run("reinstall", str(copy)).returncode == 0
    else:
        copy.write_text(copy.read_text().replace('["alpha"]', '["alpha", "beta"]'))
        assert report(sandbox.run(str(copy)))["alpha"] is not None
    private = generation_of(sandbox, copy)
    # The thin generation an edit replaced is deleted by a detached process (the symlink
    # unlinked, never followed): once the trash is empty, the original is as it was.
    trash, deadline = sandbox.home / "trash", time.monotonic() + 60
    while trash.exists() and any(trash.iterdir()):
        assert time.monotonic() < deadline, list(trash.iterdir())
        time.sleep(0.05)
    assert sharers.source_of(str(private)) is None
    assert not (private / "lib" / f"python{VERSION}" / "site-packages").is_symlink()
    assert installed(original) == before and generation_of(sandbox, one) == original
    assert ("beta" in installed(private)) == (change == "edit")
    assert report(sandbox.run(str(one)))["prefix"] == str(original)


@pytest.mark.parametrize("who", ["copy", "original"])
def test_exec_gets_a_private_generation_first(sandbox: Sandbox, launch_path: str, who: str) -> None:
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original, thin = generation_of(sandbox, one), generation_of(sandbox, copy)
    writer, other = (copy, one) if who == "copy" else (one, copy)
    untouched = generation_of(sandbox, other)
    done = sandbox.run("exec", str(writer), "--", "uv", "pip", "install", "-q", "beta")
    assert done.returncode == 0, done.stderr
    assert "shared with other copies" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    mine = generation_of(sandbox, writer)
    assert mine != (thin if who == "copy" else original)
    assert "beta" in installed(mine)
    assert "beta" not in installed(original) and "beta" not in installed(thin)
    assert generation_of(sandbox, other) == untouched
    # Private now: the next exec runs at once, in the same generation.
    again = sandbox.run("exec", str(writer), "--", "python", "-c", "import beta")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert generation_of(sandbox, writer) == mine


# -- gc and remove count references; list and show say who shares --------------------


def test_remove_and_gc_keep_a_generation_while_a_copy_shares_it(
    sandbox: Sandbox, launch_path: str
) -> None:
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original, thin = generation_of(sandbox, one), generation_of(sandbox, copy)
    removed = sandbox.run("remove", str(one))
    assert removed.returncode == 0, removed.stderr
    assert "share its packages" in removed.stderr, removed.stderr
    assert original.is_dir()
    assert report(sandbox.run(str(copy)))["prefix"] == str(thin)
    gc = sandbox.run("gc")
    assert gc.returncode == 0, gc.stderr
    assert original.is_dir(), gc.stdout + gc.stderr
    assert report(sandbox.run(str(copy)))["alpha"] is not None
    # The last reference goes: so does what it referred to.
    assert sandbox.run("remove", str(copy)).returncode == 0
    assert sandbox.run("gc").returncode == 0
    assert not original.exists() and not thin.exists()
    assert sandbox.env_dirs() == []


def test_an_original_moving_on_keeps_what_its_copy_shares(
    sandbox: Sandbox, launch_path: str
) -> None:
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original = generation_of(sandbox, one)
    for _ in range(2):  # g1 is neither current nor kept for rollback afterwards
        assert sandbox.run("reinstall", str(one)).returncode == 0
    gc = sandbox.run("gc")
    assert gc.returncode == 0, gc.stderr
    assert original.is_dir()
    assert f"{original.parent.name} {original.name}" in gc.stdout + gc.stderr
    assert report(sandbox.run(str(copy)))["alpha"] is not None
    for _ in range(2):  # the copy moves on too: nothing refers to g1 any more
        assert sandbox.run("reinstall", str(copy)).returncode == 0
    assert sandbox.run("gc").returncode == 0
    assert not original.exists()


def test_an_edited_original_keeps_what_its_copy_shares(sandbox: Sandbox, launch_path: str) -> None:
    """An edit replaces the original's generation (a clone, beside.py) and deletes the
    replaced one once out of use: never while a copy's thin generation shares it."""
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original, thin = generation_of(sandbox, one), generation_of(sandbox, copy)
    before = installed(original)
    one.write_text(one.read_text().replace('["alpha"]', '["alpha", "beta"]'))
    assert report(sandbox.run(str(one)))["alpha"] is not None
    edited = generation_of(sandbox, one)
    assert edited != original and "beta" in installed(edited)
    assert original.is_dir() and installed(original) == before
    assert report(sandbox.run(str(copy)))["prefix"] == str(thin)
    assert "beta" not in installed(thin)


def test_list_and_show_say_who_shares(sandbox: Sandbox) -> None:
    import json

    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original, thin = generation_of(sandbox, one), generation_of(sandbox, copy)
    holder, user = original.parent.name, thin.parent.name
    listed = {e["name"]: e for e in json.loads(sandbox.run("list", "--json").stdout)}
    assert listed[holder]["shares"] == [f"{user}/{thin.name}"]
    assert listed[user]["shares"] == [f"{holder}/{original.name}"]
    # The shared packages are counted once: in the holder's size.
    assert listed[user]["size"] < listed[holder]["size"]
    assert listed[user]["freed"] <= 64 * 1024
    # Its python leads through the source's (thin.py): shown as the interpreter itself.
    shown_python = [listed[n]["variants"][0]["interpreter"] for n in (user, holder)]
    assert shown_python[0] == shown_python[1] and "/envs/" not in shown_python[0]
    shown = sandbox.run("show", str(copy)).stdout
    assert f"uses the packages of {holder}/{original.name}" in shown
    assert "alpha" in shown
    shown = json.loads(sandbox.run("show", "--json", str(one)).stdout)
    assert shown["shares"] == [f"{user}/{thin.name}"] and shown["thin"] is False


def test_a_generation_exec_may_have_changed_is_shared_with_no_copy(sandbox: Sandbox) -> None:
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    done = sandbox.run("exec", str(one), "--", "uv", "pip", "install", "-q", "beta")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "beta" in installed(generation_of(sandbox, one))
    report(sandbox.run(str(copy)))
    built = generation_of(sandbox, copy)
    assert sharers.source_of(str(built)) is None and "beta" not in installed(built)


@pytest.mark.parametrize("deleted", ["generation", "environment"])
def test_a_copy_whose_source_was_deleted_by_hand_is_rebuilt(
    sandbox: Sandbox, launch_path: str, deleted: str
) -> None:
    """Deleting a generation by hand is damage, as deleting site-packages is. Through
    each launch path, the warm start of a copy whose source is gone never runs the script
    without its packages: its interpreter is a link through the source's (thin.py), so
    the warm check of the interpreter fails and the slow path rebuilds."""
    import shutil

    from conftest import settle

    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    with must_be_warm(sandbox):
        report(sandbox.run(str(copy)))  # the warm record is written
    settle(sandbox)
    source = generation_of(sandbox, one)
    shutil.rmtree(source if deleted == "generation" else source.parent)
    again = sandbox.run(str(copy))
    assert report(again)["alpha"] is not None
    assert "the generation whose packages it shared is gone" in again.stderr
    rebuilt = generation_of(sandbox, copy)
    assert sharers.source_of(str(rebuilt)) is None and "alpha" in installed(rebuilt)
    with must_be_warm(sandbox):
        assert report(sandbox.run(str(copy)))["prefix"] == str(rebuilt)


def test_a_copy_activates_its_own_generation(sandbox: Sandbox) -> None:
    """``source WHERE/bin/activate`` in a copy's environment names the copy's generation,
    not the source's (whose files its other ``bin/`` entries are)."""
    import shutil

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy)))
    original, thin = generation_of(sandbox, one), generation_of(sandbox, copy)
    for script, generation in ((copy, thin), (one, original)):
        where = sandbox.run("where", str(script)).stdout.strip()
        shown = sandbox.capture(
            [
                bash,
                "-c",
                f'source "{where}/bin/activate" && echo "$VIRTUAL_ENV" && command -v python',
            ]
        )
        assert shown.returncode == 0, shown.stderr
        virtual_env, python = shown.stdout.split("\n")[:2]
        assert Path(virtual_env).resolve() == generation.resolve(), shown.stdout
        assert Path(python).parent.parent.resolve() == generation.resolve(), shown.stdout
    # Its own files: the source's stay as uv wrote them.
    assert (thin / "bin" / "activate").stat().st_ino != (
        original / "bin" / "activate"
    ).stat().st_ino
    assert str(original) in (original / "bin" / "activate").read_text()


@pytest.mark.parametrize("off", ["0", "no", "False"])
def test_switched_off_every_copy_builds(sandbox: Sandbox, off: str) -> None:
    """Sharing is on by default (the sandbox passes no UVLAUNCH_SHARE of the caller's);
    UVLAUNCH_SHARE=0 switches it off."""
    assert "UVLAUNCH_SHARE" not in sandbox.env
    one, copy, third = copies(sandbox, 3)
    report(sandbox.run(str(one)))
    report(sandbox.run(str(copy), env={**sandbox.env, "UVLAUNCH_SHARE": off}))
    assert sharers.source_of(str(generation_of(sandbox, copy))) is None
    report(sandbox.run(str(third), env={**sandbox.env, "UVLAUNCH_SHARE": "1"}))
    assert sharers.source_of(str(generation_of(sandbox, third))) is not None


def test_another_machines_generation_is_never_shared(sandbox: Sandbox, launch_path: str) -> None:
    """A source whose interpreter is not here (another machine's variant on a shared home,
    as its ``bin/python`` reads from this machine) is no copy's to share: the copy builds
    with this machine's interpreter and runs with its packages."""
    one, copy = copies(sandbox)
    report(sandbox.run(str(one)))
    source = generation_of(sandbox, one)
    python = source / "bin" / "python"
    elsewhere = "/nonexistent/other-machine/bin/python3"
    python.unlink()
    python.symlink_to(elsewhere)
    ran = report(sandbox.run(str(copy)))
    built = generation_of(sandbox, copy)
    assert sharers.source_of(str(built)) is None
    assert sharers.referrers(str(source)) == []
    assert ran["alpha"] is not None and ran["prefix"] == str(built)
    assert os.readlink(python) == elsewhere  # the other machine's generation untouched
