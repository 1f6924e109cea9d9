"""What an agent does with a message: pick the skill, decide the outcome, write the reply.

The reply is drawn from a random source seeded by (mock seed, agent, skill, message text), so the same
conversation gets the same words on every run. A follow-up message to a task waiting for input is
steered by the same rules as a first message (CORE-HIST-005/006: a client that steers every turn into
INPUT_REQUIRED gets INPUT_REQUIRED every turn); one that matches no rule completes the task. Besides the configured skills, a ``messageId`` that
starts with one of the A2A TCK's prefixes (``tck-complete-task``, ``tck-input-required``, ...) selects
the behaviour the TCK's scenarios expect: the TCK uses that prefix as its in-band signal to the agent
under test, so the mock passes the official TCK without a special mode.
"""

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from aigw.mocks.a2a.config import Agent, Skill
from aigw.mocks.textgen import generate_text

COMPLETED, FAILED, REJECTED = "TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_REJECTED"
INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
TEXT_MODEL = "gpt-4o"  # only picks the vocabulary of the generated prose


@dataclass
class Outcome:
    """The decided fate of one message: a direct Message, or a task plan ending in ``final_state``."""

    skill: str
    final_state: str | None  # None: answer with a Message, no task
    text: str  # the agent's status message (or the direct reply)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    immediate: bool = False  # settle at once instead of working for the agent's duration
    invalid: bool = False  # the agent fails to produce a valid answer (InvalidAgentResponseError)


def rng_for(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def message_text(message: dict[str, Any]) -> str:
    return " ".join(p["text"] for p in message.get("parts", []) if isinstance(p.get("text"), str))


def steered_skill(agent: Agent, message: dict[str, Any]) -> Skill | None:
    """The skill a message asks for (``metadata.skillId``) or hits by keyword; None when neither."""
    wanted = (message.get("metadata") or {}).get("skillId")
    if isinstance(wanted, str):
        for skill in agent.skills:
            if skill.id == wanted:
                return skill
    words = set(message_text(message).lower().replace("?", " ").replace(",", " ").replace(".", " ").split())
    for skill in agent.skills:
        if words.intersection(skill.keywords):
            return skill
    return None


def choose_skill(agent: Agent, message: dict[str, Any]) -> Skill:
    return steered_skill(agent, message) or agent.skills[0]


def text_artifact(artifact_id: str, name: str, text: str) -> dict[str, Any]:
    return {"artifactId": artifact_id, "name": name, "parts": [{"text": text, "mediaType": "text/plain"}]}


def decide(agent: Agent, seed: int, message: dict[str, Any], continuing: bool) -> Outcome:
    """The outcome for a new message, or for a follow-up to a task that asked for input."""
    tck = tck_outcome(message.get("messageId", ""))
    if tck is not None and not (continuing and tck.final_state is None):  # a task cannot answer with a Message
        return tck
    skill = steered_skill(agent, message) if continuing else choose_skill(agent, message)
    behaviour = "complete" if skill is None or (continuing and skill.behaviour == "message") else skill.behaviour
    skill = skill or agent.skills[0]
    text = message_text(message)
    rng = rng_for(seed, agent.name, skill.id, text)
    reply = generate_text(rng, rng.randint(16, 48), TEXT_MODEL)
    if behaviour == "invalid":
        return Outcome(skill.id, None, "", invalid=True)
    if behaviour == "complete":
        return Outcome(skill.id, COMPLETED, f"Done: {reply.split('.')[0]}.",
                       [text_artifact(f"{skill.id}-result", f"{skill.name} result", reply)])
    if behaviour == "ask":
        return Outcome(skill.id, INPUT_REQUIRED, "Which date, time and place should I use? Reply on this task.")
    if behaviour == "fail":
        return Outcome(skill.id, FAILED, f"Skill {skill.id!r} failed: simulated failure for this request.")
    if behaviour == "reject":
        return Outcome(skill.id, REJECTED, f"Skill {skill.id!r} declined the request.", immediate=True)
    return Outcome(skill.id, None, reply)


def _file(artifact_id: str, part: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"artifactId": artifact_id, "name": "output.txt", "parts": [part]}]


# messageId prefix → outcome, as the TCK's scenarios/core_operations.feature describes its agent.
# Longest prefix first: "tck-artifact-file-url" must win over "tck-artifact-file".
_TCK = {
    "tck-artifact-file-url": lambda: Outcome("tck", COMPLETED, "", _file("tck-file-url", {
        "url": "https://example.com/output.txt", "filename": "output.txt", "mediaType": "text/plain"}), immediate=True),
    "tck-artifact-file": lambda: Outcome("tck", COMPLETED, "", _file("tck-file", {
        "raw": "R2VuZXJhdGVkIGZpbGUgY29udGVudA==", "filename": "output.txt", "mediaType": "text/plain"}), immediate=True),
    "tck-artifact-text": lambda: Outcome("tck", COMPLETED, "", [text_artifact("tck-text", "text", "Generated text content")],
                                         immediate=True),
    "tck-artifact-data": lambda: Outcome("tck", COMPLETED, "", [{"artifactId": "tck-data", "name": "data", "parts": [
        {"data": {"key": "value", "count": 42}, "mediaType": "application/json"}]}], immediate=True),
    "tck-delayed-complete": lambda: Outcome("tck", COMPLETED, "Done after delay"),
    "tck-complete-task": lambda: Outcome("tck", COMPLETED, "Hello from TCK", immediate=True),
    "tck-message-response": lambda: Outcome("tck", None, "Direct message response"),
    "tck-input-required": lambda: Outcome("tck", INPUT_REQUIRED, "Input required", immediate=True),
    "tck-reject-task": lambda: Outcome("tck", REJECTED, "rejected", immediate=True),
}


def tck_outcome(message_id: str) -> Outcome | None:
    for prefix in sorted(_TCK, key=len, reverse=True):
        if message_id.startswith(prefix):
            return _TCK[prefix]()
    return None
