"""A person's data on request: everything engage keeps about a customer and the visitors
merged into it, as one JSON document, from the API (admin) and from the CLI; after the
customer is forgotten, the document says so and holds nothing of them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from engage.cli import main
from tests.conftest import ADMIN_TOKEN, App
from tests.e2e.test_customers import wait_known
from tests.engage.test_commands import use
from tests.kafka_support import produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def export(app: App, actor: str) -> dict[str, Any]:
    answer = app.get(f"/v1/customers/{actor}/export", key=ADMIN_TOKEN)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_a_customer_s_export_holds_their_state_visitors_traces_and_reminders(
    engage_app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    customer, visitor = f"sar-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:10]
    email = f"{customer}@example.com"
    now = time.time()
    produce(
        engage_app.kafka,
        [
            event("product_view", customer=None, anonymous_id=visitor, at=now),
            event("cart_add", customer=None, anonymous_id=visitor, at=now + 1, price=20.0),
            event("identify", customer=customer, anonymous_id=visitor, at=now + 2, email=email),
            event("page_view", customer=customer, at=now + 3),
        ],
    )
    wait_known(engage_app, customer, 4)

    document = export(engage_app, customer)
    assert document["customer_id"] == customer
    assert document["known"] is True
    assert document["linked_visitors"] == [f"anon:{visitor}"]
    mine = document["actors"][customer]
    assert mine["state"]["email"] == email
    assert mine["traces"], "the decision traces of its turns"
    assert mine["reminders"]["reengagement"] > now  # set by its latest visit
    assert mine["retention_s"] > 0
    assert f"anon:{visitor}" in document["actors"]
    assert export(engage_app, f"anon:{visitor}")["customer_id"] == customer

    use(engage_app, monkeypatch)
    assert main(["customers", "export", f"anon:{visitor}"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["customer_id"] == customer
    assert printed["actors"][customer]["state"] == mine["state"]

    refused = engage_app.get(f"/v1/customers/{customer}/export")  # the read key
    assert refused.status_code == 403

    assert engage_app.request("DELETE", f"/v1/customers/{customer}", key=ADMIN_TOKEN).ok
    after = export(engage_app, customer)
    assert after["known"] is False
    assert after["actors"][customer]["forgotten_at"] is not None
    assert email not in json.dumps(after)
