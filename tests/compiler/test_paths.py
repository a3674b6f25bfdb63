"""Files a rule set names stay inside the rule set's folder (compiler/paths.py, docs/security.md):
generated hostile names for a model's ``coefficients:`` — absolute, ``..``, symbolic links out of
the folder, loops, NUL — are refused at their location before any file is opened; names inside the
folder keep working; and a file that is not a coefficient file (a secret, say) shows no more of
itself than the offending token."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.errors import CompileError
from compiler.paths import OutsideFolder, inside
from compiler.pipeline import Options, run

SECRET = "hunter2-s3cr3t-t0k3n"
RULESET = """\
strata: 1
name: shop
goals: [purchase]
models:
  intent:
    goal: purchase
    features:
      device: {{signal: device.type, values: [mobile, desktop]}}
    coefficients: {name}
slots:
  - id: hero
    default: {{headline: Hi}}
"""


def world(root: Path) -> Path:
    """A rule-set folder ``root/rs`` beside an outside folder holding a secret, with links: out of
    the folder (a file and a folder), inside it, and a loop."""
    rs, outside = root / "rs", root / "outside"
    (rs / "sub").mkdir(parents=True, exist_ok=True)
    outside.mkdir(exist_ok=True)
    (outside / "secret.yaml").write_text(f"password: {SECRET}\n")
    (rs / "sub" / "c.yaml").write_text("bias: 0\n")
    (rs / "c.yaml").write_text("bias: 0\n")
    for link, target in (("out_file", outside / "secret.yaml"), ("out_dir", outside), ("in_file", rs / "c.yaml"),
                         ("in_dir", rs / "sub"), ("loop", rs / "loop")):
        if not (rs / link).is_symlink():
            (rs / link).symlink_to(target)
    return rs


SEGMENTS = st.sampled_from(["..", ".", "c.yaml", "sub", "out_file", "out_dir", "in_file", "in_dir", "loop", "secret.yaml", "x"])
PREFIXES = st.sampled_from(["", "/", "//", "C:\\", "\\\\server\\share\\", "C:", "./"])


def escapes(rs: Path, name: str) -> bool:
    """The oracle: whether ``name`` is absolute, has a '..' or resolves (links followed) outside."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    if ".." in name.replace("\\", "/").split("/"):
        return True
    try:
        real = os.path.realpath(rs / name, strict=False)
    except OSError:
        return True
    return not (real + os.sep).startswith(str(rs.resolve()) + os.sep) and real != str(rs.resolve())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(PREFIXES, st.lists(SEGMENTS, min_size=1, max_size=5), st.sampled_from(["/", "\\"]))
def test_paths_inside_refuses_every_name_that_leaves_the_folder(tmp_path, prefix, segments, sep):
    rs = world(tmp_path)
    name = prefix + sep.join(segments)
    try:
        got = inside(rs, name)
    except OutsideFolder:
        assert escapes(rs, name) or "loop" in segments, name
        return
    assert not escapes(rs, name), f"{name!r} leaves the folder but was accepted as {got}"
    assert got == rs / name and got.resolve().is_relative_to(rs.resolve())


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside/secret.yaml", "sub/../../outside/secret.yaml", "out_file", "out_dir/secret.yaml",
                                  "sub/../c.yaml", "..\\outside\\secret.yaml", "C:\\secret.yaml", "loop", "bad\x00name"])
def test_paths_the_compiler_refuses_a_name_outside_at_its_location_without_reading_it(tmp_path, name, capsys):
    rs = world(tmp_path)
    text = RULESET.format(name=f"'{name}'" if "\x00" not in name else '"bad\\0name"')
    (rs / "shop.yaml").write_text(text)
    with pytest.raises(CompileError) as e:
        run(rs / "shop.yaml", Options())
    (d,) = e.value.diagnostics
    assert (d.code, d.pos.line, d.pos.col) == ("path-outside", 9, 19)
    assert SECRET not in e.value.diagnostics[0].display()


@pytest.mark.parametrize("name", ["c.yaml", "./c.yaml", "sub/c.yaml", "in_file", "in_dir/c.yaml"])
def test_paths_names_inside_the_folder_still_work(tmp_path, name):
    rs = world(tmp_path)
    (rs / "shop.yaml").write_text(RULESET.format(name=name))
    ctx = run(rs / "shop.yaml", Options())
    assert ctx.ruleset is not None and ctx.ruleset.models[0].coefficients_path == str(rs / name)
    assert Path(os.path.realpath(rs / name)).is_relative_to(rs.resolve()) and not ctx.warnings  # read: not untrained


SECRET_LINES = st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{2,12}", fullmatch=True).filter(
    lambda k: k not in ("bias", "weights", "model", "spec", "treatment", "control")), st.sampled_from([": ", "=", " = ", ":\t"])),
    min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SECRET_LINES, st.sampled_from(["", "- ", "  ", "[", "{"]))
def test_paths_a_file_that_is_no_coefficient_file_shows_no_more_than_the_offending_token(tmp_path, lines, lead):
    """Whatever a named file holds (YAML mappings, env files, broken YAML), no error shows its values
    or its lines: at most a key (the offending token)."""
    rs = world(tmp_path)
    secrets = [f"{SECRET}{i}" for i in range(len(lines))]
    (rs / "leak.yaml").write_text("".join(f"{lead}{k}{sep}{s}\n" for (k, sep), s in zip(lines, secrets)))
    (rs / "shop.yaml").write_text(RULESET.format(name="leak.yaml"))
    with pytest.raises(CompileError) as e:
        run(rs / "shop.yaml", Options())
    shown = "\n".join(d.display() for d in e.value.diagnostics)
    assert SECRET not in shown, shown
