"""Which files of a DAG folder get parsed: the walk, ``.flowctlignore`` and safe mode.

``.flowctlignore`` works like Airflow's ``.airflowignore`` in its default
(regexp) syntax: each non-blank line that does not start with ``#`` is a
Python regular expression searched in the path of every file and folder
below the ignore file's folder, relative to that folder (``re.search``, so
``tmp`` matches ``a/tmp_x.py``). A matching folder is not entered. The rules
of an ignore file apply to its own folder and everything under it; ignore
files in sub-folders add rules. ``# syntax: glob`` on its own line switches
the lines after it to glob patterns (``fnmatch`` on the relative path and on
the base name). An ``.airflowignore`` (a folder ported from Airflow) is read
the same way, its rules added to those of a ``.flowctlignore`` beside it.

Safe mode: a ``.py`` file is parsed only if its text mentions both ``dag``
and ``flowctl`` (case-insensitive), so helper modules in the folder are not
imported. Files written for Airflow must be ported (``airflow`` -> ``flowctl``).
A ``.zip`` file (Airflow's packaged DAGs) is listed too, when it holds such a
``.py`` file, so that the loader makes it an import error saying flowctl
does not support packaged DAGs, instead of ignoring it.

Standard library only; must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE_NAME = ".flowctlignore"
#: Every ignore file a folder may hold: flowctl's, and Airflow's left in a ported folder.
IGNORE_FILE_NAMES = (IGNORE_FILE_NAME, ".airflowignore")
log = logging.getLogger(__name__)
_WARNED: set[str] = set()  # paths already warned about (the folder is listed every few seconds)
_SKIPPED_DIRS = frozenset({"__pycache__"})


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """One line of an ignore file, anchored at the folder that holds the file."""

    base: Path
    pattern: str
    is_glob: bool

    def matches(self, path: Path) -> bool:
        """True when ``path`` (absolute, under ``base``) is ignored by this rule."""
        try:
            rel = path.relative_to(self.base).as_posix()
        except ValueError:
            return False
        if self.is_glob:
            return fnmatch.fnmatch(rel, self.pattern) or fnmatch.fnmatch(path.name, self.pattern)
        return re.search(self.pattern, rel) is not None


def parse_ignore_text(text: str, base: Path) -> list[IgnoreRule]:
    """The rules of one ignore file's text; bad regular expressions are skipped."""
    rules: list[IgnoreRule] = []
    is_glob = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.replace(" ", "").lower() == "#syntax:glob":
            is_glob = True
            continue
        if line.replace(" ", "").lower() == "#syntax:regexp":
            is_glob = False
            continue
        if not line or line.startswith("#"):
            continue
        if not is_glob and not _is_valid_regexp(line):
            continue
        rules.append(IgnoreRule(base=base, pattern=line, is_glob=is_glob))
    return rules


def _is_valid_regexp(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _rules_of_folder(folder: Path) -> list[IgnoreRule]:
    rules: list[IgnoreRule] = []
    for name in IGNORE_FILE_NAMES:
        ignore_file = folder / name
        if ignore_file.is_file():
            rules += parse_ignore_text(ignore_file.read_text(encoding="utf-8", errors="replace"), folder)
    return rules


def might_contain_dag(path: Path) -> bool:
    """Safe-mode test: the file's text mentions both ``dag`` and ``flowctl`` (in a zip file: the
    text of one of its ``.py`` files)."""
    try:
        if path.suffix == ".zip":
            return _zip_might_contain_dag(path)
        content = path.read_bytes().lower()
    except (OSError, zipfile.BadZipFile):
        return False
    return b"dag" in content and b"flowctl" in content


def _zip_might_contain_dag(path: Path) -> bool:
    with zipfile.ZipFile(path) as packaged:
        for name in packaged.namelist():
            if name.endswith(".py"):
                content = packaged.read(name).lower()
                if b"dag" in content and b"flowctl" in content:
                    return True
    return False


def _walk(folder: Path, inherited: list[IgnoreRule], walking: frozenset[tuple[int, int]]) -> Iterator[Path]:
    """``walking``: the (device, inode) of ``folder``'s ancestors, so a symlink back up is not entered."""
    rules = inherited + _rules_of_folder(folder)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
        walking = walking | {_identity(folder)}
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if not _storable(entry.path) or any(rule.matches(path) for rule in rules):
            continue
        if _is_dir(entry):
            if entry.name in _SKIPPED_DIRS or entry.name.startswith(".") or _identity(path) in walking:
                continue
            yield from _walk(path, rules, walking)
        elif entry.name.endswith(".py") and entry.is_file():
            yield path
        elif entry.name.endswith(".zip") and entry.is_file() and zipfile.is_zipfile(path):
            yield path  # packaged DAGs: the loader says flowctl does not support them


def _storable(path: str) -> bool:
    """Whether ``path`` is valid UTF-8: the database stores a DAG's file (and an import error's)
    as text, so a name that is not (Latin-1 bytes, say) is left out, with a warning, once."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        if path not in _WARNED:
            _WARNED.add(path)
            log.warning("not parsing %r: its name is not valid UTF-8; rename it", path)
        return False
    return True


def _identity(folder: Path) -> tuple[int, int]:
    try:
        info = os.stat(folder)
    except OSError:  # gone meanwhile: scanning it finds nothing
        return -1, -1
    return info.st_dev, info.st_ino


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:  # a dangling or looping symlink
        return False


def list_py_files(folder: str | Path) -> list[Path]:
    """Every ``.py`` file under ``folder`` (or ``folder`` itself) not ignored, sorted."""
    root = Path(folder).expanduser().absolute()
    if root.is_file():
        return [root]
    if root.is_dir():
        return list(_walk(root, [], frozenset()))
    return []


def keep_likely_dag_files(files: list[Path]) -> list[Path]:
    """Safe mode: only the files that mention both ``dag`` and ``flowctl``."""
    return [f for f in files if might_contain_dag(f)]
