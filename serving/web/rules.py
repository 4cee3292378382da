"""The rules as versioned data over HTTP (admin keys): read the version in force and the
versions kept, push a new version (validated in full: refused as a whole, each fault
named), roll back. Every shard runs a pushed version within a poll, between two batches
(actors.campaigns.rules_follower); this replica's policy follows it the same way."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from actors.campaigns.rules_store import NoPreviousRulesError, RulesConflictError, RulesVersion
from actors.errors import RuleError, RulesRefusedError
from serving.security import ApiError, Grant
from serving.web.access import ADMIN
from serving.web.answers import ERRORS, UNAVAILABLE, ErrorOut, store_call
from serving.web.backends import Backends, RulesWriter
from serving.web.served import Live

router = APIRouter()

# A rules file of a few thousand rules; a larger body is a mistake, not a campaign.
MAX_RULES_BYTES = 1_000_000


class RulesVersionOut(BaseModel):
    version: int
    by: str
    at: float
    comment: str
    action: str


class RulesOut(BaseModel):
    version: int = Field(description="The version in force (0: the deployment's rules file)")
    text: str | None = Field(description="Its YAML (None while the file is in force)")
    by: str | None
    at: float | None
    comment: str | None
    replica: dict[str, Any] = Field(description="What this replica runs, and any fault")
    versions: list[RulesVersionOut] = Field(description="The versions kept, newest first")


class RulesIn(BaseModel):
    text: str = Field(max_length=MAX_RULES_BYTES, description="The rules file's YAML")
    comment: str = Field(default="", max_length=1000, description="Why: kept with the version")


class PushedOut(BaseModel):
    version: int
    created: bool = Field(description="False: the same text as the version in force")


def _writer(backends: Backends) -> RulesWriter:
    if backends.rules_store is None:
        raise ApiError(503, "store_unavailable", "this replica has no rules store")
    return backends.rules_store


@router.get("/v1/rules", response_model=RulesOut, responses={**ERRORS, **UNAVAILABLE})
async def rules(
    backends: Live,
    _key: Grant = ADMIN,
    versions: Annotated[int, Query(ge=0, le=50, description="Versions listed")] = 10,
) -> Any:
    """The version in force with its text, who pushed it, when and why."""
    store = _writer(backends)

    def read() -> tuple[RulesVersion | None, list[RulesVersion]]:
        current = store.current_version()
        return (store.load(current) if current else None), store.versions(versions)

    found, kept = await _store_call(read)
    replica = backends.rules.status() if backends.rules is not None else {}
    return RulesOut(
        version=found.version if found else 0,
        text=found.text if found else None,
        by=found.by if found else None,
        at=found.at if found else None,
        comment=found.comment if found else None,
        replica=replica,
        versions=[RulesVersionOut(**v.meta()) for v in kept],
    )


@router.put(
    "/v1/rules",
    response_model=PushedOut,
    responses={**ERRORS, **UNAVAILABLE, 409: {"model": ErrorOut}},
)
async def push(body: RulesIn, backends: Live, key: Grant = ADMIN) -> Any:
    """Put new rules in force, on every shard within seconds. Refused as a whole (422,
    every fault named as `body.text.<rule>.<field>`) if any rule is invalid."""
    store = _writer(backends)
    try:
        pushed, created = await _store_call(lambda: store.push(body.text, key.key_id, body.comment))
    except RuleError as error:
        faults = error.faults if isinstance(error, RulesRefusedError) else [error]
        raise RequestValidationError(
            [
                {"loc": ("body", "text", f.rule, f.field), "msg": f.reason, "type": "value_error"}
                for f in faults
            ]
        ) from None
    return PushedOut(version=pushed.version, created=created)


@router.post(
    "/v1/rules/rollback",
    response_model=PushedOut,
    responses={**ERRORS, **UNAVAILABLE, 409: {"model": ErrorOut}},
)
async def rollback(backends: Live, key: Grant = ADMIN) -> Any:
    """Put the version in force before the current one back in force."""
    store = _writer(backends)
    try:
        found = await _store_call(lambda: store.rollback(key.key_id))
    except NoPreviousRulesError:
        raise ApiError(
            409,
            "no_previous_version",
            "no earlier rules version is kept: to run the deployment's rules file again, push it",
        ) from None
    return PushedOut(version=found.version, created=False)


async def _store_call(call: Any) -> Any:
    return await store_call(call, RulesConflictError, "rules")
