"""Files a rule set names (a model's ``coefficients:`` file) stay inside the rule set's folder
(docs/security.md, "Files a rule set names").

A name is relative, has no ``..`` component, and resolves — symbolic links followed — to a path
inside the folder that holds the rule set (itself resolved). Anything else is refused before the
file is opened, so a rule set cannot make ``strata test`` read, or ``strata train`` write, a file
elsewhere on the machine.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath


class OutsideFolder(ValueError):
    """A name that would leave the rule set's folder; the message says why."""


def inside(folder: Path, name: str) -> Path:
    """The file ``name`` in ``folder``, or :class:`OutsideFolder`."""
    if not name or "\x00" in name:
        raise OutsideFolder("an empty name or one with a NUL character")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        raise OutsideFolder("an absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise OutsideFolder("a '..' component")
    root = folder.resolve()
    try:
        target = (root / name).resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        raise OutsideFolder("a symbolic link that cannot be resolved") from None
    if not target.is_relative_to(root):
        raise OutsideFolder("a symbolic link leading out of the folder")
    return folder / name  # as named (messages show the path the author wrote), checked above
