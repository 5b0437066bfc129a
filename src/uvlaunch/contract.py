"""What the native launcher (native/launcher.c) and the Python side share, written once.

launcher.c spells each of these out as a C constant; tests/test_contract.py reads
launcher.c and fails when the two disagree, so a change here must be made there too
(docs/architecture.md, "The native contract"). Imported on the warm path: constants only.
"""

from __future__ import annotations

# Words that are a subcommand, not a script, as the first word after the launch options
# (launcher.c: SUBCOMMANDS). The native launcher hands every one of them to Python.
SUBCOMMANDS = (
    "run",
    "where",
    "list",
    "show",
    "dir",
    "gc",
    "remove",
    "sync",
    "exec",
    "upgrade",
    "reinstall",
    "rollback",
    "install",
    "uninstall",
)

# The home's directories. Each that exists must be a real directory owned by the user and
# not writable by group or others before a launch acts on anything in the home
# (launcher.c: HOME_DIRS; trust.py).
HOME_DIRS = (
    "envs",
    "records",
    "index",
    "locks",
    "trash",
    "tmp",
    "pyc",
    "piped",
    "warm",
    "commands",
)

# The warm record (warm.py; launcher.c: WARM_MAGIC, WARM_FIELDS, WARM_MAX), in the file
# HOME/warm/DEV-INO-HOMEKEY: the script's st_dev and st_ino in decimal, HOMEKEY the
# FNV-1a below of the home's path in sixteen hex digits (paths.warm_path; launcher.c).
WARM_MAGIC = "uvlaunch-warm-4"
# "scripts" is one field or more: every name the file was recorded by (records.py).
WARM_FIELDS = (
    "magic",
    "name",
    "script_sig",
    "lock_sig",
    "uv",
    "uv_sig",
    "env",
    "pointer",
    "python",
    "python_sig",
    "scripts",
    "end",
)
WARM_MAX = 32768

# The hex digits of a variant's key: envs/NAME/current-KEY is the pointer of the variant
# for another interpreter (pointer.py, machines.py; launcher.c: VARIANT_DIGITS).
VARIANT_DIGITS = 8

# The sync stamp's first and last fields (stamp.py; launcher.c: STAMP_MAGIC, STAMP_END).
STAMP_MAGIC = "uvlaunch-stamp-1"
STAMP_END = "end"

# The longest environment name (names.is_safe_name; launcher.c: MAX_NAME).
MAX_NAME = 60

# The most digits in a generation's number (pointer.py; launcher.c: MAX_GENERATION).
MAX_GENERATION = 9

# UVLAUNCH_NO_FAST_PATH turns the fast path off when set to one of these, in any case
# (launcher.c: no_fast_path()).
TRUTHY = ("1", "true", "yes", "on")

# The Python implementation the native launcher hands over to, beside it (launcher.c: PY_NAME).
PY_NAME = "uvlaunch-py"

# Where a launch from a read-only home records its use (usage.py; launcher.c: STATE_APP,
# USED_DIR, FNV_OFFSET, FNV_PRIME): STATE/used/HOMEKEY/NAME.POINTER, HOMEKEY the 64-bit
# FNV-1a of the home's path in sixteen hex digits.
STATE_APP = "uvlaunch"
USED_DIR = "used"
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
