"""Signed visitors: what lets a client key act for a known customer.

A client key sits in every page, so anyone can copy it. Without more, a copy could write
any customer's cart, traits and time zone, link a visitor of its own to them, and make
engage's rules send them messages. With `ENGAGE_API_USER_SIGNING_SECRETS` set, a client
key's call that names a customer (`userId`, `customer_id`, a customer's path) is taken
only with that customer's signature: a JWT the site's own server mints when the person
signs in (HS256 with one of the secrets, `sub` the customer id, `exp` a few hours ahead),
as Braze's SDK authentication does. Visitors (anonymous ids) need none: a page may say
what an unknown visitor does.

Several secrets may be set so that one can be rotated: every one verifies, the site signs
with the newest.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from pydantic import SecretStr

# The header a client call carries the signature in; Segment calls may carry it in their
# `context.userSignature` instead (an analytics.js source middleware sets it).
HEADER = "x-engage-user-signature"
CONTEXT_FIELD = "userSignature"
MAX_TOKEN_CHARS = 4096
# Clocks of the site's server and engage's differ by this much at most.
LEEWAY_S = 30


@dataclass(frozen=True)
class UserSignatures:
    secrets: tuple[SecretStr, ...] = ()

    @property
    def enforced(self) -> bool:
        return bool(self.secrets)

    def refusal(self, token: str | None, customer_id: str) -> str | None:
        """Why `token` does not let a client key act for `customer_id` (None: it does)."""
        if not token:
            return (
                f"a client key acts for customer {customer_id} only with their signature "
                f"(a JWT from the site's server, in {HEADER} or context.{CONTEXT_FIELD})"
            )
        if len(token) > MAX_TOKEN_CHARS:
            return f"the user signature is over {MAX_TOKEN_CHARS} characters"
        reason = "no signing secret verifies the user signature"
        for secret in self.secrets:
            try:
                claims = jwt.decode(
                    token,
                    secret.get_secret_value(),
                    algorithms=["HS256"],
                    options={"require": ["sub", "exp"]},
                    leeway=LEEWAY_S,
                )
            except jwt.ExpiredSignatureError:
                return "the user signature has expired"
            except jwt.InvalidSignatureError:
                continue  # another secret may have signed it (rotation)
            except jwt.InvalidTokenError as error:
                return f"the user signature is not a valid JWT: {error}"
            if claims["sub"] != customer_id:
                return f"the user signature is for another customer, not {customer_id}"
            return None
        return reason


def mint(secret: str, customer_id: str, ttl_s: float, now: float) -> str:
    """A signature as a site's server mints one (for tests and `engage` examples)."""
    return jwt.encode({"sub": customer_id, "exp": int(now + ttl_s)}, secret, algorithm="HS256")
