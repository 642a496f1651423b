"""Load a provider SDK's service packages one module at a time, as the program uses them.

A generated Pulumi SDK package (`pulumi_aws.ec2`, `pulumi_kubernetes.core.v1`, …) is an
`__init__.py` of nothing but `from .vpc import *` lines: importing it for one class executes
every module of the service — 182 of them for `pulumi_aws.ec2` — and the plan used about ten.
That was the largest part of the plan's import time.

This finder gives such a package the same names without executing its `__init__`: a name is
looked up in an index built from each module's `__all__` (the names its star-import exports, in
the `__init__`'s order, a later module winning as it would), and only the module that binds it
is imported, on first use. Submodules (`outputs`) import on first use too. A package whose `__init__` holds
anything else, or a name the index does not know, gets the real `__init__` executed, so nothing
can resolve differently — at worst it is as slow as before. `tests/test_plan_speed.py` checks
that every package the plan uses is recognised and exports exactly the names a real import does.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import threading
import types
import typing
from pathlib import Path
from typing import Any, Optional, Sequence

# The generated SDKs whose service packages are loaded this way (not the top-level packages,
# which do real work: provider registration, config).
SDK_ROOTS = ("pulumi_aws.", "pulumi_kubernetes.")

# Statements a generated service `__init__` may hold, besides comments and blank lines.
_PREAMBLE = {"import builtins as _builtins", "import typing"}
_UTILITIES = re.compile(r"from (\.+) import _utilities$")
_STAR = re.compile(r"from \.(\w+) import \*$")
_SUBMODULE = re.compile(r"from \. import (\w+)$")
_ALL = re.compile(r"^__all__ = \[(.*?)\]", re.MULTILINE | re.DOTALL)
_NAME = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_HEAD = 16_384  # generated modules declare __all__ right after their imports


class LazySdkFinder(importlib.abc.MetaPathFinder):
    """The meta-path finder that hands generated SDK service packages to `_LazyPackageLoader`."""

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[types.ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if not fullname.startswith(SDK_ROOTS):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (
            spec is None
            or spec.submodule_search_locations is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
        ):
            return None
        spec.loader = _LazyPackageLoader(spec.loader)
        return spec


class _LazyPackageLoader(importlib.abc.Loader):
    def __init__(self, real: importlib.machinery.SourceFileLoader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        layout = _generated_layout(Path(self.real.get_filename(module.__name__)))
        if layout is None:
            self.real.exec_module(module)  # not the generated shape: the real thing
            return
        parent_depth, star_modules, submodules = layout
        anchor = module.__name__.rsplit(".", parent_depth)[0]
        # What the `__init__`'s own three import lines bind.
        module.__dict__.update(
            _builtins=builtins,
            _utilities=importlib.import_module(f"{anchor}._utilities"),
            typing=typing,
        )
        module.__dict__[_STATE] = _Resolver(module, self.real, star_modules, submodules)
        module.__class__ = _LazyPackage


_STATE = "__pavedroad_lazy__"


class _LazyPackage(types.ModuleType):
    """A generated SDK package whose names resolve on first use."""

    def __getattr__(self, name: str) -> Any:
        resolver = self.__dict__.get(_STATE)
        if resolver is None or name.startswith("__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return resolver.resolve(name)

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing submodule `X` binds it as the package's attribute `X`; in a real import the
        # star-import of `X`'s own names then rebinds any name they share (pulumi_kubernetes'
        # module `StorageClass` exports the class `StorageClass`). Leave such names unbound,
        # so they resolve to what the star-import would have bound.
        resolver = self.__dict__.get(_STATE)
        if (
            resolver is not None
            and isinstance(value, types.ModuleType)
            and value.__name__ == f"{self.__name__}.{name}"
            and name in resolver.star_modules
            and name in getattr(value, "__all__", ())
        ):
            return
        super().__setattr__(name, value)


def _generated_layout(init: Path) -> Optional[tuple[int, list[str], list[str]]]:
    """(depth of `from ..` for _utilities, star-imported modules in order, plain submodules),
    or None when the `__init__` holds anything but those lines."""
    star_modules: list[str] = []
    submodules: list[str] = []
    depth = 0
    for raw in init.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line in _PREAMBLE:
            continue
        if match := _UTILITIES.match(line):
            depth = len(match.group(1)) - 1
        elif (match := _STAR.match(line)) and not submodules:
            star_modules.append(match.group(1))
        elif match := _SUBMODULE.match(line):
            submodules.append(match.group(1))
        else:
            return None
    return (depth, star_modules, submodules) if depth else None


def exported_names(source: Path) -> Optional[list[str]]:
    """The names `from module import *` takes from a generated module: its `__all__`."""
    with source.open(encoding="utf-8") as handle:
        text = handle.read(_HEAD)
        match = _ALL.search(text)
        if match is None or "]" not in text[match.start() :]:
            text += handle.read()
            match = _ALL.search(text)
    if match is None:
        return None
    return [single or double for single, double in _NAME.findall(match.group(1))]


class _Resolver:
    """Resolves a lazy package's names, each on first use, as its `__init__` would bind them."""

    def __init__(
        self,
        module: types.ModuleType,
        real: importlib.machinery.SourceFileLoader,
        star_modules: list[str],
        submodules: list[str],
    ) -> None:
        self.module = module
        self.real = real
        self.star_modules = star_modules
        self.submodules = submodules  # `from . import X`, after every star-import
        self.exports: dict[str, Optional[frozenset[str]]] = {}
        self.lock = threading.RLock()

    def resolve(self, name: str) -> Any:
        package = self.module.__name__
        with self.lock:
            if name in self.module.__dict__:  # resolved meanwhile
                return self.module.__dict__[name]
            if name in self.submodules:
                return importlib.import_module(f"{package}.{name}")
            owner = self._owner(name)
            if owner is not None:
                value = getattr(importlib.import_module(f"{package}.{owner}"), name)
            elif name in self.star_modules:
                value = importlib.import_module(f"{package}.{name}")
            else:
                return self._load_everything(name)
            self.module.__dict__[name] = value
            return value

    def _owner(self, name: str) -> Optional[str]:
        """The star-imported module whose export binds `name` last, as in the `__init__`."""
        for owner in reversed(self.star_modules):
            if name in self._exports(owner):
                return owner
        return None

    def _exports(self, owner: str) -> frozenset[str]:
        if owner not in self.exports:
            names = exported_names(Path(self.module.__file__ or "").parent / f"{owner}.py")
            if names is None:
                # No __all__ (pulumi_kubernetes' helm.py): a star-import takes every public
                # name, which only executing the module tells.
                module = importlib.import_module(f"{self.module.__name__}.{owner}")
                names = [key for key in vars(module) if not key.startswith("_")]
            self.exports[owner] = frozenset(names)
        return self.exports[owner] or frozenset()

    def _load_everything(self, name: str) -> Any:
        """Not a name any star-import binds: execute the real `__init__` and answer as it would."""
        del self.module.__dict__[_STATE]
        self.module.__class__ = types.ModuleType
        self.real.exec_module(self.module)
        return getattr(self.module, name)


_FINDER = LazySdkFinder()


def install() -> None:
    """Put the finder first on the meta path (once). Packages already imported stay as they are."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
