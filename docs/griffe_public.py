"""A griffe extension for the API reference: examples render as code, private names stay out.

- griffe's Google-style parser knows only the plural heading ``Examples:``, whose ``>>>`` lines
  become highlighted code blocks; a singular ``Example:`` is read as an admonition of prose,
  where Markdown takes ``>>>`` for nested quotes. The package's docstrings say ``Example:`` (as
  the Google style guide does): the heading is renamed before griffe parses it.
- The reference shows what a user can import. A value, default or annotation that mentions a
  private name (``ALL_KINDS = _enumerate_kinds()``, ``attrs.field(converter=_roles)``) is not
  shown: an attrs field shows its public ``default=`` instead, a parameter the value of the
  module constant it names (``origin=_CLIENT`` shows ``Origin.CLIENT``), else ``...``. A private
  base class is replaced by its own bases (``class Reason(_Code)`` shows ``str, Enum``).

Loaded by mkdocstrings (``extensions:`` in mkdocs.yml); not part of the site.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)
_PRIVATE = re.compile(r"(?<![\w])_[A-Za-z]")
"""A name, or an attribute of one, that starts with one underscore (dunders do not match)."""


def plural_examples(docstring: str) -> str:
    """`docstring` with every ``Example:`` section heading spelt ``Examples:``."""
    return _EXAMPLE.sub(r"\g<indent>Examples:", docstring)


def mentions_private(expression: object) -> bool:
    """Whether the source of `expression` names anything private."""
    return expression is not None and _PRIVATE.search(str(expression)) is not None


def _public_value(value: object) -> object:
    """`value` if it names nothing private; an attrs field's public default; else None."""
    if not mentions_private(value):
        return value
    if isinstance(value, griffe.ExprCall) and str(value.function).rpartition(".")[2] == "field":
        for argument in value.arguments:
            if isinstance(argument, griffe.ExprKeyword) and argument.name == "default":
                return _public_value(argument.value)
    return None


def _constant(function: griffe.Function, default: object) -> object:
    """A private module constant used as a default (``origin=_CLIENT``) shown by its value."""
    name = str(default)
    member = function.module.members.get(name) if name.isidentifier() else None
    value = getattr(member, "value", None) if isinstance(member, griffe.Attribute) else None
    return str(value) if value is not None and not mentions_private(value) else "..."


def _public_bases(cls: griffe.Class, seen: frozenset[str] = frozenset()) -> list[str | griffe.Expr]:
    bases: list[str | griffe.Expr] = []
    for base in cls.bases:
        if not mentions_private(base):
            bases.append(base)
            continue
        path = base if isinstance(base, str) else base.canonical_path
        if path in seen:
            continue
        try:
            target = cls.modules_collection.get_member(path)
            if target.is_alias:
                target = target.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError, KeyError):
            continue
        if isinstance(target, griffe.Class):
            bases += [b for b in _public_bases(target, seen | {path}) if str(b) not in map(str, bases)]
    return bases


class PublicReference(griffe.Extension):
    """Renames ``Example:`` sections and keeps private names out of what is shown."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: ARG002 - the hook's signature
        if obj.docstring is not None:
            obj.docstring.value = plural_examples(obj.docstring.value)
        if isinstance(obj, griffe.Attribute):
            obj.value = _public_value(obj.value)  # type: ignore[assignment]
            if mentions_private(obj.annotation):
                obj.annotation = None
        elif isinstance(obj, griffe.Function):
            for parameter in obj.parameters:
                if mentions_private(parameter.default):
                    parameter.default = _constant(obj, parameter.default)
                if mentions_private(parameter.annotation):
                    parameter.annotation = None
            if mentions_private(obj.returns):
                obj.returns = None
        elif isinstance(obj, griffe.Class):
            obj.bases = _public_bases(obj)
