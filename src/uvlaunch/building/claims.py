"""One builder per environment across machines whose locks do not reach each other.

The environment's lock is a ``flock``: on NFS mounted ``nolock``, Lustre mounted
``localflock`` or BeeGFS without global locks it holds only on the machine that took
it, and a job array starting one new script on dozens of nodes would build it on every
node. Before a launch builds (a first build, a variant for this machine's Python, a
rebuild, a block edit) it therefore also takes the environment's *claim*:
``envs/NAME/claim``, made with ``link(2)`` from a complete temporary file, which one
machine wins on every filesystem that shares a home. The claim names the machine
(machines.host) and the process.

The other machines wait for the claim to go, saying once who holds it, then look again
(the build is usually theirs too: the same Python, the same variant). They wait at
most ``UVLAUNCH_BUILD_WAIT`` seconds (default 600), and not at all for a claim older
than ``machines.BUILD_GRACE``: then they build beside it, in a generation of their own
(``mkdir`` of a new number), never in the claimant's. A claim of this very machine is
what a killed launch left: the environment's lock (which does work on one machine) is
held whenever a claim is taken, so it is dropped and taken afresh.
"""

from __future__ import annotations

import errno
import os
import time

from uvlaunch.building import machines
from uvlaunch.errors import HomeError
from uvlaunch.home import paths, store
from uvlaunch.home.env import Env

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms here
if TYPE_CHECKING:
    from collections.abc import Callable

CLAIM = "claim"
WAIT = 600.0  # seconds to wait for another machine's build (UVLAUNCH_BUILD_WAIT)
POLL = 0.5  # the longest pause between two looks at another machine's claim


class Claim:
    """This process's claim on an environment's build (``release`` it)."""

    __slots__ = ("path", "text")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def release(self) -> None:
        """Drop the claim, if it is still this process's."""
        if _read(self.path) == self.text:
            store.remove_file(self.path)


def claim_path(env: Env) -> str:
    return os.path.join(env.dir, CLAIM)


def wait_limit() -> float:
    """How long to wait for another machine's build: ``UVLAUNCH_BUILD_WAIT`` or WAIT."""
    text = os.environ.get("UVLAUNCH_BUILD_WAIT", "")
    try:
        return max(0.0, float(text)) if text else WAIT
    except ValueError:
        return WAIT


def take(env: Env) -> Claim | None:
    """Claim the build of ``env`` (call with its lock held); None if another machine has it."""
    env.make_dir()
    path = claim_path(env)
    text = f"{machines.host()}\n{os.getpid()}\n"
    for _ in range(3):
        try:
            made = _create(env.root, path, text)
        except OSError as e:
            raise HomeError(
                f"{path}: cannot claim the build of the environment: {e.strerror}; "
                "the environment was left as it was"
            ) from None
        if made:
            return Claim(path, text)
        holder = _read(path)
        if holder is None:
            continue  # gone meanwhile
        if holder.split("\n", 1)[0] != machines.host():
            return None
        # Ours, so left by a killed launch: we hold the lock every claimant holds here.
        _drop_stale(env.root, path, holder)
    return None


def holder(env: Env) -> tuple[str, float, str] | None:
    """Who holds the claim of ``env`` (the hostname), since when, and the claim's text;
    None if nobody."""
    path = claim_path(env)
    text = _look(path)
    try:
        since = os.lstat(path).st_mtime
    except OSError:
        return None
    if text is None:
        return None
    return machines.host_name(text.split("\n", 1)[0].strip("\0")), since, text


def busy(env: Env) -> str:
    """Who holds the claim of ``env``, in words (for "busy" outcomes)."""
    found = holder(env)
    return f"{found[0] if found else 'another machine'} is building its environment"


def wait(env: Env, notify: Callable[[str], None], invoked: str, *, waited: float) -> bool:
    """Wait for another machine's claim on ``env`` to go; whether it went (else: the
    deadline passed, or the claim is too old to be a build still running).

    ``waited``: seconds this launch already waited (a launch may wait more than once).
    """
    found = holder(env)
    if found is None:
        return True
    host, since, text = found
    limit = wait_limit() - waited
    if limit <= 0 or store.now() - since > machines.BUILD_GRACE:
        notify(
            f"{invoked}: {host} has been building its environment since "
            f"{time.strftime('%H:%M:%S', time.localtime(since))}; building beside it"
        )
        return False
    notify(
        f"{invoked}: waiting for {host}, which is building its environment (at most {limit:.0f} s)"
    )
    path = claim_path(env)
    started = time.monotonic()
    # The claim is read, not looked up: a client of a shared filesystem answers a
    # lookup (stat, exists) from what it cached, for up to a minute on NFS, while
    # opening a file asks the server (close-to-open). Looked at more often early on: a
    # build that ended is noticed within a twentieth of the wait (at most POLL seconds).
    while _look(path) == text:
        elapsed = time.monotonic() - started
        if elapsed >= limit:
            notify(f"{invoked}: {host} is still building its environment; building beside it")
            return False
        time.sleep(min(max(0.005, elapsed / 20), POLL, limit - elapsed))
    _refresh(env.dir)
    return True


def _refresh(top: str) -> None:
    """Make this client look at the directory ``top`` again: opening a directory makes an
    NFS client revalidate what it cached of it (the pointer the builder made)."""
    try:
        os.listdir(top)
    except OSError:
        pass


def _create(root: str, path: str, text: str) -> bool:
    """Make ``path`` hold ``text`` unless it exists: whether this call made it."""
    tmp = os.path.join(paths.tmp_dir(root), f"claim.{os.urandom(8).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode("utf-8", "replace"))
    except BaseException:
        store.remove_file(tmp)
        raise
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # complete when seen; one machine wins
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        return _create_exclusive(path, text)  # a filesystem without hard links
    finally:
        store.remove_file(tmp)


def _create_exclusive(path: str, text: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, text.encode("utf-8", "replace"))
    finally:
        os.close(fd)
    return True


def _drop_stale(root: str, path: str, text: str) -> None:
    """Remove the claim at ``path`` if it still says ``text``: moved aside first, so that
    a claim another machine made meanwhile is put back, not lost."""
    aside = os.path.join(paths.tmp_dir(root), f"claim-stale.{os.urandom(8).hex()}")
    try:
        os.rename(path, aside)
    except OSError:
        return
    if _read(aside) != text:
        try:
            os.link(aside, path)
        except OSError:
            pass
    store.remove_file(aside)


def _look(path: str) -> str | None:
    """The claim's text; a NUL for one that is there but cannot be read; None if gone."""
    text = _read(path)
    if text is None and os.path.lexists(path):
        return "\0"
    return text


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
