"""Personal data: what an operator does on a customer's request."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from serving.security import Grant
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
