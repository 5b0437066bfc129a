"""Which machine (and which view of the files) this process runs on.

A home shared by machines whose locks do not reach each other (NFS ``nolock``, Lustre
``localflock``) and by containers and their host needs a name for each of them that two
of them never share: the hostname alone is not one (containers started from one image,
nodes that report a short common name). The identity is the hostname, the boot id
(else the machine id) and the mount namespace: each mount namespace may see the home
and the scripts at paths of its own, so it is a *view* of its own (docs/how-it-works.md,
"Many machines, one home").
"""

from __future__ import annotations

import os

_HOST: list[str] = []


def host() -> str:
    """This machine and view: "HOSTNAME BOOT-ID MOUNT-NAMESPACE"."""
    if not _HOST:
        boot = _first_line("/proc/sys/kernel/random/boot_id") or _first_line("/etc/machine-id")
        try:
            namespace = str(os.stat("/proc/self/ns/mnt").st_ino)
        except OSError:
            namespace = "-"
        _HOST.append(f"{_hostname()} {boot or '-'} {namespace}")
    return _HOST[0]


def host_key() -> str:
    """``host()`` in twelve hex digits, for file names and records."""
    from uvlaunch.home.store import sha256_hex

    return sha256_hex(host().encode("utf-8", "replace"))[:12]


def host_name(identity: str) -> str:
    """The hostname part of a ``host()`` identity, for messages."""
    return identity.split(" ", 1)[0] or "another machine"


def _hostname() -> str:
    # uname where there is one: importing socket costs every first launch 3 ms or more.
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def _first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""
