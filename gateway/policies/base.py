"""What every policy is: a small object with hooks for the sections it may appear in.

Policies mirror API Management's: each is configured with APIM's own element and attribute names
(``llm-token-limit`` with ``tokens-per-minute`` ...), runs in the section it was placed in, and may
end the request early by setting ``ctx.response`` (as ``<return-response>`` or a limit does).
"""

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from aigw.gateway.context import Context

if TYPE_CHECKING:  # services import the policies' registry: a runtime import would be circular
    from aigw.gateway.services import Services

INBOUND, BACKEND, OUTBOUND, ON_ERROR = "inbound", "backend", "outbound", "on-error"


def _hyphenate(name: str) -> str:
    return name.replace("_", "-")


class PolicyConfig(BaseModel):
    """Attributes use APIM's hyphenated names in YAML (``counter-key``), snake_case in Python."""

    model_config = ConfigDict(extra="forbid", alias_generator=_hyphenate, populate_by_name=True, frozen=True)


class Policy:
    """Base class: override the hooks of the sections the policy supports."""

    name: ClassVar[str]
    sections: ClassVar[frozenset[str]]
    Config: ClassVar[type[PolicyConfig]]

    def __init__(self, config: PolicyConfig, services: "Services") -> None:
        self.config = config
        self.services = services

    async def inbound(self, ctx: Context) -> None:
        raise NotImplementedError

    async def outbound(self, ctx: Context) -> None:
        raise NotImplementedError

    async def on_error(self, ctx: Context) -> None:
        raise NotImplementedError
