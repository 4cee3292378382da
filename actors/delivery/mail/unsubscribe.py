"""The one-click unsubscribe link of a marketing e-mail (RFC 8058).

Every marketing e-mail carries `List-Unsubscribe: <https://.../v1/email/unsubscribe?t=..>`
and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; a mailbox provider's POST to
that address withdraws the customer's consent for marketing by e-mail
(serving.web.email). The token says whose consent and which key; it is a JWT signed with
`ENGAGE_SINKS_EMAIL_UNSUBSCRIBE_SECRET` (HS256), verified by the API with
`ENGAGE_API_UNSUBSCRIBE_SECRETS` (the same secret, and earlier ones while they rotate).
It has no expiry: a link in a year-old e-mail must still work.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import jwt

from actors.model.consent import KEYS

EMAIL_MARKETING = "email.marketing"
MAX_TOKEN_CHARS = 2048


class UnsubscribeRefusedError(Exception):
    """A token that does not verify: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def mint(secret: str, customer_id: str, key: str = EMAIL_MARKETING) -> str:
    return jwt.encode({"sub": customer_id, "consent": key}, secret, algorithm="HS256")


def link(base_url: str, token: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode({'t': token})}"


def verify(secrets: Sequence[str], token: str) -> tuple[str, str]:
    """(customer id, consent key) the token withdraws; UnsubscribeRefusedError otherwise."""
    if not secrets:
        raise UnsubscribeRefusedError("unsubscribe links are not configured here")
    if len(token) > MAX_TOKEN_CHARS:
        raise UnsubscribeRefusedError(f"the token is over {MAX_TOKEN_CHARS} characters")
    for secret in secrets:
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["sub", "consent"]}
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidTokenError as error:
            raise UnsubscribeRefusedError(f"the token is malformed: {error}") from None
        customer_id, key = claims["sub"], claims["consent"]
        if not isinstance(customer_id, str) or key not in KEYS:
            raise UnsubscribeRefusedError("the token names no customer or consent")
        return customer_id, key
    raise UnsubscribeRefusedError("no unsubscribe secret verifies the token")
