"""The ``a2a`` section of the mock config: which agents exist, their skills and how long tasks take.

A skill's ``behaviour`` decides the task's fate, so every lifecycle a client must handle can be
produced on purpose: ``complete`` (SUBMITTED → WORKING → COMPLETED with an artifact), ``ask``
(→ INPUT_REQUIRED; a follow-up message on the same task completes it unless it is itself steered to
another skill), ``fail`` (→ FAILED), ``reject`` (→ REJECTED), ``message`` (a direct Message reply, no
task) and ``invalid`` (the agent produces no valid answer: InvalidAgentResponseError, -32006). A
message — first or follow-up alike — picks the skill named in its ``metadata.skillId``, else the first
skill one of whose ``keywords`` occurs in its text, else the agent's first skill (for a follow-up:
"complete").

``push`` bounds the webhook deliveries (``push``): which hosts a webhook may name (loopback only by
default, so the mock cannot be made to forward requests elsewhere), retries, backoff and timeouts.
An agent's ``extensions`` are announced in its card; a ``required`` one must be named in the
request's ``A2A-Extensions`` header (ExtensionSupportRequiredError otherwise). ``extended_card``
declares the authenticated extended card; its ``extended_skills`` are what it adds (declared with
none: ExtendedAgentCardNotConfiguredError).
"""

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aigw.mocks.config_base import Strict, require_unique

Behaviour = Literal["complete", "ask", "fail", "reject", "message", "invalid"]
NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
HOSTNAME = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
LOOPBACK_ONLY = ["127.0.0.0/8", "::1", "localhost"]


class Skill(Strict):
    id: str = Field(min_length=1, pattern=NAME_PATTERN)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list, description="lower-case words that select this skill")
    behaviour: Behaviour = "complete"


class Extension(Strict):
    uri: str = Field(min_length=1)
    description: str | None = None
    required: bool = False
    params: dict[str, Any] | None = None


class Agent(Strict):
    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    description: str = Field(min_length=1)
    version: str = "1.0.0"
    streaming: bool = True
    push_notifications: bool = True
    input_modes: list[str] = Field(default_factory=lambda: ["text/plain", "application/json"], min_length=1)
    output_modes: list[str] = Field(default_factory=lambda: ["text/plain", "application/json"], min_length=1)
    work_seconds: float | None = Field(None, ge=0, description="overrides a2a.work_seconds for this agent")
    skills: list[Skill] = Field(min_length=1)
    extensions: list[Extension] = Field(default_factory=list)
    extended_card: bool = Field(False, description="declare capabilities.extendedAgentCard")
    extended_skills: list[Skill] = Field(default_factory=list, description="what the extended card adds")

    @model_validator(mode="after")
    def _unique_skills(self):
        ids = [s.id for s in self.skills + self.extended_skills]
        require_unique(ids, "skill ids must be unique within an agent (extended_skills included)")
        require_unique([e.uri for e in self.extensions], "extension uris must be unique within an agent")
        return self


class PushDelivery(Strict):
    """How webhooks are called: who may be called, how often a failure is retried, how long each try waits."""

    allowed_hosts: list[str] = Field(
        default_factory=lambda: list(LOOPBACK_ONLY),
        description='hosts a webhook URL may name: IP networks ("127.0.0.0/8"), IPs, host names, "*.example.com", or "*" for any')
    max_attempts: int = Field(4, ge=1, le=20, description="tries per notification (the first one included)")
    backoff_seconds: float = Field(0.25, ge=0, le=60, description="wait before the first retry; doubles per retry")
    max_backoff_seconds: float = Field(8.0, ge=0, le=600)
    timeout_seconds: float = Field(5.0, gt=0, le=120, description="per try: connect, send and read the answer")
    max_pending: int = Field(1000, ge=1, le=100_000, description="notifications queued per webhook; older ones are dropped beyond")
    concurrency: int = Field(16, ge=1, le=1024, description="webhook calls in flight at once, over all agents")
    log_size: int = Field(2000, ge=1, le=1_000_000, description="deliveries the admin API keeps (oldest forgotten first)")

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if host == "*" or HOSTNAME.match(host):
                continue
            try:
                ipaddress.ip_network(host.strip("[]"), strict=False)
            except ValueError:
                raise ValueError(f"{host!r} is neither an IP network, an IP, a host name, '*.domain' nor '*'") from None
        return hosts


def default_agents() -> list[Agent]:
    return [
        Agent(
            name="assistant",
            description="A general assistant: answers questions, asks back when a request is ambiguous.",
            skills=[
                Skill(id="answer", name="Answer", description="Answers a question with a short text artifact.",
                      tags=["qa", "text"], examples=["What is an AI gateway?"]),
                Skill(id="clarify", name="Clarify", description="Asks a follow-up question before answering.",
                      tags=["multi-turn"], examples=["Book a meeting room"], keywords=["book", "clarify", "schedule"],
                      behaviour="ask"),
                Skill(id="fail", name="Always fails", description="Fails every task (for error-path tests).",
                      tags=["testing"], examples=["Please fail"], keywords=["fail", "crash"], behaviour="fail"),
                Skill(id="reject", name="Refuses", description="Rejects the task outright.",
                      tags=["testing"], examples=["Please reject this"], keywords=["reject", "refuse"],
                      behaviour="reject"),
                Skill(id="chat", name="Quick reply", description="Replies with a direct message, no task.",
                      tags=["chat"], examples=["hello"], keywords=["hello", "hi", "ping"], behaviour="message"),
            ],
        ),
        Agent(
            name="researcher",
            description="Researches a topic and reports back; slower, with push notifications disabled.",
            push_notifications=False,
            work_seconds=3.0,
            skills=[
                Skill(id="research", name="Research", description="Writes a short report as a text artifact.",
                      tags=["research", "report"], examples=["Research vector databases"]),
            ],
        ),
    ]


class A2AConfig(Strict):
    enabled: bool = True
    default_agent: str | None = Field(None, description="served at /.well-known/agent-card.json; first agent if unset")
    work_seconds: float = Field(1.0, ge=0, description="SUBMITTED → COMPLETED duration on the virtual clock")
    max_tasks: int = Field(10_000, gt=0, description="oldest finished tasks are forgotten beyond this")
    card_max_age: int = Field(300, ge=0, description="Cache-Control max-age (seconds) of agent cards")
    push: PushDelivery = Field(default_factory=PushDelivery, description="webhook delivery of push notifications")
    agents: list[Agent] = Field(default_factory=default_agents, min_length=1)

    @model_validator(mode="after")
    def _consistent(self):
        names = [a.name for a in self.agents]
        require_unique(names, "agent names must be unique")
        if self.default_agent is not None and self.default_agent not in names:
            raise ValueError(f"default_agent {self.default_agent!r} is not one of the agents: {', '.join(names)}")
        return self

    def agent(self, name: str) -> Agent | None:
        return next((a for a in self.agents if a.name == name), None)

    @property
    def default(self) -> Agent:
        return self.agent(self.default_agent) if self.default_agent else self.agents[0]

    def duration(self, agent: Agent) -> float:
        return self.work_seconds if agent.work_seconds is None else agent.work_seconds
