"""The import structure (docs/architecture.md): layers, and no circles between modules.

The layers are import-linter's contract in pyproject.toml, which `lint-imports` checks
in CI; this test keeps the modules free of circles within a layer too, and the layers'
packages' faces empty.
"""

from __future__ import annotations

from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp", reason="installed with import-linter (the lint group)")

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "uvlaunch"


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = grimp.build_graph("uvlaunch", exclude_type_checking_imports=True)
    circles = [
        (a, b)
        for a in sorted(graph.modules)
        for b in sorted(graph.find_modules_directly_imported_by(a))
        if graph.chain_exists(importer=b, imported=a)
    ]
    assert circles == []


def test_every_layer_package_is_an_empty_face() -> None:
    faces = sorted(PACKAGE.glob("*/__init__.py"))
    assert len(faces) >= 7, faces
    assert all(face.read_text() == "" for face in faces)
