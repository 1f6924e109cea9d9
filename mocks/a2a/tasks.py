"""Tasks that really progress: each task carries a plan of timed steps on the mock's virtual clock.

A step says "at time T the task enters state S (with this status message and these artifacts)". The
state a client sees is the last step whose time has come, so ``GetTask`` mid-way shows WORKING, an
admin ``POST /_mock/clock/advance`` moves every task forward at once, and a stream simply emits steps
as their time arrives. Cancelling drops the steps still in the future and appends CANCELED; a
follow-up message to a task waiting for input appends a new WORKING → COMPLETED segment.
Both wake whoever waits on the task's ``changed`` signal (the push-notification watcher), so a
change made by a request is noticed at once rather than at the next poll.
"""

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aigw.mocks.a2a import errors
from aigw.mocks.a2a.skills import Outcome
from aigw.mocks.clock import Clock

SUBMITTED, WORKING = "TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"
CANCELED = "TASK_STATE_CANCELED"
TERMINAL = frozenset({"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", CANCELED, "TASK_STATE_REJECTED"})
INTERRUPTED = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})
STATES = ("TASK_STATE_UNSPECIFIED", SUBMITTED, WORKING, "TASK_STATE_COMPLETED", "TASK_STATE_FAILED", CANCELED,
          "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_REJECTED", "TASK_STATE_AUTH_REQUIRED")


@dataclass
class Step:
    at: float  # on the virtual monotonic clock
    state: str
    message: dict[str, Any] | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)


class Signal:
    """Wakes every coroutine waiting on it; a waiter that times out just goes on (no lost wake-ups
    matter: waiters re-read the task after every wake)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


@dataclass
class Task:
    id: str
    context_id: str
    seq: int
    steps: list[Step]
    history: list[tuple[float, dict[str, Any]]]  # (time it was exchanged, message)
    metadata: dict[str, Any] | None = None
    push_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: Signal = field(default_factory=Signal, repr=False, compare=False)

    def applied(self, now: float) -> list[Step]:
        return [s for s in self.steps if s.at <= now] or self.steps[:1]

    def current(self, now: float) -> Step:
        return self.applied(now)[-1]

    @property
    def settles_at(self) -> float:
        """When the plan reaches its last (terminal or interrupted) state."""
        return self.steps[-1].at

    def finished(self, now: float) -> bool:
        """Terminal, with nothing left to happen: no watcher or subscriber has anything more to wait for."""
        return self.current(now).state in TERMINAL and now >= self.settles_at


def is_final(state: str) -> bool:
    return state in TERMINAL or state in INTERRUPTED


class TaskStore:
    """The tasks of one agent. Ids come from the seed and a counter, so a replayed run repeats them."""

    def __init__(self, agent: str, seed: int, clock: Clock, duration: float, max_tasks: int) -> None:
        self.agent, self.seed, self.clock, self.duration, self.max_tasks = agent, seed, clock, duration, max_tasks
        self.tasks: dict[str, Task] = {}
        self.counter = 0
        # wall - monotonic, fixed once so a step's timestamp reads the same on every request
        self.epoch = clock.wall() - clock.monotonic()

    def new_id(self, kind: str) -> str:
        self.counter += 1
        digest = hashlib.sha256(f"{self.seed}:{self.agent}:{kind}:{self.counter}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def wall_time(self, at: float) -> float:
        """A virtual-monotonic instant as wall-clock seconds (both clocks share the admin offset)."""
        return at + self.epoch

    def timestamp(self, at: float) -> str:
        return datetime.fromtimestamp(self.wall_time(at), timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def agent_message(self, task_id: str, context_id: str, text: str) -> dict[str, Any]:
        return {"messageId": self.new_id("message"), "contextId": context_id, "taskId": task_id, "role": "ROLE_AGENT",
                "parts": [{"text": text}]}

    def direct_message(self, context_id: str, text: str) -> dict[str, Any]:
        return {"messageId": self.new_id("message"), "contextId": context_id, "role": "ROLE_AGENT",
                "parts": [{"text": text}]}

    def _plan(self, task_id: str, context_id: str, start: float, outcome: Outcome, first: str | None) -> list[Step]:
        final = outcome.final_state
        reply = self.agent_message(task_id, context_id, outcome.text) if outcome.text else None
        if outcome.immediate or self.duration == 0:
            head = [Step(start, first)] if first else []
            return head + [Step(start, final, reply, outcome.artifacts)]
        steps = [Step(start, first)] if first else []
        if first != WORKING:
            steps.append(Step(start + self.duration * 0.1, WORKING))
        if outcome.artifacts:
            steps.append(Step(start + self.duration * 0.6, WORKING, None, outcome.artifacts))
        steps.append(Step(start + self.duration, final, reply))
        return steps

    def create(self, message: dict[str, Any], outcome: Outcome, metadata: dict[str, Any] | None) -> Task:
        now = self.clock.monotonic()
        task_id = self.new_id("task")
        context_id = message.get("contextId") or self.new_id("context")
        user = {**message, "taskId": task_id, "contextId": context_id}
        task = Task(task_id, context_id, self.counter, self._plan(task_id, context_id, now, outcome, SUBMITTED),
                    [(now, user)], metadata)
        self._record_replies(task)
        self.tasks[task_id] = task
        self._evict()
        return task

    def continue_task(self, task: Task, message: dict[str, Any], outcome: Outcome) -> None:
        """A follow-up message: only a task waiting for input takes up work again."""
        now = self.clock.monotonic()
        state = task.current(now).state
        if state in TERMINAL:
            raise errors.A2AError(errors.UNSUPPORTED_OPERATION,
                                  f"Task {task.id} is in terminal state {state}; it accepts no more messages")
        task.history.append((now, {**message, "taskId": task.id, "contextId": task.context_id}))
        if state in INTERRUPTED:
            task.steps = task.applied(now) + self._plan(task.id, task.context_id, now, outcome, WORKING)
            self._record_replies(task)
        task.changed.notify()

    def _record_replies(self, task: Task) -> None:
        """Agent status messages join the history at the moment their step applies."""
        known = {id(m) for _, m in task.history}
        for step in task.steps:
            if step.message is not None and id(step.message) not in known:
                task.history.append((step.at, step.message))
        task.history.sort(key=lambda entry: entry[0])

    def get(self, task_id: Any) -> Task:
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise errors.task_not_found(str(task_id))
        return task

    def cancel(self, task: Task) -> None:
        now = self.clock.monotonic()
        state = task.current(now).state
        if state in TERMINAL:
            raise errors.A2AError(errors.TASK_NOT_CANCELABLE, f"Task {task.id} is {state} and cannot be canceled",
                                  {"taskId": task.id})
        task.steps = task.applied(now) + [Step(now, CANCELED, self.agent_message(task.id, task.context_id, "Canceled."))]
        task.history = [(at, m) for at, m in task.history if at <= now]
        self._record_replies(task)
        task.changed.notify()

    def view(self, task: Task, history_length: int | None = None, include_artifacts: bool = True) -> dict[str, Any]:
        """The task as the v1.0 JSON mapping of ``Task`` shows it at this moment."""
        now = self.clock.monotonic()
        applied = task.applied(now)
        step = applied[-1]
        status: dict[str, Any] = {"state": step.state, "timestamp": self.timestamp(step.at)}
        if step.message is not None:
            status["message"] = step.message
        body: dict[str, Any] = {"id": task.id, "contextId": task.context_id, "status": status}
        artifacts = [a for s in applied for a in s.artifacts]
        if include_artifacts and artifacts:
            body["artifacts"] = artifacts
        history = [m for at, m in task.history if at <= now]
        if history_length is not None:
            history = history[-history_length:] if history_length else []
        if history:
            body["history"] = history
        if task.metadata:
            body["metadata"] = task.metadata
        return body

    def listing(self) -> list[Task]:
        """Most recently updated first, ties broken by creation order (newest first)."""
        now = self.clock.monotonic()
        return sorted(self.tasks.values(), key=lambda t: (t.current(now).at, t.seq), reverse=True)

    def _evict(self) -> None:
        if len(self.tasks) <= self.max_tasks:
            return
        now = self.clock.monotonic()
        for task in sorted(self.tasks.values(), key=lambda t: t.seq):
            if len(self.tasks) <= self.max_tasks:
                break
            if task.current(now).state in TERMINAL:
                del self.tasks[task.id]
