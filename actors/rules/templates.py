"""Action message templates: `"{offer.title} for you, {customer.first_name}"`.

Only `{dotted.path}` and `{path:format-spec}` are understood, resolved through plain dicts
with the same lookup as conditions. No attribute access, no indexing into objects, no
expressions: a template can show data, never run code. A field the context lacks raises
`TemplateError` naming it, and the action goes to the dead-letter topic with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from actors.errors import TemplateError
from actors.rules.conditions import resolve_path

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?::([^{}]*))?\}")


def template_fields(template: str) -> list[str]:
    return [m.group(1) for m in _FIELD.finditer(template)]


def render(template: str, context: Mapping[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        path, spec = match.group(1), match.group(2)
        value = resolve_path(context, tuple(path.split(".")))
        if value is None:
            raise TemplateError(template, path)
        try:
            return format(value, spec or "")
        except (ValueError, TypeError):
            raise TemplateError(template, f"{path}:{spec}") from None

    return _FIELD.sub(substitute, template)
