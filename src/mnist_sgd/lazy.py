"""Lazy exports (PEP 562): a package names its public objects; each is imported on first use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> None:
    """Make ``exports`` (name -> module) lazy attributes of the package being imported.

    ``mnist_sgd.callbacks.lr_find`` is both a module and the function it defines: the import
    system binds a submodule onto its package once loaded, so a submodule named like
    one of its exports gives way to that export.
    """

    class LazyPackage(ModuleType):
        def __getattr__(self, name: str) -> Any:
            module = exports.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(module), name)
            setattr(self, name, value)  # later lookups are plain attribute reads
            return value

        def __setattr__(self, name: str, value: Any) -> None:
            if isinstance(value, ModuleType) and value.__name__ == exports.get(name):
                value = getattr(value, name, value)
            super().__setattr__(name, value)

        def __dir__(self) -> list[str]:
            return sorted({*self.__dict__, *exports})

    sys.modules[package].__class__ = LazyPackage
