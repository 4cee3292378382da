"""One-click unsubscribe tokens (actors.delivery.mail.unsubscribe)."""

from __future__ import annotations

import pytest

from actors.delivery.mail.unsubscribe import UnsubscribeRefusedError, link, mint, verify

OLD, NEW = "old-secret-of-at-least-32-bytes-long!!", "new-secret-of-at-least-32-bytes-long!!"


def test_a_token_names_its_customer_and_consent_under_any_current_secret() -> None:
    assert verify([NEW, OLD], mint(OLD, "c1")) == ("c1", "email.marketing")
    assert verify([NEW], mint(NEW, "c2", "email.service")) == ("c2", "email.service")


@pytest.mark.parametrize(
    ("secrets", "token", "says"),
    [
        ([NEW], mint(OLD, "c1"), "no unsubscribe secret verifies"),
        ([NEW], "not-a-jwt", "malformed"),
        ([], mint(NEW, "c1"), "not configured"),
        ([NEW], mint(NEW, "c1", "fax.marketing"), "names no customer or consent"),
    ],
)
def test_a_token_that_does_not_verify_is_refused_with_the_reason(
    secrets: list[str], token: str, says: str
) -> None:
    with pytest.raises(UnsubscribeRefusedError, match=says):
        verify(secrets, token)


def test_a_link_adds_the_token_to_the_url() -> None:
    assert link("https://e.example/u", "a.b") == "https://e.example/u?t=a.b"
    assert link("https://e.example/u?list=1", "a.b") == "https://e.example/u?list=1&t=a.b"
