"""The ``a2a`` section of the mock config: which agents exist, their skills and how long tasks take.

A skill's ``behaviour`` decides the task's fate, so every lifecycle a client must handle can be
produced on purpose: ``complete`` (SUBMITTED → WORKING → COMPLETED with an artifact), ``ask``
(→ INPUT_REQUIRED; a follow-up message on the same task completes it), ``fail`` (→ FAILED),
``reject`` (→ REJECTED) and ``message`` (a direct Message reply, no task). A message picks the skill
named in its ``metadata.skillId``, else the first skill one of whose ``keywords`` occurs in its text,
else the agent's first skill.
"""

from typing import Literal

from pydantic import Field, model_validator

from aigw.mocks.config_base import Strict, require_unique

Behaviour = Literal["complete", "ask", "fail", "reject", "message"]
NAME_PATTERN = r"^[A-Za-z0-9._-]+$"


class Skill(Strict):
    id: str = Field(min_length=1, pattern=NAME_PATTERN)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list, description="lower-case words that select this skill")
    behaviour: Behaviour = "complete"


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

    @model_validator(mode="after")
    def _unique_skills(self):
        ids = [s.id for s in self.skills]
        require_unique(ids, "skill ids must be unique within an agent")
        return self


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
