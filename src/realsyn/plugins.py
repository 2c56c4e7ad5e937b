"""Objects named by dotted path in a config ("package.module:Name"), for user extensions."""

from __future__ import annotations

import importlib
from typing import Any


class PluginError(ValueError):
    pass


def load_object(dotted: str) -> Any:
    """Import "package.module:Name" (or "package.module.Name") and return Name."""
    module_name, sep, attribute = dotted.partition(":")
    if not sep:
        module_name, _, attribute = dotted.rpartition(".")
    if not module_name or not attribute:
        raise PluginError(f"{dotted!r} is not a dotted path like 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PluginError(f"cannot import {module_name!r} (from {dotted!r}): {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise PluginError(f"module {module_name!r} has no {attribute!r}") from None


def instantiate(dotted: str, config: dict[str, Any] | None = None, **args: Any) -> Any:
    """Build the class named by `dotted`: its settings `config` are validated by its nested
    pydantic `Config` model (pydantic's ValidationError when invalid) and passed first."""
    cls = load_object(dotted)
    model = getattr(cls, "Config", None)
    if model is None:
        if config:
            raise PluginError(f"{dotted} has no Config model, so `config` must be empty")
        return cls(**args)
    return cls(model.model_validate(config or {}), **args)
