"""Scripts from a URL: ``uvlaunch https://host/tool.py [ARGS...]``, as ``uv run URL``.

The script is fetched on every launch (it may have changed, as with ``uv run``) and
then runs as a piped script does (piped.py): its environment is keyed by its block.
The fetched bytes are kept in the home, ``piped/url-<hash of the URL>.py``, so that a
launch that cannot fetch (no network, the server down, ``UV_OFFLINE``) runs the copy
fetched last; gc deletes a copy not used for 30 days, ``remove --all`` every one.
At most ``piped.MAX_BYTES`` are read, with a timeout (``UVLAUNCH_FETCH_TIMEOUT``
seconds, default 30); every failure is one line naming the URL.
"""

from __future__ import annotations

import os

from uvlaunch.contract import TRUTHY
from uvlaunch.errors import ScriptError, UvlaunchError
from uvlaunch.home import paths, store
from uvlaunch.launching import piped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SCHEMES = ("http://", "https://")
TIMEOUT = 30.0  # seconds without an answer, by default
COPY_PREFIX = "url-"  # piped/url-<key>.py: a URL's script as fetched last


def is_url(word: str) -> bool:
    """Whether ``word`` is an http or https URL (which names no file here)."""
    return word.lower().startswith(SCHEMES) and len(word) > len("https://")


def copy_path(root: str, url: str) -> str:
    """Where the script fetched from ``url`` is kept."""
    key = store.sha256_hex(url.encode("utf-8", "surrogateescape"))[:20]
    return os.path.join(paths.piped_dir(root), f"{COPY_PREFIX}{key}.py")


def materialize(url: str, notify: Callable[[str], None]) -> tuple[str, str]:
    """piped.materialize for the script at ``url``: (its block's file, the file to run)."""
    root = piped.writable_home(url, "a script from a URL")
    return piped.from_bytes(root, script_bytes(url, root, notify), url)


def script_bytes(url: str, root: str, notify: Callable[[str], None]) -> bytes:
    """The script at ``url``: fetched now, else the copy fetched last (saying so)."""
    copy = copy_path(root, url)
    if os.environ.get("UV_OFFLINE", "").strip().lower() in TRUTHY:
        kept = _read_copy(copy)
        if kept is None:
            raise ScriptError(f"{url}: offline (UV_OFFLINE), and never fetched before")
        return kept
    try:
        data = fetch(url)
    except _Unreachable as e:
        kept = _read_copy(copy)
        if kept is None:
            raise ScriptError(f"{url}: cannot fetch the script: {e}") from None
        notify(f"{url}: cannot fetch the script ({e}); running the copy fetched before")
        return kept
    if _read_copy(copy) != data:
        store.write_atomic(root, copy, data, durable=False)
    return data


class _Unreachable(Exception):
    """No answer from the server (the network, DNS, a refused connection, a timeout)."""


def timeout() -> float:
    """``UVLAUNCH_FETCH_TIMEOUT`` in seconds, else TIMEOUT."""
    text = os.environ.get("UVLAUNCH_FETCH_TIMEOUT", "")
    if not text:
        return TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise UvlaunchError(f"UVLAUNCH_FETCH_TIMEOUT={text}: must be a number of seconds")
    return value


def fetch(url: str) -> bytes:
    """The body at ``url``; ScriptError for an answer that is no script, _Unreachable
    for no answer."""
    import urllib.error
    import urllib.request

    limit = timeout()
    request = urllib.request.Request(url, headers={"User-Agent": "uvlaunch"})
    too_big = f"{url}: the script is larger than {piped.MAX_BYTES // 2**20} MiB, the limit"
    try:
        with urllib.request.urlopen(request, timeout=limit) as answer:
            length = answer.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > piped.MAX_BYTES:
                raise ScriptError(too_big)
            data: bytes = answer.read(piped.MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        if e.code >= 500:  # the server is down or failing: as if unreachable
            raise _Unreachable(f"the server answered {e.code} {e.reason}") from None
        raise ScriptError(f"{url}: the server answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise _Unreachable(f"no answer within {limit:g} s") from None
        raise _Unreachable(getattr(reason, "strerror", None) or str(reason)) from None
    except TimeoutError:
        raise _Unreachable(f"no answer within {limit:g} s") from None
    except (OSError, ValueError) as e:  # a reset connection, a malformed URL or answer
        raise ScriptError(f"{url}: cannot fetch the script: {e}") from None
    if len(data) > piped.MAX_BYTES:
        raise ScriptError(too_big)
    return data


def _read_copy(path: str) -> bytes | None:
    """The kept copy, refreshed as used (gc goes by its time); None if there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        import stat

        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None  # not uvlaunch's: never run
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        os.utime(fd)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
