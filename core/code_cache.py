"""Workflow modules compiled once per process, however often the sandbox runs them.

The workflow sandbox gives every new workflow fresh copies of its workflow
modules by importing them again, and an import reads and unmarshals the
module's bytecode each time (or compiles its source, when there are no .pyc
files). A code object is immutable, so the finder installed here hands the
same one to every import of a module of the given packages; each import still
executes it in a fresh module namespace, which is all the sandbox's isolation
relies on. The modules' source is read once per process: a changed workflow
module needs a new worker, as it always did.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType, ModuleType


class _CompiledOnce(SourceFileLoader):
    """A source file's loader whose code object is made once and then shared."""

    codes: dict[str, CodeType] = {}

    def get_code(self, fullname: str) -> CodeType:
        code = self.codes.get(self.path)
        if code is None:
            made = super().get_code(fullname)
            assert made is not None  # A source file always has code.
            code = self.codes[self.path] = made
        return code


class _CompiledOnceFinder(MetaPathFinder):
    """Finds the packages' modules as the path finder does, with a sharing loader."""

    def __init__(self, packages: frozenset[str]) -> None:
        self.packages = packages

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader or spec.origin is None:
            return spec
        spec.loader = _CompiledOnce(fullname, spec.origin)
        return spec


def compile_once(*packages: str) -> None:
    """Share each module's code object of ``packages`` among all its imports in this process.

    Idempotent; the finder goes first on ``sys.meta_path``, which the sandbox's
    imports use too.
    """
    wanted = frozenset(packages)
    for finder in sys.meta_path:
        if isinstance(finder, _CompiledOnceFinder) and wanted <= finder.packages:
            return
    sys.meta_path.insert(0, _CompiledOnceFinder(wanted))
