"""One agent's operations in v1.0 terms; the JSON-RPC bindings (v1.0 and v0.3) only translate.

Streams are async generators of v1.0 ``StreamResponse`` mappings: the task first, then status and
artifact updates as the plan's steps come due on the virtual clock. A ``SendStreamingMessage`` stream
closes after the final (terminal or interrupted) state; a ``SubscribeToTask`` stream stays open through
interrupted states (a follow-up message resumes the task) and closes at a terminal one (STREAM-SUB-002).
Validation happens before a generator is returned, so a refusal is always a plain error and never a
half-open event stream. The same updates feed the push-notification watcher (``push``).
"""

from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

from aigw.mocks.a2a import card, errors
from aigw.mocks.a2a.config import Agent
from aigw.mocks.a2a.params import accepts, media_type
from aigw.mocks.a2a.push import PushDispatcher
from aigw.mocks.a2a.skills import decide
from aigw.mocks.a2a.tasks import TERMINAL, Step, Task, TaskStore, is_final

POLL_SECONDS = 0.05  # how often a waiting request re-reads the virtual clock (it may be advanced)
WATCH_SECONDS = 0.25  # how often a push watcher re-reads it while steps are pending
IDLE_WATCH_SECONDS = 30.0  # with none pending only a request changes the task, and that wakes the watcher
Sleep = Callable[[float], Awaitable[None]]
Wait = Callable[[Task, float | None], Awaitable[None]]  # (task, seconds to the next step or None)


@dataclass(frozen=True)
class Call:
    """What a method needs of the request besides its params: a disconnect-aware sleep, and the base
    URL and auth mode an extended card is built with."""

    sleep: Sleep
    base_url: str
    keys_required: bool


class AgentService:
    def __init__(self, agent: Agent, store: TaskStore, seed: int, push: PushDispatcher) -> None:
        self.agent, self.store, self.seed, self.push = agent, store, seed, push

    # --- sending -------------------------------------------------------------------------------
    def _check_message(self, message: dict[str, Any]) -> None:
        for i, part in enumerate(message["parts"]):
            media = media_type(part)
            if media and not accepts(self.agent.input_modes, media):
                raise errors.A2AError(
                    errors.CONTENT_TYPE_NOT_SUPPORTED,
                    f"message.parts[{i}] has media type {media!r}; agent {self.agent.name!r} accepts "
                    f"{', '.join(self.agent.input_modes)}", {"mediaType": media})

    def accept(self, message: dict[str, Any], metadata: dict[str, Any] | None) -> tuple[Task | None, dict | None]:
        """Route a message to a new task, an existing task, or a direct reply (task None, message set)."""
        self._check_message(message)
        task_id = message.get("taskId")
        task = self.store.get(task_id) if task_id is not None else None
        if task is not None and message.get("contextId") not in (None, task.context_id):
            raise errors.invalid_params(f"message.contextId {message['contextId']!r} does not match task "
                                        f"{task.id}'s contextId {task.context_id!r}")
        outcome = decide(self.agent, self.seed, message, continuing=task is not None)
        if outcome.invalid:
            raise errors.A2AError(errors.INVALID_AGENT_RESPONSE,
                                  f"Agent {self.agent.name!r} produced no valid response (skill {outcome.skill!r})",
                                  {"skillId": outcome.skill})
        if task is not None:
            self.store.continue_task(task, message, outcome)
            return task, None
        if outcome.final_state is None:
            context_id = message.get("contextId") or self.store.new_id("context")
            return None, self.store.direct_message(context_id, outcome.text)
        return self.store.create(message, outcome, metadata), None

    def _accept_with_push(self, message: dict[str, Any], config: dict[str, Any],
                          metadata: dict | None) -> tuple[Task | None, dict | None]:
        if config.get("push"):
            self.require_push()
            self.push.check_url(config["push"]["url"], "configuration.taskPushNotificationConfig")
        task, reply = self.accept(message, metadata)
        if task is not None and config.get("push"):
            stored = self.create_push({**config["push"], "taskId": task.id})
            # the config came with the message: its webhook hears of the task itself first
            self.push.notify(self.agent.name, task, {"task": self.store.view(task)}, only=stored["id"])
        return task, reply

    async def send(self, message: dict[str, Any], config: dict[str, Any], metadata: dict | None,
                   sleep: Sleep) -> dict[str, Any]:
        task, reply = self._accept_with_push(message, config, metadata)
        if task is None:
            return {"message": reply}
        if not config.get("returnImmediately"):
            await self.wait_until_settled(task, sleep)
        return {"task": self.store.view(task, config.get("historyLength"))}

    async def wait_until_settled(self, task: Task, sleep: Sleep) -> None:
        clock = self.store.clock
        while clock.monotonic() < task.settles_at:  # a cancel moves settles_at to the cancel's instant
            await sleep(max(0.001, min(POLL_SECONDS, task.settles_at - clock.monotonic())))

    def stream(self, message: dict[str, Any], config: dict[str, Any], metadata: dict | None,
               sleep: Sleep) -> AsyncIterator[dict[str, Any]]:
        self._require_streaming()
        task, reply = self._accept_with_push(message, config, metadata)
        if task is None:
            return _single({"message": reply})
        return self._follow(task, sleep, config.get("historyLength"), is_final)

    def subscribe(self, task_id: Any, sleep: Sleep) -> AsyncIterator[dict[str, Any]]:
        self._require_streaming()
        task = self.store.get(task_id)
        state = task.current(self.store.clock.monotonic()).state
        if state in TERMINAL:
            raise errors.A2AError(errors.UNSUPPORTED_OPERATION,
                                  f"Task {task.id} is in terminal state {state}; there is nothing to subscribe to")
        return self._follow(task, sleep, None, TERMINAL.__contains__)

    def _require_streaming(self) -> None:
        if not self.agent.streaming:
            raise errors.A2AError(errors.UNSUPPORTED_OPERATION,
                                  f"Agent {self.agent.name!r} does not support streaming (capabilities.streaming is false)")

    async def _follow(self, task: Task, sleep: Sleep, history_length: int | None,
                      last: Callable[[str], bool]) -> AsyncIterator[dict[str, Any]]:
        """The task, then its updates until a state ``last`` accepts (the snapshot may already be one)."""
        seen = task.applied(self.store.clock.monotonic())
        yield {"task": self.store.view(task, history_length)}
        if last(seen[-1].state):
            return

        async def wait(_: Task, seconds: float | None) -> None:
            await sleep(max(0.001, min(POLL_SECONDS, POLL_SECONDS if seconds is None else seconds)))

        async for event in self.updates(task, len(seen), seen[-1].state, wait, last):
            yield event

    async def updates(self, task: Task, emitted: int, last_state: str, wait: Wait,
                      last: Callable[[str], bool]) -> AsyncIterator[dict[str, Any]]:
        """Status and artifact updates of the steps after the first ``emitted``, as they come due."""
        clock = self.store.clock
        while True:
            now = clock.monotonic()
            due = task.applied(now)
            for step in due[emitted:]:
                for event in self._step_events(task, step, last_state):
                    yield event
                last_state = step.state
                if last(step.state):
                    return
            emitted = len(due)
            pending = task.steps[emitted:]
            if not pending and last_state in TERMINAL:
                return
            await wait(task, (pending[0].at - now) if pending else None)

    def _step_events(self, task: Task, step: Step, last_state: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [
            {"artifactUpdate": {"taskId": task.id, "contextId": task.context_id, "artifact": artifact, "lastChunk": True}}
            for artifact in step.artifacts]
        if step.state != last_state or step.message is not None:  # an artifact mid-work changes no status
            status = {"state": step.state, "timestamp": self.store.timestamp(step.at)}
            if step.message is not None:
                status["message"] = step.message
            events.append({"statusUpdate": {"taskId": task.id, "contextId": task.context_id, "status": status}})
        return events

    def _watch_push(self, task: Task) -> None:
        """Start following ``task`` for its webhooks, from this instant on."""
        seen = task.applied(self.store.clock.monotonic())

        async def wait(watched: Task, seconds: float | None) -> None:
            # a request's change wakes the watcher at once; the clock (which the admin API may move) is re-read
            # every WATCH_SECONDS while steps are pending
            await watched.changed.wait(IDLE_WATCH_SECONDS if seconds is None else min(WATCH_SECONDS, max(0.0, seconds)))

        self.push.watch(self.agent.name, task,
                        lambda: self.updates(task, len(seen), seen[-1].state, wait, TERMINAL.__contains__))

    # --- tasks ---------------------------------------------------------------------------------
    def get(self, task_id: Any, history_length: int | None) -> dict[str, Any]:
        return self.store.view(self.store.get(task_id), history_length)

    def cancel(self, task_id: Any) -> dict[str, Any]:
        task = self.store.get(task_id)
        self.store.cancel(task)
        return self.store.view(task)

    def list_tasks(self, query: dict[str, Any]) -> dict[str, Any]:
        clock = self.store.clock
        now = clock.monotonic()
        tasks = self.store.listing()
        if query.get("contextId"):
            tasks = [t for t in tasks if t.context_id == query["contextId"]]
        if query.get("status"):
            tasks = [t for t in tasks if t.current(now).state == query["status"]]
        after = query.get("statusTimestampAfter")
        if after is not None:
            tasks = [t for t in tasks if self.store.wall_time(t.current(now).at) >= after.timestamp()]
        total = len(tasks)
        start = 0
        if query.get("pageToken"):
            cursor = _decode_cursor(query["pageToken"])
            start = next((i for i, t in enumerate(tasks) if (t.current(now).at, t.seq) < cursor), total)
        size = query.get("pageSize") or 50
        page = tasks[start:start + size]
        more = start + size < total
        token = _encode_cursor(page[-1].current(now).at, page[-1].seq) if more and page else ""
        views = [self.store.view(t, query.get("historyLength"), bool(query.get("includeArtifacts"))) for t in page]
        return {"tasks": views, "nextPageToken": token, "pageSize": size, "totalSize": total}

    def extended_card(self, call: Call, legacy: bool = False) -> dict[str, Any]:
        agent = self.agent
        if legacy and not (agent.extended_card and agent.extended_skills):  # v0.3 knows one error for both cases
            raise errors.A2AError(errors.EXTENDED_CARD_NOT_CONFIGURED, "Authenticated Extended Card is not configured")
        if not agent.extended_card:
            raise errors.A2AError(errors.UNSUPPORTED_OPERATION, f"Agent {agent.name!r} has no extended agent card "
                                  "(capabilities.extendedAgentCard is false)")
        if not agent.extended_skills:
            raise errors.A2AError(errors.EXTENDED_CARD_NOT_CONFIGURED, f"Agent {agent.name!r} declares an extended "
                                  "agent card but none is configured (extended_skills is empty)")
        return card.agent_card(agent, call.base_url, call.keys_required, extended=True)

    # --- push notification configs -------------------------------------------------------------
    def require_push(self) -> None:
        """Checked before the task is looked up: the capability decides first (TCK CORE-CAP-001)."""
        if not self.agent.push_notifications:
            raise errors.A2AError(errors.PUSH_NOTIFICATION_NOT_SUPPORTED,
                                  f"Agent {self.agent.name!r} does not support push notifications "
                                  "(capabilities.pushNotifications is false)")

    def _push_task(self, task_id: Any) -> Task:
        self.require_push()
        return self.store.get(task_id)

    def create_push(self, config: dict[str, Any]) -> dict[str, Any]:
        """Store (or replace, same id) a webhook; its notifications start with the task's next change."""
        task = self._push_task(config["taskId"])
        self.push.check_url(config["url"], "taskPushNotificationConfig")
        config_id = config.get("id") or self.store.new_id("push")
        stored = {**config, "id": config_id, "taskId": task.id}
        task.push_configs[config_id] = stored
        if not task.finished(self.store.clock.monotonic()):
            self._watch_push(task)
        return stored

    def get_push(self, task_id: Any, config_id: str) -> dict[str, Any]:
        task = self._push_task(task_id)
        if config_id not in task.push_configs:
            raise errors.A2AError(errors.TASK_NOT_FOUND,
                                  f"Push notification config {config_id!r} not found for task {task.id}",
                                  {"taskId": task.id, "configId": config_id})
        return task.push_configs[config_id]

    def list_push(self, task_id: Any) -> list[dict[str, Any]]:
        return list(self._push_task(task_id).push_configs.values())

    def delete_push(self, task_id: Any, config_id: str) -> None:
        """Idempotent (PUSH-DEL-002, §3.1.10): deleting a config that is already gone succeeds; the task must exist."""
        self._push_task(task_id).push_configs.pop(config_id, None)


async def _single(event: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    yield event


def _encode_cursor(at: float, seq: int) -> str:
    return f"{at!r}/{seq}".encode().hex()


def _decode_cursor(token: str) -> tuple[float, int]:
    try:
        at, seq = bytes.fromhex(token).decode().split("/")
        return float(at), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_params(f"pageToken {token!r} is not a token this server issued") from None
