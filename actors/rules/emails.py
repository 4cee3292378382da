"""E-mail templates in Liquid, kept in the rules file (`emails:`) so that they are
versioned, backtested and pushed with the campaigns that send them.

```yaml
emails:
  cart_reminder:                 # a rule id, a campaign, or an action type
    default_locale: en
    locales:
      en:
        subject: "{{ cart_items }} items are waiting"
        text: "Hello {{ payload.first_name | default: 'there' }}, ..."
        html: "<p>Hello {{ payload.first_name | default: 'there' }}, ...</p>"
      fr: {subject: "...", text: "..."}
```

An action's e-mail is the template named by its rule id, else its campaign, else its
type, else a plain default; in the customer's locale (`fr-CA`, then `fr`), else the
template's default locale. Templates read the action's fields (`offer_title`,
`cart_value`, `payload.*`, `message`, ...) and `unsubscribe_url`. A field a template
prints that the action lacks, with no `| default:`, holds the e-mail with a reason that
names it (`RenderError`); a syntax error refuses the rules file at push, naming the part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from liquid import BoundTemplate, Environment, FalsyStrictUndefined
from liquid.exceptions import LiquidError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from actors.errors import RuleError
from actors.model.actions import Action

# Undefined prints are errors (the e-mail is held, naming the field); `| default:` and
# `{% if %}` treat it as empty, as a template author expects.
_TEXT = Environment(undefined=FalsyStrictUndefined)
_HTML = Environment(undefined=FalsyStrictUndefined, autoescape=True)

SUBJECTS = {
    "offer": "An offer picked for you",
    "cart_reminder": "You left something in your cart",
    "fraud_alert": "Please confirm a recent card payment",
    "content_recommendation": "Something new to watch",
    "welcome_back": "Welcome back",
    "reengagement": "We miss you",
}


class EmailPartsSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=998)
    text: str = Field(min_length=1)
    html: str | None = None


class EmailTemplateSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_locale: str = "en"
    locales: dict[str, EmailPartsSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_is_given(self) -> EmailTemplateSpec:
        if self.default_locale not in self.locales:
            raise ValueError(f"default_locale {self.default_locale!r} is not among the locales")
        return self


class RenderError(Exception):
    """A template could not be rendered for an action: `reason` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
    template: str
    locale: str


@dataclass(frozen=True)
class _Parts:
    subject: BoundTemplate
    text: BoundTemplate
    html: BoundTemplate | None
    # Whether the author placed the unsubscribe link; if not, a footer carries it.
    links_unsubscribe: bool


@dataclass(frozen=True)
class EmailTemplate:
    name: str
    default_locale: str
    locales: Mapping[str, _Parts]

    def parts_for(self, locale: str | None) -> tuple[str, _Parts]:
        for candidate in (locale, (locale or "").split("-")[0], self.default_locale):
            if candidate and candidate in self.locales:
                return candidate, self.locales[candidate]
        return self.default_locale, self.locales[self.default_locale]


def compile_template(name: str, spec: EmailTemplateSpec) -> EmailTemplate:
    """RuleError naming the template, locale and part of a syntax error."""
    locales: dict[str, _Parts] = {}
    for locale, parts in spec.locales.items():
        compiled: dict[str, BoundTemplate | None] = {}
        for part, source, env in (
            ("subject", parts.subject, _TEXT),
            ("text", parts.text, _TEXT),
            ("html", parts.html, _HTML),
        ):
            try:
                compiled[part] = None if source is None else env.from_string(source)
            except LiquidError as error:
                reason = str(error).splitlines()[0]
                raise RuleError(f"email:{name}", f"locales.{locale}.{part}", reason) from None
        links = "unsubscribe_url" in parts.text + (parts.html or "")
        subject, text = compiled["subject"], compiled["text"]
        assert subject is not None
        assert text is not None
        locales[locale] = _Parts(subject, text, compiled["html"], links)
    return EmailTemplate(name, spec.default_locale, locales)


def compile_templates(specs: Mapping[str, EmailTemplateSpec]) -> dict[str, EmailTemplate]:
    return {name: compile_template(name, spec) for name, spec in specs.items()}


def _default(kind: str) -> EmailTemplate:
    subject = SUBJECTS.get(kind, "A message from us")
    spec = EmailTemplateSpec(
        locales={
            "en": EmailPartsSpec(
                subject=subject,
                text=f"{{{{ message | default: '{subject}' }}}}",
                html=f"<p>{{{{ message | default: '{subject}' }}}}</p>",
            )
        }
    )
    return compile_template(f"default:{kind}", spec)


_DEFAULTS = {kind: _default(kind) for kind in SUBJECTS}


def template_for(action: Action, templates: Mapping[str, EmailTemplate]) -> EmailTemplate:
    for name in (action.rule_id, action.campaign, action.type):
        if name and name in templates:
            return templates[name]
    return _DEFAULTS.get(action.type) or _default(action.type)


def render(
    action: Action, templates: Mapping[str, EmailTemplate], unsubscribe_url: str | None
) -> Rendered:
    """The action's e-mail; RenderError naming the template and the field at fault."""
    template = template_for(action, templates)
    locale, parts = template.parts_for(action.locale)
    data: dict[str, Any] = action.model_dump(mode="json")
    data["unsubscribe_url"] = unsubscribe_url or ""
    data["locale"] = locale
    try:
        subject = " ".join(parts.subject.render(**data).split())  # one header line
        text = parts.text.render(**data)
        html = parts.html.render(**data) if parts.html is not None else None
    except LiquidError as error:
        reason = str(error).splitlines()[0]
        raise RenderError(f"template {template.name} ({locale}): {reason}") from None
    if unsubscribe_url and not parts.links_unsubscribe:
        text += f"\n\n--\nTo stop these e-mails: {unsubscribe_url}\n"
        if html is not None:
            href = _HTML.from_string("{{ u }}").render(u=unsubscribe_url)
            html += f'\n<p style="font-size:small"><a href="{href}">Unsubscribe</a></p>\n'
    return Rendered(subject, text, html, template.name, locale)
