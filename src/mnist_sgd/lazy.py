"""Lazy exports (PEP 562): a package names its public objects; each is imported on first use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> None:
    """Make ``exports`` (name -> module) lazy attributes of the package being imported."""

    class LazyPackage(ModuleType):
        def __getattr__(self, name: str) -> Any:
            module = exports.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(module), name)
            setattr(self, name, value)  # later lookups are plain attribute reads
            return value

        def __dir__(self) -> list[str]:
            return sorted({*self.__dict__, *exports})

    sys.modules[package].__class__ = LazyPackage
