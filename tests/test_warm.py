"""The warm record (warm.py): encoded, read back, refused when damaged, matched to a script.

Quick tests: a home in tmp_path, no uv. What the native launcher makes of the same
records is tested end to end in test_native.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from uvlaunch import contract
from uvlaunch.home import paths, stamp, store, warm

NAME = "job-0123456789"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UVLAUNCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("UVLAUNCH_UV", raising=False)
    return store.open_home()


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "scripts" / "job.py"
    path.parent.mkdir()
    path.write_text("print('hi')\n")
    return path


@pytest.fixture
def uv_bin(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "uv"
    path.parent.mkdir()
    path.write_bytes(b"not really uv")
    return path


def record_for(root: str, script: Path, uv_bin: Path, name: str = NAME) -> warm.Warm:
    """The record a launch would write for ``script`` now, in its generation g1."""
    env = paths.generation_dir(root, name, "g1")
    return warm.Warm(
        name=name,
        script_sig=warm.script_signature(script.stat()),
        lock_sig=stamp.file_signature(str(script) + ".lock"),
        uv=str(uv_bin),
        uv_sig=stamp.file_signature(str(uv_bin)),
        env=env,
        python=paths.env_python(env),
        python_sig="-",
        scripts=(str(script),),
    )


def fields_of(record: warm.Warm) -> dict[str, object]:
    return {f: getattr(record, f) for f in contract.WARM_FIELDS[1:-1]}


def test_written_then_read_back(root: str, script: Path, uv_bin: Path) -> None:
    record = record_for(root, script, uv_bin)
    st = script.stat()
    warm.write(root, st.st_dev, st.st_ino, record)
    raw = Path(paths.warm_path(root, st.st_dev, st.st_ino)).read_bytes()
    fixed = [getattr(record, f) for f in contract.WARM_FIELDS[1:-2]]
    assert raw.split(b"\0") == [
        contract.WARM_MAGIC.encode(),
        *(os.fsencode(v) for v in fixed),
        *(os.fsencode(v) for v in record.scripts),
        b"end",
        b"",
    ]
    back = warm.read(root, st.st_dev, st.st_ino)
    assert back is not None and fields_of(back) == fields_of(record)
    assert os.listdir(paths.tmp_dir(root)) == []


def test_a_script_path_that_is_not_utf8_round_trips(root: str, uv_bin: Path) -> None:
    path = os.fsdecode(b"/srv/caf\xe9/x.py")  # stored as its bytes
    record = warm.Warm(**{**fields_of(record_for(root, uv_bin, uv_bin)), "scripts": (path,)})
    warm.write(root, 1, 2, record)
    assert b"\0/srv/caf\xe9/x.py\0" in Path(paths.warm_path(root, 1, 2)).read_bytes()
    back = warm.read(root, 1, 2)
    assert back is not None and back.scripts == (path,)


def test_every_name_of_the_script_round_trips_and_what_does_not_fit_is_left_out(
    root: str, uv_bin: Path
) -> None:
    names = tuple(f"/srv/{i:04}/" + "x" * 1000 for i in range(40))
    record = warm.Warm(**{**fields_of(record_for(root, uv_bin, uv_bin)), "scripts": names[:3]})
    warm.write(root, 1, 2, record)
    back = warm.read(root, 1, 2)
    assert back is not None and back.scripts == names[:3]
    record.scripts = names  # more than fit: the first, and the latest of the others
    raw = record.encode()
    assert len(raw) <= contract.WARM_MAX
    warm.write(root, 1, 2, record)
    back = warm.read(root, 1, 2)
    assert back is not None and back.scripts[0] == names[0]
    assert back.scripts[-1] == names[-1] and 20 < len(back.scripts) < len(names)


def _damaged(good: bytes) -> list[bytes]:
    parts = good.split(b"\0")
    return [
        b"",
        good[:-1],  # the last NUL cut off
        good[: len(good) // 2],
        good + b"x\0",  # a field after the end
        b"\0".join(parts[:3] + parts[4:]),  # a field too few
        b"\0".join(parts[:-3] + parts[-2:]),  # no script
        good.replace(contract.WARM_MAGIC.encode(), b"uvlaunch-warm-1", 1),
        good.replace(b"\0end\0", b"\0END\0"),
        good[:-1] + b"x" * (contract.WARM_MAX + 1) + b"\0",  # larger than the limit
    ]


@pytest.mark.parametrize("case", range(9))
def test_a_damaged_record_is_not_warm(root: str, script: Path, uv_bin: Path, case: int) -> None:
    good = record_for(root, script, uv_bin).encode()
    path = Path(paths.warm_path(root, 1, 2))
    path.write_bytes(good)
    assert warm.read(root, 1, 2) is not None
    path.write_bytes(_damaged(good)[case])
    assert warm.read(root, 1, 2) is None


def test_a_record_that_is_not_a_plain_file_is_not_warm(
    root: str, script: Path, uv_bin: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "planted"
    elsewhere.write_bytes(record_for(root, script, uv_bin).encode())
    os.symlink(elsewhere, paths.warm_path(root, 1, 2))
    assert warm.read(root, 1, 2) is None  # not followed
    os.mkdir(paths.warm_path(root, 3, 4))
    assert warm.read(root, 3, 4) is None
    assert warm.read(root, 5, 6) is None  # none at all


def test_a_field_with_nul_is_never_written(root: str, script: Path, uv_bin: Path) -> None:
    record = record_for(root, script, uv_bin)
    record.scripts = ("/srv/a\0b.py",)
    with pytest.raises(ValueError, match="NUL"):
        record.encode()
    warm.write(root, 1, 2, record)  # fails quietly: the script is just not warm
    assert not os.path.lexists(paths.warm_path(root, 1, 2))
    assert os.listdir(paths.tmp_dir(root)) == []


def test_matches_the_script_it_was_made_for(root: str, script: Path, uv_bin: Path) -> None:
    record = record_for(root, script, uv_bin)
    assert warm.matches(root, record, str(script), script.stat())
    link = script.with_name("other-name.py")
    os.link(script, link)  # a hard link is the same script (and changes its ctime)
    record = record_for(root, script, uv_bin)
    # Not by a name it is not recorded by: the slow path records that one first.
    assert not warm.matches(root, record, str(link), link.stat())
    record.scripts = (str(script), str(link))
    assert warm.matches(root, record, str(link), link.stat())
    assert warm.matches(root, record, str(script), script.stat())


@pytest.mark.parametrize(
    "change",
    ["edited", "touched", "chmod", "lock file", "uv replaced", "another file", "foreign name"],
)
def test_does_not_match_once_something_changed(
    root: str, script: Path, uv_bin: Path, change: str
) -> None:
    record = record_for(root, script, uv_bin)
    path = str(script)
    if change == "edited":
        script.write_text("print('changed')\n")
    elif change == "touched":
        st = script.stat()
        os.utime(script, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "chmod":
        script.chmod(0o700)
    elif change == "lock file":
        Path(path + ".lock").write_text("version = 1\n")
    elif change == "uv replaced":
        uv_bin.write_bytes(b"a newer uv")
    elif change == "another file":
        other = script.with_name("other.py")
        other.write_text(script.read_text())
        path = str(other)
        os.utime(other, ns=(script.stat().st_atime_ns, script.stat().st_mtime_ns))
    elif change == "foreign name":
        record.name = "../../elsewhere"
    assert not warm.matches(root, record, path, os.stat(path))


def test_does_not_match_an_environment_outside_the_home(
    root: str, script: Path, uv_bin: Path, tmp_path: Path
) -> None:
    record = record_for(root, script, uv_bin)
    record.env = str(tmp_path / "elsewhere")
    assert not warm.matches(root, record, str(script), script.stat())
    record = record_for(root, script, uv_bin)
    record.python = "/usr/bin/python3"
    assert not warm.matches(root, record, str(script), script.stat())


def test_uvlaunch_uv_must_name_the_recorded_uv(
    root: str, script: Path, uv_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = record_for(root, script, uv_bin)
    monkeypatch.setenv("UVLAUNCH_UV", str(uv_bin))
    assert warm.matches(root, record, str(script), script.stat())
    monkeypatch.setenv("UVLAUNCH_UV", str(uv_bin) + "-other")
    assert not warm.matches(root, record, str(script), script.stat())


def test_from_stamp_is_about_that_file_only(root: str, script: Path) -> None:
    st = script.stat()
    fields = stamp.Stamp(dev=str(st.st_dev), ino=str(st.st_ino), script=str(script), uv="/uv")
    env = paths.generation_dir(root, NAME, "g1")
    record = warm.from_stamp(NAME, env, st, fields)
    assert record is not None
    assert (record.name, record.scripts, record.uv) == (NAME, (str(script),), "/uv")
    assert (record.lock_sig, record.uv_sig, record.python_sig) == ("-", "-", "-")
    assert record.env == env
    assert record.script_sig == warm.script_signature(st)
    assert warm.from_stamp(NAME, env, st, fields.replace(ino=str(st.st_ino + 1))) is None


def test_discard_removes_only_the_named_environments_record(
    root: str, script: Path, uv_bin: Path
) -> None:
    warm.write(root, 1, 2, record_for(root, script, uv_bin))
    warm.discard(root, 1, 2, "other-0123456789")
    assert warm.read(root, 1, 2) is not None
    warm.discard(root, 1, 2, NAME)
    assert warm.read(root, 1, 2) is None


def test_sweep_keeps_records_of_current_generations(root: str, script: Path, uv_bin: Path) -> None:
    from uvlaunch.home import pointer

    os.makedirs(paths.generation_dir(root, NAME, "g1"))
    pointer.point(root, NAME, pointer.CURRENT, "g1")
    warm.write(root, 1, 2, record_for(root, script, uv_bin))
    warm.write(root, 3, 4, record_for(root, script, uv_bin, name="gone-0123456789"))
    Path(paths.warm_path(root, 5, 6)).write_bytes(b"garbage")
    Path(paths.warm_dir(root), "not-a-key").write_bytes(b"garbage")
    Path(paths.warm_dir(root), "7-8").write_bytes(b"")  # an older uvlaunch's name
    # Another view's (a container's) records name the generation at its own path.
    other = os.path.join(root, "other-view")
    mine = warm.read(root, 1, 2)
    assert mine is not None
    for generation, ino in (("g1", 10), ("g2", 11)):
        seen = warm.Warm(**{**fields_of(mine), "env": f"{other}/envs/{NAME}/{generation}"})
        name = os.path.basename(paths.warm_path(other, 9, ino))
        Path(paths.warm_dir(root), name).write_bytes(seen.encode())
    warm.sweep(root)
    kept = [paths.warm_path(root, 1, 2), paths.warm_path(other, 9, 10)]
    assert sorted(os.listdir(paths.warm_dir(root))) == sorted(map(os.path.basename, kept))
