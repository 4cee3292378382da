"""What a client source may send.

A write key is either a *server* source (`ENGAGE_API_WRITE_KEYS`: back ends, payment and
order systems, the consent platform; anything) or a *client* source
(`ENGAGE_API_CLIENT_KEYS`: browsers, apps, tracking pixels), as in Segment and RudderStack.
A client key sits in a web page for anyone to copy, so it may only describe what a
visitor does while browsing: page, product and content views, cart changes, `identify`
with traits and a time zone, offers shown or clicked. Payments, purchases, logins and
conversions come from the systems that know them, and so do e-mail addresses and grants
of consent: a copied client key must not be able to fake a payment or opt a customer in.
A withdrawal of consent is taken from any source (a consent banner's opt-out runs in the
page): the worst a copied key can do with it is send less.
Kafka producers are trusted (they hold broker credentials).
"""

from __future__ import annotations

from actors.model.events import Event, Identify, OfferFeedback

CLIENT_EVENT_TYPES = frozenset(
    {
        "page_view",
        "product_view",
        "cart_add",
        "cart_remove",
        "content_view",
        "identify",
        # Signing in on the page links the visitor to the customer, as Segment's
        # analytics.js does (docs/collect.md: what a copied key can and cannot do).
        "alias",
        "offer_feedback",
        # What a page tracks beyond engage's vocabulary ("Checkout Step Viewed"): it moves
        # no money, consent or contact, like the views above.
        "custom",
    }
)


def client_refusal(event: Event) -> tuple[str, str] | None:
    """(field, rule) when a client source may not send `event`, else None."""
    if event.type not in CLIENT_EVENT_TYPES:
        return "type", f"a client key cannot send {event.type} events; use a server key"
    if isinstance(event, Identify):
        if event.email is not None:
            return "email", "a client key cannot set contact details; use a server key"
        granted = sorted(key for key, given in event.consent_answers().items() if given)
        if granted:
            field = "consent_marketing" if event.consent_marketing else "consent"
            return field, (
                f"a client key can withdraw consent, not grant it ({', '.join(granted)}); "
                "use a server key"
            )
    if isinstance(event, OfferFeedback) and event.outcome == "converted":
        return "outcome", "a client key cannot report conversions; use a server key"
    return None
