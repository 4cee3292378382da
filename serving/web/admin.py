"""Personal data: what an operator does on a customer's request."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from actors.errors import StoreUnavailableError
from serving.security import ApiError, Grant
from serving.subject_access import subject_access
from serving.web.access import ADMIN
from serving.web.answers import ERRORS, UNAVAILABLE
from serving.web.customers import CustomerId
from serving.web.served import Live

router = APIRouter()


class ForgottenOut(BaseModel):
    forgotten: str


@router.delete(
    "/v1/customers/{customer_id}", response_model=ForgottenOut, responses={**ERRORS, **UNAVAILABLE}
)
async def forget(customer_id: CustomerId, backends: Live, _key: Grant = ADMIN) -> Any:
    """Delete everything engage holds on the customer (privacy requests), with every
    visitor id merged into it; a visitor's id forgets the customer it was merged into."""
    return ForgottenOut(forgotten=await backends.forget(customer_id))


@router.get("/v1/customers/{customer_id}/export", responses={**ERRORS, **UNAVAILABLE})
async def export(customer_id: CustomerId, backends: Live, _key: Grant = ADMIN) -> dict[str, Any]:
    """Everything engage keeps about the customer (a data subject's access request), with
    every visitor merged into it, as one JSON document (serving.subject_access); a
    visitor's id exports the customer it was merged into."""
    resolved = await backends.resolve(customer_id)
    try:
        return await subject_access(backends.states, backends.guards, backends.slots, resolved)
    except StoreUnavailableError as error:
        raise ApiError(503, "store_unavailable", str(error)) from error
