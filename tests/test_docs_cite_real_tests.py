"""The docs prove their claims by naming tests (``tests/x.py::test_y``): every file and test they
name exists, so a renamed or deleted test cannot leave a claim pointing at nothing."""

from __future__ import annotations

import re

from compiler.harness.fixtures import ROOT


def test_every_test_the_docs_cite_exists():
    cited = 0
    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", doc.read_text(encoding="utf-8")):
            cited += 1
            f = ROOT / path
            if not f.is_file() or (name and not re.search(rf"^def {name}\b", f.read_text(encoding="utf-8"), re.M)):
                missing.append(f"{doc.name}: {path}{'::' + name if name else ''}")
    assert cited >= 20 and missing == []
