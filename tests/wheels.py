"""Tiny pure-Python wheels, written with zipfile: the test suite's and the benchmarks' one copy.

tests/conftest.py builds its wheelhouse with it, and benchmarks/bench.py its synthetic
package (it puts this directory on ``sys.path``). Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(
    outdir: Path,
    name: str,
    version: str,
    *,
    body: str | None = None,
    files: dict[str, str] | None = None,
    requires: tuple[str, ...] = (),
    console_scripts: dict[str, str] | None = None,
) -> Path:
    """Write a minimal pure-Python wheel ``name-version`` into ``outdir``; returns its path.

    Its files are ``files`` (archive name -> text) when given, else one module,
    ``name/__init__.py``, holding ``body`` (by default ``VERSION = "<version>"``).
    """
    if files is not None and body is not None:
        raise ValueError("give a wheel's files or its body, not both")
    dist_info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = dict(files) if files is not None else {}
    if files is None:
        contents[f"{name}/__init__.py"] = body if body is not None else f"VERSION = {version!r}\n"
    contents[f"{dist_info}/METADATA"] = meta
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: uvlaunch-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if console_scripts:
        contents[f"{dist_info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in console_scripts.items()
        )
    path = outdir / f"{name}-{version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, text in contents.items():
            data = text.encode()
            zf.writestr(arcname, data)
            records.append(f"{arcname},{_record_hash(data)},{len(data)}")
        records.append(f"{dist_info}/RECORD,,")
        zf.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return path
