"""E-mail's edges: the one-click unsubscribe (RFC 8058) and the providers' bounce and
complaint webhook, with the suppressions they keep.

The unsubscribe needs no key: its signed token says whose consent it withdraws
(actors.delivery.mail.unsubscribe). A GET (a person clicking the link, or a mail
scanner fetching it) only shows a page with a button; the POST withdraws, so that no
scanner unsubscribes anyone. The withdrawal is an `identify` on the customer's stream,
applied in order with its other events; a repeated POST is the same event, a no-op.
"""

import hashlib
import html
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from actors.delivery.mail import unsubscribe
from actors.delivery.mail.suppressions import Suppression, normal
from actors.errors import StoreUnavailableError
from actors.model.events import event_from_dict
from serving.email_events import UnknownShapeError, read
from serving.security import ApiError, Grant
from serving.web.access import ADMIN, WRITE
from serving.web.answers import ERRORS, UNAVAILABLE, ErrorOut, invalid
from serving.web.backends import Backends
from serving.web.served import Live

router = APIRouter()

# The pages answer HTML; their refusals are JSON like every other route's.
PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": spec["description"],
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{spec['model'].__name__}"}
            }
        },
    }
    for code, spec in {**ERRORS, **UNAVAILABLE}.items()
}

Token = Annotated[str, Query(alias="t", min_length=1, max_length=2048)]

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status)


def _verified(backends: Backends, token: str) -> tuple[str, str]:
    secrets = [s.get_secret_value() for s in backends.config.unsubscribe_secrets]
    try:
        return unsubscribe.verify(secrets, token)
    except unsubscribe.UnsubscribeRefusedError as refused:
        raise invalid(("query", "t"), refused.reason) from None


@router.get("/v1/email/unsubscribe", response_class=HTMLResponse, responses=PAGE_ERRORS)
async def unsubscribe_page(t: Token, backends: Live) -> Any:
    """The page an unsubscribe link opens: a button that confirms (nothing changes yet)."""
    _verified(backends, t)
    form = (
        '<p>Stop marketing e-mails to this address?</p><form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", form)


@router.post("/v1/email/unsubscribe", response_class=HTMLResponse, responses=PAGE_ERRORS)
async def unsubscribe_now(t: Token, backends: Live) -> Any:
    """RFC 8058's one-click POST (`List-Unsubscribe=One-Click`), or the page's button:
    withdraws the token's consent (marketing by e-mail) for its customer."""
    customer_id, key = _verified(backends, t)
    digest = hashlib.sha256(t.encode()).hexdigest()[:32]
    withdrawal = event_from_dict(
        {
            "type": "identify",
            # The same link posted twice is the same event: applied once.
            "event_id": f"unsub-{digest}",
            "timestamp": datetime.now(UTC).isoformat(),
            "customer_id": customer_id,
            "consent": {key: False},
        }
    )
    await backends.publish([withdrawal])
    return _page("Unsubscribed", "<p>You will get no more marketing e-mails from us.</p>")


class EmailEventsOut(BaseModel):
    suppressed: int = Field(description="addresses suppressed by this call")
    ignored: int = Field(description="events that suppress nothing (soft bounces, opens)")
    confirm_url: str | None = Field(
        default=None, description="an SNS subscription waits for this URL to be visited"
    )


@router.post("/v1/email/events", response_model=EmailEventsOut, responses={**ERRORS, **UNAVAILABLE})
async def email_events(request: Request, backends: Live, _key: Grant = WRITE) -> Any:
    """A provider's bounces and complaints (SendGrid, Amazon SES through SNS, Postmark,
    Mailgun; serving.email_events): hard bounces and complaints suppress the address."""
    try:
        # SNS posts its JSON as text/plain: read the body whatever the content type says.
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise invalid(("body",), f"not JSON: {error}") from None
    try:
        reported = read(body)
    except UnknownShapeError as error:
        raise invalid(("body", error.field), error.reason) from None
    try:
        await _suppressions(backends).add(reported.suppressions)
    except StoreUnavailableError as error:
        raise ApiError(503, "store_unavailable", str(error)) from error
    return EmailEventsOut(
        suppressed=len(reported.suppressions),
        ignored=reported.ignored,
        confirm_url=reported.confirm_url,
    )


class SuppressionOut(BaseModel):
    address: str
    kind: str
    provider: str
    detail: str
    at: float


def _out(found: Suppression) -> SuppressionOut:
    return SuppressionOut(
        address=found.address,
        kind=found.kind,
        provider=found.provider,
        detail=found.detail,
        at=found.at,
    )


def _suppressions(backends: Backends) -> Any:
    if backends.suppressions is None:
        raise ApiError(503, "store_unavailable", "no suppression store configured")
    return backends.suppressions


@router.get("/v1/email/suppressions", response_model=list[SuppressionOut], responses={**ERRORS})
async def list_suppressions(
    backends: Live,
    _key: Grant = ADMIN,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Any:
    """Suppressed addresses, newest first."""
    try:
        return [_out(s) for s in await _suppressions(backends).listed(limit)]
    except StoreUnavailableError as error:
        raise ApiError(503, "store_unavailable", str(error)) from error


@router.delete(
    "/v1/email/suppressions/{address}",
    responses={**ERRORS, **UNAVAILABLE, 404: {"model": ErrorOut, "description": "not suppressed"}},
)
async def lift_suppression(address: str, backends: Live, _key: Grant = ADMIN) -> Any:
    """Lift an address's suppression (the mailbox was fixed): 404 if it had none."""
    try:
        lifted = await _suppressions(backends).remove(normal(address))
    except StoreUnavailableError as error:
        raise ApiError(503, "store_unavailable", str(error)) from error
    if not lifted:
        raise ApiError(404, "not_found", f"{address} is not suppressed")
    return {"lifted": normal(address)}
