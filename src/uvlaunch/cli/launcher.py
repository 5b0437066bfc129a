"""Which launcher the ``uvlaunch`` command is: the native one (setup.py) or Python's."""

from __future__ import annotations

import os
import sys

# ELF, then Mach-O 64-bit, 32-bit and universal.
NATIVE_MAGIC = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def kind() -> str:
    """ "native" when the ``uvlaunch`` beside this entry point is a binary, else "Python"."""
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    try:
        with open(os.path.join(here, "uvlaunch"), "rb") as f:
            magic = f.read(4)
    except OSError:
        return "Python"
    return "native" if magic in NATIVE_MAGIC else "Python"
