"""Deprecated spellings kept working for a while (``docs/conventions.md``, "Vocabulary").

The toolkit uses one spelling per concept (``centre``, ``normalisation``,
``r_norm_mm``; ``_nm`` only for nanometres). Old keyword and function names
still work, with a :class:`DeprecationWarning` that names the new one.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["renamed_kwargs", "deprecated_alias", "warn_renamed", "alias_property"]

_WHERE = "docs/conventions.md, Vocabulary"


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is a deprecated spelling of ``new``."""
    warnings.warn(f"{old} is deprecated; use {new} ({_WHERE})", DeprecationWarning,
                  stacklevel=stacklevel)


def renamed_kwargs(**renames: str) -> Callable[[F], F]:
    """Decorator: accept ``old=`` keywords as deprecated spellings of ``new=`` ones.

    ``@renamed_kwargs(center_mm="centre_mm")`` lets callers still pass
    ``center_mm=...`` (with a warning); passing both is a :class:`TypeError`.
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old}= (deprecated) and "
                                        f"{new}=")
                    warn_renamed(f"{fn.__name__}({old}=...)", f"{new}=")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.__deprecated_kwargs__ = dict(renames)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


def deprecated_alias(fn: F, old_name: str) -> F:
    """A function ``old_name`` that warns and calls ``fn``."""

    @functools.wraps(fn)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warn_renamed(f"{old_name}()", f"{fn.__name__}()")
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated spelling of :func:`{fn.__name__}` ({_WHERE})."
    return alias  # type: ignore[return-value]


def alias_property(new: str, old: str) -> property:
    """A read-only attribute ``old`` that warns and returns ``self.<new>``."""

    def get(self: Any) -> Any:
        warn_renamed(f"{type(self).__name__}.{old}", f".{new}")
        return getattr(self, new)

    return property(get, doc=f"Deprecated spelling of ``{new}`` ({_WHERE}).")
