"""One agent's operations in v1.0 terms; the JSON-RPC bindings (v1.0 and v0.3) only translate.

Streams are async generators of v1.0 ``StreamResponse`` mappings: the task first, then status and
artifact updates as the plan's steps come due on the virtual clock, closing after the final
(terminal or interrupted) state. Validation happens before a generator is returned, so a refusal is
always a plain JSON-RPC error and never a half-open event stream.
"""

from typing import Any, AsyncIterator, Awaitable, Callable

from aigw.mocks.a2a import errors
from aigw.mocks.a2a.config import Agent
from aigw.mocks.a2a.params import accepts, media_type
from aigw.mocks.a2a.skills import decide
from aigw.mocks.a2a.tasks import TERMINAL, Task, TaskStore, is_final

POLL_SECONDS = 0.05  # how often a waiting request re-reads the virtual clock (it may be advanced)
Sleep = Callable[[float], Awaitable[None]]


class AgentService:
    def __init__(self, agent: Agent, store: TaskStore, seed: int) -> None:
        self.agent, self.store, self.seed = agent, store, seed

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
        if task_id is not None:
            task = self.store.get(task_id)
            if message.get("contextId") not in (None, task.context_id):
                raise errors.invalid_params(f"message.contextId {message['contextId']!r} does not match task "
                                            f"{task.id}'s contextId {task.context_id!r}")
            self.store.continue_task(task, message, decide(self.agent, self.seed, message, continuing=True))
            return task, None
        outcome = decide(self.agent, self.seed, message, continuing=False)
        if outcome.final_state is None:
            context_id = message.get("contextId") or self.store.new_id("context")
            return None, self.store.direct_message(context_id, outcome.text)
        return self.store.create(message, outcome, metadata), None

    def _accept_with_push(self, message: dict[str, Any], config: dict[str, Any],
                          metadata: dict | None) -> tuple[Task | None, dict | None]:
        if config.get("push"):
            self.require_push()
        task, reply = self.accept(message, metadata)
        if task is not None and config.get("push"):
            self.create_push({**config["push"], "taskId": task.id})
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
        return self._follow(task, sleep, config.get("historyLength"))

    def subscribe(self, task_id: Any, sleep: Sleep) -> AsyncIterator[dict[str, Any]]:
        self._require_streaming()
        task = self.store.get(task_id)
        state = task.current(self.store.clock.monotonic()).state
        if state in TERMINAL:
            raise errors.A2AError(errors.UNSUPPORTED_OPERATION,
                                  f"Task {task.id} is in terminal state {state}; there is nothing to subscribe to")
        return self._follow(task, sleep, None)

    def _require_streaming(self) -> None:
        if not self.agent.streaming:
            raise errors.A2AError(errors.UNSUPPORTED_OPERATION,
                                  f"Agent {self.agent.name!r} does not support streaming (capabilities.streaming is false)")

    async def _follow(self, task: Task, sleep: Sleep, history_length: int | None) -> AsyncIterator[dict[str, Any]]:
        clock = self.store.clock
        seen = task.applied(clock.monotonic())
        emitted, last_state = len(seen), seen[-1].state
        yield {"task": self.store.view(task, history_length)}
        if is_final(last_state):
            return
        while True:
            now = clock.monotonic()
            due = task.applied(now)
            for step in due[emitted:]:
                for artifact in step.artifacts:
                    yield {"artifactUpdate": {"taskId": task.id, "contextId": task.context_id, "artifact": artifact,
                                              "lastChunk": True}}
                if step.state == last_state and step.message is None:
                    continue  # an artifact produced mid-work: no status change to report
                last_state = step.state
                status = {"state": step.state, "timestamp": self.store.timestamp(step.at)}
                if step.message is not None:
                    status["message"] = step.message
                yield {"statusUpdate": {"taskId": task.id, "contextId": task.context_id, "status": status}}
                if is_final(step.state):
                    return
            emitted = len(due)
            pending = [s.at for s in task.steps[emitted:]]
            await sleep(max(0.001, min(POLL_SECONDS, (pending[0] - now) if pending else POLL_SECONDS)))

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
        task = self._push_task(config["taskId"])
        config_id = config.get("id") or self.store.new_id("push")
        stored = {**config, "id": config_id, "taskId": task.id}
        task.push_configs[config_id] = stored
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
        self.get_push(task_id, config_id)
        del self.store.get(task_id).push_configs[config_id]


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
