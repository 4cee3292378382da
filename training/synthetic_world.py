"""The synthetic customers' world: the countries they live and pay in, the merchants they
pay, the products' price levels (training.synthetic draws customers and sessions from
it). Changing it changes every generated history and the demo's live traffic."""

from __future__ import annotations

COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL", "CA")
FRAUD_COUNTRIES = ("NG", "RU", "BR", "VN", "RO", "UA")
TIMEZONES = {
    "US": "America/New_York",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "NL": "Europe/Amsterdam",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
    "SE": "Europe/Stockholm",
    "PL": "Europe/Warsaw",
    "CA": "America/Toronto",
}
EVERYDAY_MERCHANTS = {
    "grocery": ("FreshMart", "CornerShop"),
    "dining": ("Bistro 21", "NoodleBar", "CafeLumen"),
    "travel": ("SkyAir", "RailCo", "StayInn"),
    "fuel": ("FuelUp",),
    "fashion": ("Threads",),
    "electronics": ("VoltStore",),
    "luxury": ("Maison Or",),
    "entertainment": ("CinemaMax",),
}
FRAUD_MERCHANTS = {
    "gift_cards": ("GiftHub",),
    "crypto": ("CoinSwap",),
    "electronics": ("MegaTech Online",),
    "luxury": ("Watches4U",),
}
PRODUCTS_PER_CATEGORY = 40
PRICE_BASE = {
    "electronics": 220.0,
    "fashion": 60.0,
    "home": 80.0,
    "beauty": 30.0,
    "sports": 70.0,
    "grocery": 12.0,
    "books": 18.0,
}
