"""Which environment a script file has: found by inode, then by path, or recovered.

A launch registers the script it starts (``register``): found as recorded, through
another name of the same file, moved (the same inode under a new name: samefile.py
tells a move from a new file given a freed inode) or saved (a new inode at the
recorded path); a record or index entry that was lost or damaged is recovered and
written again. Records and index entries change under ``store.index_lock``.
"""

from __future__ import annotations

import os

from uvlaunch.home import index, newrecord, paths, pointer, samefile, stamp, views, warm
from uvlaunch.home.env import Env
from uvlaunch.home.index import index_record, indexed, path_key_path, read_index, unindex_record
from uvlaunch.home.names import is_safe_name
from uvlaunch.home.records import (
    MAX_NAMES,
    Record,
    encode_record,
    new_name,
    preferred_name,
    read_record,
    write_record,
)
from uvlaunch.home.store import index_lock, now

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

    from uvlaunch.scripts.identity import (
        ScriptIdentity,  # what a script is: read by the layer above
    )


def lookup(root: str, script: ScriptIdentity) -> tuple[Record | None, str]:
    """Find the environment of ``script``: (record, how), reading a constant number of files.

    ``how`` is "same" (found as recorded), "hardlink" (found through another link to the
    recorded file), "moved" (same inode, new path) or "saved" (same path, new inode).
    Call with the index lock held when the result may lead to a write.
    """
    for key in (
        paths.inode_key_path(root, script.dev, script.ino),
        path_key_path(root, script.path),
    ):
        name = read_index(key)
        rec = None if name is None else read_record(root, name)
        how = None if rec is None else _how(root, rec, script)
        if rec is not None and how is not None:
            return rec, how
    return None, "new"


def _how(root: str, rec: Record, script: ScriptIdentity) -> str | None:
    """How ``script`` is the file ``rec`` records (see ``lookup``); None: it is not."""
    if (rec.dev, rec.ino) == (script.dev, script.ino):
        if rec.script == script.path:
            return "same"
        if samefile.same_file(rec.script, rec.dev, rec.ino):
            return "hardlink"  # both names lead to one file now: no birth time needed
        # The recorded name is gone. A move, or a new file given the freed inode?
        if samefile.is_recorded_file(root, rec, script.uid, script.born(), script.block):
            return "moved"
    if rec.script == script.path:
        if samefile.same_file(rec.script, rec.dev, rec.ino) or rec.ino == script.ino:
            # The same path and inode under another device: the same file seen by
            # another NFS client of a shared home. Its record stays as it is.
            return "same"
        return "saved"
    return None


def recover(root: str, script: ScriptIdentity) -> Record | None:
    """After a failed lookup: the environment of ``script`` whose record was lost or damaged.

    Candidates are the names its index entries still give, the name its warm record
    gives (the other place that knows the file by its inode) and the name it would get;
    one is taken when its record names this file (the index was damaged: see ``_how``),
    when its record is unreadable and its stamp names this file, or, with the stamp
    unreadable too, when it is the very name this file would get.
    """
    found = warm.read(root, script.dev, script.ino)
    candidates = [
        read_index(paths.inode_key_path(root, script.dev, script.ino)),
        read_index(path_key_path(root, script.path)),
        None if found is None or not is_safe_name(found.name) else found.name,
        preferred_name(script),
    ]
    for i, name in enumerate(candidates):
        if name is None:
            continue
        rec = read_record(root, name)
        if rec is not None:
            # Readable, but the index that leads to it was damaged or lost.
            if _how(root, rec, script) is not None:
                return rec
            continue  # another file's
        env = pointer.current(root, name)
        fields = None if env is None else stamp.read(paths.stamp_path(env))
        if fields is not None:
            same_file = (fields.dev, fields.ino) == (str(script.dev), str(script.ino))
            if same_file and fields.script != paths.to_stored(script.path):
                same_file = fields.block == script.block()  # no birth time to go by
            if not (same_file or fields.script == paths.to_stored(script.path)):
                continue
        elif i < 3 or not (
            os.path.lexists(paths.record_path(root, name))
            or os.path.lexists(paths.env_dir(root, name))
        ):
            continue
        return Record(
            name, script.path, script.dev, script.ino, now(), born=script.born(), uid=script.uid
        )
    return None


def register(
    root: str, ident: ScriptIdentity, *, waiting: Callable[[str], None] | None = None
) -> Record:
    """Find the environment record of ``ident``, creating or updating it as needed.

    Index entries found missing or damaged on the way are written again. Names are kept
    per view (views.py): another view's name is no move. A new record is made in one
    step that one machine wins (newrecord.py). ``waiting`` is told the index lock's
    path when another process holds it long.
    """
    names: tuple[str, ...] = ()
    with index_lock(root, waiting):
        rec, how = lookup(root, ident)
        if rec is None:
            # A damaged record or index must not cost the script its environment.
            rec = recover(root, ident)
            if rec is not None and read_record(root, rec.name) is not None:
                how = _how(root, rec, ident) or "new"
            elif rec is not None:
                how = "rebuilt"  # from its stamp: written afresh below
        if rec is not None and how == "moved" and views.elsewhere(rec, rec.script):
            how = "view"  # the recorded name is another view's: the file did not move
        if rec is not None and how in ("same", "hardlink", "view"):
            known = rec
            if how == "hardlink" and ident.path not in rec.names:
                # Another name of the same file: one script, known by every name it had.
                known = rec.with_names((*rec.names, ident.path)[-MAX_NAMES:])
            known = views.with_name(known, ident.path)
            if known is not rec:
                write_record(root, known)
                if how == "view":
                    index.write_path_entry(root, ident.path, known.name)
            rec = known
            if rec.born is None and (rec.dev, rec.ino) == (ident.dev, ident.ino):
                rec = _with_birth(root, rec, ident.born())
            if not indexed(root, rec):
                index_record(root, rec)  # a damaged index repaired
            return rec
        if rec is None or how == "new":
            # Its birth time later, off the first launch's way (note_birth). Made in one
            # step that one machine wins; a loser adopts the winner's (newrecord.py).
            fresh = Record(
                new_name(root, ident), ident.path, ident.dev, ident.ino, now(), uid=ident.uid
            )
            fresh = views.with_name(fresh, ident.path)
            return newrecord.create(root, fresh, encode_record(fresh), read_record)
        elif how in ("moved", "saved"):
            # A move keeps the inode, an editor's atomic save keeps the path: record the new one.
            unindex_record(root, rec)
            name, created = rec.name, rec.created
            born = rec.born if how == "moved" and rec.born is not None else ident.born()
            if how == "moved":  # the other names of the file still lead to it
                names = tuple(n for n in rec.names if n != ident.path)
        else:
            name, created, born = rec.name, rec.created, rec.born
        old_views = rec.views if rec is not None else {}
        rec = Record(
            name,
            ident.path,
            ident.dev,
            ident.ino,
            created,
            names,
            born=born,
            uid=ident.uid,
            views=old_views,
        )
        rec = views.with_name(rec, ident.path)
        write_record(root, rec)
        index_record(root, rec)
        return rec


def _with_birth(root: str, rec: Record, born: int | None) -> Record:
    if born is None:
        return rec
    rec = Record(
        rec.name,
        rec.script,
        rec.dev,
        rec.ino,
        rec.created,
        rec.names,
        born=born,
        uid=rec.uid,
        views=rec.views,
    )
    write_record(root, rec)
    return rec


def note_birth(env: Env) -> None:
    """Give the record of ``env`` its script's birth time if it has none yet.

    A first launch leaves it out (reading it costs milliseconds): its background
    compiler, ``install`` or the next slow launch put it in, while the file is there.
    """
    root = env.root
    with index_lock(root):
        rec = read_record(root, env.name)
        if (
            rec is not None
            and rec.born is None
            and samefile.same_file(rec.script, rec.dev, rec.ino)
        ):
            _with_birth(root, rec, samefile.birth_ns(rec.script, rec.ino))
