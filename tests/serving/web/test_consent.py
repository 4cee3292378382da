"""The preference API: a customer's consent per channel and purpose, read and changed
(serving.web.consent)."""

from __future__ import annotations

import time

from actors.model.events import Identify
from actors.model.state import CustomerState
from serving.user_signature import mint
from tests.serving.web.conftest import CLIENT, READ, SIGNING_SECRET, WRITE, Fakes
from tests.serving.web.test_customers import UnreachableStore, save


def test_a_customers_consent_reads_with_the_defaults_filled_in(api: Fakes) -> None:
    state = CustomerState()
    state.events_total = 2
    state.consent = {"sms.marketing": False}
    save(api, "c1", state)
    body = api.request("GET", "/v1/customers/c1/consent", READ).json()
    assert body["given"] == {"sms.marketing": False}
    assert body["consent"]["sms.marketing"] is False
    assert body["consent"]["email.marketing"] is True
    assert len(body["consent"]) == 8
    assert body["opt_in"] == []


def test_the_store_out_of_reach_the_shard_answers(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.states = UnreachableStore()
    api.shards.snapshots["c1"] = {"customer": {"consent": {"push.service": False}}}
    body = api.request("GET", "/v1/customers/c1/consent", READ).json()
    assert body["given"] == {"push.service": False}


def test_a_change_is_an_identify_on_the_customers_stream(api: Fakes) -> None:
    answer = api.request(
        "PUT",
        "/v1/customers/c1/consent",
        WRITE,
        json={"consent": {"*.marketing": False, "email.marketing": True}, "event_id": "pref-1"},
    )
    assert answer.status_code == 202
    assert answer.json() == {"accepted": 1, "event_ids": ["pref-1"]}
    (published,) = api.publisher.published
    assert isinstance(published, Identify)
    assert published.actor_id == "c1"
    assert published.consent_answers()["email.marketing"] is True
    assert published.consent_answers()["sms.marketing"] is False


def test_an_unknown_channel_or_purpose_is_a_422_naming_it(api: Fakes) -> None:
    answer = api.request(
        "PUT", "/v1/customers/c1/consent", WRITE, json={"consent": {"fax.marketing": False}}
    )
    assert answer.status_code == 422
    assert "fax.marketing" in answer.text
    assert "consent" in answer.text
    assert api.publisher.published == []


def test_a_client_key_may_withdraw_but_not_grant(api: Fakes) -> None:
    url = "/v1/customers/c1/consent"
    withdrawn = api.request("PUT", url, CLIENT, json={"consent": {"*.marketing": False}})
    assert withdrawn.status_code == 202
    granted = api.request("PUT", url, CLIENT, json={"consent": {"sms.marketing": True}})
    assert granted.status_code == 403
    assert "can withdraw consent, not grant it (sms.marketing)" in granted.text
    assert len(api.publisher.published) == 1


def test_with_signed_visitors_a_client_changes_only_its_own_customers_consent(
    signed_api: Fakes,
) -> None:
    url = "/v1/customers/c1/consent"
    body = {"consent": {"*.marketing": False}}
    unsigned = signed_api.request("PUT", url, CLIENT, json=body)
    assert unsigned.status_code == 403
    assert "only with their signature" in unsigned.text
    token = mint(SIGNING_SECRET, "c1", 3600, time.time())
    headers = {"X-Engage-User-Signature": token}
    assert signed_api.request("PUT", url, CLIENT, json=body, headers=headers).status_code == 202
    assert [e.actor_id for e in signed_api.publisher.published] == ["c1"]
