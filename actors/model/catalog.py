"""The vocabulary customers and offers share: affinity keys and the offer catalogue.

Features have one column per affinity key and the recommender scores every offer of the
catalogue, so changing either changes the feature spec (bump `FEATURE_SPEC_VERSION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Domain = Literal["retail", "banking", "media"]

RETAIL_CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "grocery", "books")
MEDIA_GENRES = ("drama", "comedy", "documentary", "kids", "sports_tv")
# Card merchant categories that say something about interest (travel → travel insurance).
BANKING_INTERESTS = ("travel", "dining", "luxury")

AFFINITY_KEYS: tuple[str, ...] = RETAIL_CATEGORIES + MEDIA_GENRES + BANKING_INTERESTS
AFFINITY_INDEX = {key: i for i, key in enumerate(AFFINITY_KEYS)}
_DOMAIN_OF_KEY: dict[str, Domain] = {
    **{k: "retail" for k in RETAIL_CATEGORIES},
    **{k: "media" for k in MEDIA_GENRES},
    **{k: "banking" for k in BANKING_INTERESTS},
}


@dataclass(frozen=True, slots=True)
class Offer:
    offer_id: str
    domain: Domain
    affinity_key: str
    title: str
    # Expected margin of an accepted offer: ranking is by p(accept) * value.
    value: float


OFFERS: tuple[Offer, ...] = (
    Offer("electronics_10", "retail", "electronics", "10% off electronics", 30.0),
    Offer("fashion_15", "retail", "fashion", "15% off the new season", 18.0),
    Offer("home_bundle", "retail", "home", "Home bundle: 3 for 2", 15.0),
    Offer("beauty_gift", "retail", "beauty", "Free gift with beauty orders", 10.0),
    Offer("sports_20", "retail", "sports", "20% off sports gear", 16.0),
    Offer("grocery_delivery", "retail", "grocery", "Free grocery delivery for a month", 8.0),
    Offer("books_3for2", "retail", "books", "Books: 3 for 2", 6.0),
    Offer("premium_card", "banking", "luxury", "Upgrade to the Premium card", 60.0),
    Offer("travel_insurance", "banking", "travel", "Annual travel insurance", 35.0),
    Offer("dining_cashback", "banking", "dining", "5% cashback on dining", 20.0),
    Offer("premium_plan", "media", "drama", "Premium plan: new drama first", 12.0),
    Offer("comedy_pass", "media", "comedy", "Comedy specials pass", 5.0),
    Offer("doc_pack", "media", "documentary", "Documentary pack", 7.0),
    Offer("kids_profile", "media", "kids", "Kids profile, free for 3 months", 6.0),
    Offer("sports_tv_pass", "media", "sports_tv", "Live sports pass", 14.0),
)
OFFER_INDEX = {offer.offer_id: i for i, offer in enumerate(OFFERS)}
DOMAINS: tuple[Domain, ...] = ("retail", "banking", "media")

# Merchant categories of card payments; the risky ones are where fraudsters cash out.
MERCHANT_CATEGORIES = (
    "grocery",
    "dining",
    "travel",
    "fuel",
    "electronics",
    "fashion",
    "luxury",
    "entertainment",
    "gift_cards",
    "crypto",
    "general",
)
RISKY_MERCHANT_CATEGORIES = frozenset({"gift_cards", "crypto", "electronics", "luxury"})


def domain_of(key: str) -> Domain | None:
    return _DOMAIN_OF_KEY.get(key)


def offer(offer_id: str) -> Offer | None:
    index = OFFER_INDEX.get(offer_id)
    return None if index is None else OFFERS[index]
