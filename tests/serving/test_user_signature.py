"""A signed visitor's JWT: minted by the site's server for one customer, for a while, with
one of the signing secrets; anything else is refused with the reason."""

from __future__ import annotations

import time

import jwt
from pydantic import SecretStr

from serving.user_signature import UserSignatures, mint

OLD, NEW = "old-secret-kept-for-the-rotation-0000", "new-secret-the-site-signs-with-00000"
SIGNATURES = UserSignatures((SecretStr(NEW), SecretStr(OLD)))


def test_a_signature_for_the_customer_lets_the_client_act_for_them() -> None:
    assert SIGNATURES.refusal(mint(NEW, "c1", 3600, time.time()), "c1") is None


def test_a_signature_by_a_secret_being_rotated_out_still_verifies() -> None:
    assert SIGNATURES.refusal(mint(OLD, "c1", 3600, time.time()), "c1") is None


def test_what_is_refused_is_named() -> None:
    now = time.time()
    cases = {
        None: "only with their signature",
        mint(NEW, "c2", 3600, now): "for another customer",
        mint(NEW, "c1", -3600, now): "expired",
        mint("a-secret-engage-does-not-know-000000", "c1", 3600, now): "no signing secret",
        "not.a.jwt": "not a valid JWT",
        jwt.encode({"sub": "c1"}, NEW, algorithm="HS256"): "not a valid JWT",  # no expiry
        "x" * 5000: "over 4096",
    }
    for token, reason in cases.items():
        refusal = SIGNATURES.refusal(token, "c1")
        assert refusal is not None
        assert reason in refusal, (token, refusal)


def test_an_unsigned_token_is_not_taken() -> None:
    """`alg: none` carries no signature: never accepted, whatever it claims."""
    unsigned = jwt.encode({"sub": "c1", "exp": int(time.time()) + 60}, "", algorithm="none")
    assert SIGNATURES.refusal(unsigned, "c1") is not None


def test_without_secrets_nothing_is_enforced() -> None:
    assert not UserSignatures().enforced
    assert SIGNATURES.enforced
