"""`actors.turn.scoring.Scorer` implemented with a Ray Serve deployment handle.

Customer shards receive a factory for this class (they must not import `serving`), call it
inside their own process, and see only the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.exceptions import RayError

from actors.errors import EngageError, ScorerUnavailableError
from actors.turn.scoring import Score


class HandleScorer:
    def __init__(self, app_name: str, deployment: str = "Scorer") -> None:
        self._app_name = app_name
        self._deployment = deployment
        self._handle: Any = None

    def _get_handle(self) -> Any:
        if self._handle is None:
            self._handle = serve.get_deployment_handle(self._deployment, app_name=self._app_name)
        return self._handle

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        try:
            result: list[Score] = await self._get_handle().score.remote(model, list(rows))
        except EngageError:
            raise
        except (RayError, RuntimeError, ValueError) as error:
            # Serve wraps replica exceptions: an EngageError raised in the scorer arrives
            # as its cause.
            cause = getattr(error, "cause", None)
            if isinstance(cause, EngageError):
                raise cause from None
            raise ScorerUnavailableError(model, str(error)) from error
        return result


@dataclass(frozen=True)
class HandleScorerFactory:
    """Picklable recipe handed to shards: builds a HandleScorer in the shard's process."""

    app_name: str
    deployment: str = "Scorer"

    def __call__(self) -> HandleScorer:
        return HandleScorer(self.app_name, self.deployment)
