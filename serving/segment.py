"""The Segment HTTP tracking API, mapped onto engage events.

Sites and apps instrumented with Segment-compatible SDKs send `track`, `page`, `screen`
and `identify` calls (alone or in a `batch`) with the write key as the basic-auth user.
Each call becomes one engage event, validated by the same schema as every other source:

| Segment | engage |
| --- | --- |
| `page`, `screen` | `page_view` (`properties.url`, `properties.category`, `name`) |
| `identify` | `identify` (`traits.email`, `.timezone`, consent; the rest: `traits`) |
| track "Product Viewed" | `product_view` |
| track "Product Added" / "Product Removed" | `cart_add` / `cart_remove` |
| track "Order Completed" | `purchase` (`order_id`, `revenue` or `total`, `products`) |

Every property of the e-commerce spec is optional, as in the spec: a price or category
left out is taken from the catalogue by the shard (actors.turn.prices) or kept unknown;
a product call naming no product is a `custom` event of its name; an order without an id
or total is named by its call and totals its priced lines.
| track "Signed In" / "Sign In Failed" | `login` |
| track "Card Payment" | `card_payment` |
| track "Content Viewed", "Video Content Playing", "Video Playback Completed" | `content_view` |
| track "Offer Shown" / "Offer Clicked" / "Offer Converted" | `offer_feedback` |
| any other track name | `custom` (`name`, `properties` flattened like traits) |
| `alias` | `alias` (`previousId` the visitor's anonymous id, `userId` the customer) |
| `group` | `identify` with `traits.group_id` and the group's traits as `group.<name>` |

Other traits (flattened one level: `address.city`) are kept for rules as `customer.traits`.
`messageId` is the event id (so an SDK's retry is deduplicated), `userId` the customer,
`anonymousId` the visitor. An `identify` or `alias` naming both links the visitor to the
customer (actors.model.identity). Any other call type is refused with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors.errors import InvalidEventError
from actors.model.events import MAX_TRAITS, Event, event_from_dict, known_zone, slug
from serving.consent_banner import DEFAULT_CATEGORIES, banner_consent


class SegmentMessage(BaseModel):
    """One Segment call. Extra fields are allowed: SDKs send many we do not use."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str | None = None
    message_id: str | None = Field(default=None, alias="messageId")
    user_id: str | int | None = Field(default=None, alias="userId")
    anonymous_id: str | int | None = Field(default=None, alias="anonymousId")
    timestamp: str | None = None
    event: str | None = None
    name: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    previous_id: str | int | None = Field(default=None, alias="previousId")
    group_id: str | int | None = Field(default=None, alias="groupId")


class SegmentBatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[dict[str, Any]] = Field(min_length=1)


TRACKED = {
    "Product Viewed": "product_view",
    "Product Added": "cart_add",
    "Product Removed": "cart_remove",
    "Order Completed": "purchase",
    "Signed In": "login",
    "Sign In Failed": "login",
    "Card Payment": "card_payment",
    "Content Viewed": "content_view",
    "Video Content Playing": "content_view",
    "Video Playback Completed": "content_view",
    "Offer Shown": "offer_feedback",
    "Offer Clicked": "offer_feedback",
    "Offer Converted": "offer_feedback",
}


_PRODUCT_KINDS = frozenset({"product_view", "cart_add", "cart_remove"})


def _context(message: SegmentMessage) -> dict[str, Any]:
    ctx = message.context
    out: dict[str, Any] = {}
    if isinstance(ctx.get("ip"), str):
        out["ip"] = ctx["ip"][:64]
    if isinstance(ctx.get("userAgent"), str):
        out["user_agent"] = ctx["userAgent"][:512]
    zone = ctx.get("timezone")
    if isinstance(zone, str) and known_zone(zone):
        # RudderStack's browser SDK sends an offset ("GMT+0100"), not a zone name: kept
        # only when it names a zone, and the call is never refused for it.
        out["timezone"] = zone
    device = ctx.get("device")
    if isinstance(device, dict) and device.get("id"):
        out["device_id"] = str(device["id"])[:128]
    location = ctx.get("location")
    if isinstance(location, dict):
        country = location.get("country")
        if isinstance(country, str) and len(country) == 2:
            out["country"] = country.upper()
    return out


def _identity(message: SegmentMessage) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if message.user_id not in (None, ""):
        out["customer_id"] = str(message.user_id)
    if message.anonymous_id not in (None, ""):
        out["anonymous_id"] = str(message.anonymous_id)
    return out


def _product_id(p: dict[str, Any]) -> Any:
    return p.get("product_id") or p.get("sku") or p.get("id")


def _track_fields(kind: str, event_name: str, p: dict[str, Any], message_id: str) -> dict[str, Any]:
    if kind in ("product_view", "cart_add", "cart_remove"):
        fields = {"product_id": _product_id(p)}
        if kind != "product_view":  # a view has no quantity, though the spec's example sends one
            fields["quantity"] = p.get("quantity")
        if kind != "cart_remove":
            # Both optional in the spec: the shard takes them from the catalogue where it
            # knows the product, else the cart keeps the line with its value unknown.
            fields.update(category=slug(p.get("category")), price=p.get("price"))
        return fields
    if kind == "purchase":
        products = p.get("products")
        if products is not None and not isinstance(products, list):
            raise InvalidEventError(
                f"properties.products: a list of products, not {type(products).__name__}",
                "properties.products",
            )
        items = [
            {
                "product_id": _product_id(item),
                "category": slug(item.get("category")),
                "price": item.get("price"),
                "quantity": item.get("quantity", 1),
            }
            for item in products or []
            if isinstance(item, dict) and _product_id(item) not in (None, "")
        ]
        total = p.get("revenue", p.get("total"))
        if total is None:
            # Optional in the spec: what the lines of known price add up to.
            total = sum(
                float(i["price"]) * int(i["quantity"]) for i in items if i["price"] is not None
            )
        return {
            # Optional in the spec: without one, the call's own id names the order.
            "order_id": p.get("order_id") or p.get("checkout_id") or message_id,
            "total": total,
            "currency": p.get("currency"),
            "items": items,
        }
    if kind == "login":
        return {"success": event_name == "Signed In", "method": p.get("method")}
    if kind == "card_payment":
        return {
            key: p.get(key)
            for key in (
                "payment_id",
                "amount",
                "currency",
                "merchant",
                "merchant_category",
                "country",
                "device_id",
                "card_present",
            )
        }
    if kind == "content_view":
        position, length = p.get("position"), p.get("total_length")
        completion = p.get("completion")
        if completion is None and isinstance(position, int | float) and length:
            completion = min(1.0, max(0.0, float(position) / float(length)))
        if event_name == "Video Playback Completed":
            completion = 1.0
        return {
            "content_id": p.get("content_id") or p.get("asset_id") or p.get("content_asset_id"),
            "genre": slug(p.get("genre")),
            "duration_s": p.get("position") if isinstance(position, int | float) else None,
            "completion": completion,
        }
    outcome = {"Offer Shown": "shown", "Offer Clicked": "clicked", "Offer Converted": "converted"}
    return {
        "outcome": outcome[event_name],
        "offer_id": p.get("offer_id"),
        "action_id": p.get("action_id"),
        "decision_id": p.get("decision_id"),
        "value": p.get("value"),
    }


def to_event(
    raw: dict[str, Any],
    received_at: datetime | None = None,
    categories: Mapping[str, tuple[str, ...]] = DEFAULT_CATEGORIES,
    client: bool = False,
) -> Event:
    """One Segment call as an engage event; InvalidEventError names the field at fault.
    `categories` maps a consent banner's categories (serving.consent_banner), whose
    grants a `client` source does not make."""
    try:
        return _to_event(raw, received_at, categories, client)
    except (TypeError, ValueError, AttributeError, ArithmeticError) as error:
        if isinstance(error, ValidationError):
            raise
        # A property of a shape the mapping did not expect (a string where a number
        # goes, a number where a list goes): this call is refused, never the batch.
        raise InvalidEventError(f"properties: cannot be read: {error}", "properties") from None


def _to_event(
    raw: dict[str, Any],
    received_at: datetime | None,
    categories: Mapping[str, tuple[str, ...]],
    client: bool,
) -> Event:
    message = SegmentMessage.model_validate(raw)
    data: dict[str, Any] = {
        "event_id": message.message_id or f"seg-{uuid.uuid4().hex}",
        "timestamp": message.timestamp or (received_at or datetime.now(UTC)).isoformat(),
        **_identity(message),
    }
    context = _context(message)
    if context:
        data["context"] = context
    kind = message.type
    if kind in ("page", "screen"):
        data.update(
            type="page_view",
            url=str(message.properties.get("url") or message.properties.get("path") or "/")[:2048],
            # Segment SDKs send a page's category beside its name, not in properties.
            category=slug(
                (message.model_extra or {}).get("category") or message.properties.get("category")
            ),
            title=message.name,
        )
    elif kind == "identify":
        # RudderStack's SDKs put an identify's traits in `context.traits` only.
        given = message.context.get("traits")
        traits = {**(given if isinstance(given, dict) else {}), **message.traits}
        data.update(
            type="identify",
            email=traits.get("email"),
            timezone=_zone(traits.get("timezone")) or context.get("timezone"),
            consent_marketing=_flag(traits.get("consent_marketing")),
            consent={
                **banner_consent(message.context, categories, grants=not client),
                **_consent(traits),
            },
            traits=_traits(traits),
        )
    elif kind == "track":
        name = message.event or ""
        product_less = TRACKED.get(name) in _PRODUCT_KINDS and not _product_id(message.properties)
        if name in TRACKED and not product_less:
            data["type"] = TRACKED[name]
            data.update(_track_fields(TRACKED[name], name, message.properties, data["event_id"]))
        else:
            # A product call that names no product (the spec requires none) cannot touch
            # a cart line: it is kept as what it is, a custom event of its name.
            # Any other name is a custom event that keeps its name and properties.
            data.update(type="custom", name=name[:128], properties=_flat(message.properties))
    elif kind == "alias":
        if message.user_id in (None, ""):
            raise InvalidEventError("userId: the customer's id is required", "userId")
        # analytics.js sends the current user id as `previousId` once the visitor has
        # identified (alias then says nothing new); the visitor is its `anonymousId`.
        previous = message.previous_id
        if previous in (None, "") or str(previous) == str(message.user_id):
            previous = message.anonymous_id
        if previous in (None, ""):
            raise InvalidEventError("previousId: the visitor's id is required", "previousId")
        data.update(type="alias", anonymous_id=str(previous))
    elif kind == "group":
        if message.group_id in (None, ""):
            raise InvalidEventError("groupId: required", "groupId")
        # The account a customer belongs to, as traits rules can read: group_id and
        # the group's own traits under `group.` (never its e-mail or consent).
        data.update(
            type="identify",
            traits=_flat({"group_id": str(message.group_id), "group": message.traits}),
        )
    else:
        raise InvalidEventError(
            f"type: {kind!r} calls are not supported "
            "(use track, page, screen, identify, alias, group)",
            "type",
        )
    return event_from_dict({k: v for k, v in data.items() if v is not None})


# Traits engage keeps in fields of their own, not among `traits`.
_OWN_TRAITS = frozenset({"email", "timezone", "consent_marketing", "consent"})


def _traits(traits: dict[str, Any]) -> dict[str, Any]:
    """The traits rules can read (see `_flat`), without those kept in fields of their own."""
    return _flat({k: v for k, v in traits.items() if k not in _OWN_TRAITS})


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    """Traits or properties as rules read them: scalars, objects flattened one level
    (`address.city`), lists dropped; names and text cut to engage's bounds, at most
    MAX_TRAITS of them (an SDK's call is never refused for carrying more than rules can
    use)."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            for inner, item in value.items():
                flat[f"{name}.{inner}"] = item
        else:
            flat[name] = value
    kept: dict[str, Any] = {}
    for name, value in flat.items():
        if len(kept) == MAX_TRAITS:
            break
        if value is None or isinstance(value, bool | int | float):
            kept[str(name)[:64]] = value
        elif isinstance(value, str):
            kept[str(name)[:64]] = value[:512]
    return kept


def _zone(value: Any) -> str | None:
    """A trait's time zone if it names one (SDKs and sites also send offsets)."""
    return value if isinstance(value, str) and known_zone(value) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _consent(traits: dict[str, Any]) -> dict[str, Any]:
    """`traits.consent`: patterns (`email.marketing`, `*.service`) with their answers."""
    given = traits.get("consent")
    return dict(given) if isinstance(given, dict) else {}
