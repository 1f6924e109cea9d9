"""Push notifications really delivered: every task change POSTed to each of the task's webhooks.

What a webhook receives (A2A v1.0 §4.3.3, as the official SDK's sender does it): ``POST <url>`` with
``Content-Type: application/json`` and a ``StreamResponse`` body — the task itself first when the
config came with the message (``SendMessageConfiguration.taskPushNotificationConfig``), then one
``statusUpdate`` per state change and one ``artifactUpdate`` per artifact, in the order they happened.
The config's ``authentication`` becomes ``Authorization: <scheme> <credentials>`` and its ``token``
``X-A2A-Notification-Token``.

How (all off the request path: a request only appends to a queue):

- one **watcher** per task that has a config follows the task on the virtual clock (``AgentService.
  updates``) and hands each event to
- one **outbox** per (task, config): a queue drained by one coroutine, so a webhook sees its task's
  events strictly in order, and a slow or failing webhook delays no other. A failed try (connection
  error, timeout, 408, 429, 5xx) is retried after ``backoff_seconds`` doubling up to
  ``max_backoff_seconds`` (a ``Retry-After`` within that bound is honoured), ``max_attempts`` tries
  in all; any other 4xx is final. Deleting the config cancels what is still queued for it.
- every delivery, with each attempt's status or error, is kept (``log_size`` newest) for the admin
  API (``admin``), secrets shown only as a fingerprint.

Webhook URLs are checked when a config is created: the host must match ``a2a.push.allowed_hosts``
(loopback only by default) and redirects are never followed, so the mock cannot be turned into a
forwarder of requests to other machines.
"""

import asyncio
import hashlib
import ipaddress
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlsplit

import aiohttp
import orjson

from aigw.mocks.a2a import errors
from aigw.mocks.a2a.config import PushDelivery
from aigw.mocks.a2a.tasks import Task

log = logging.getLogger("aigw.mocks.a2a.push")
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "aigw-mock-a2a-push/1.0"


# --- which webhooks may be called --------------------------------------------------------------------

class HostPolicy:
    """``allowed_hosts`` read once: networks for IP literals, names (exact or ``*.suffix``) for the rest."""

    def __init__(self, allowed: list[str]) -> None:
        self.any = "*" in allowed
        self.networks, self.names, self.suffixes = [], set(), []
        for entry in allowed:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                self.suffixes.append(entry[1:].lower())
            elif entry != "*":
                self.names.add(entry.lower())
        self.described = ", ".join(allowed)

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be called, or None when it may."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"must be an absolute http(s) URL, got {url!r}"
        if parts.username or parts.password:
            return "must not carry user:password (use authentication instead)"
        if self.any:
            return None
        host = parts.hostname.lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if host in self.names or any(host.endswith(s) for s in self.suffixes):
                return None
            return (f"names host {host!r}, which a2a.push.allowed_hosts ({self.described}) does not allow; "
                    "the mock calls loopback webhooks only unless configured otherwise")
        if any(address in network for network in self.networks):
            return None
        return f"names address {host}, outside a2a.push.allowed_hosts ({self.described})"


# --- what was sent -------------------------------------------------------------------------------------

@dataclass
class Attempt:
    number: int
    at: str
    status: int | None = None
    error: str | None = None
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "at": self.at, "status": self.status, "error": self.error,
                "elapsedMs": round(self.elapsed_ms, 1)}


@dataclass
class Delivery:
    id: int
    agent: str
    task_id: str
    config_id: str
    url: str
    sequence: int  # the event's position in its task's notifications, from 1
    event: dict[str, Any]
    headers: dict[str, str]
    queued_at: str
    state: str = "pending"  # pending → delivered | failed | canceled | dropped
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return next(iter(self.event))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "agent": self.agent, "taskId": self.task_id, "configId": self.config_id,
                "url": self.url, "sequence": self.sequence, "kind": self.kind, "state": self.state,
                "queuedAt": self.queued_at, "headers": _redacted(self.headers), "event": self.event,
                "attempts": [a.as_dict() for a in self.attempts]}


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    shown = dict(headers)
    if "Authorization" in shown:
        scheme, _, credentials = shown["Authorization"].partition(" ")
        shown["Authorization"] = f"{scheme} <{_fingerprint(credentials)}>"
    if "X-A2A-Notification-Token" in shown:
        shown["X-A2A-Notification-Token"] = f"<{_fingerprint(shown['X-A2A-Notification-Token'])}>"
    return shown


def webhook_headers(config: dict[str, Any]) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    auth = config.get("authentication") or {}
    if auth.get("scheme") and auth.get("credentials"):
        headers["Authorization"] = f"{auth['scheme']} {auth['credentials']}"
    if config.get("token"):
        headers["X-A2A-Notification-Token"] = config["token"]
    return headers


# --- delivering ----------------------------------------------------------------------------------------

@dataclass
class Outbox:
    task: Task
    config_id: str
    queue: deque = field(default_factory=deque)
    worker: asyncio.Task | None = None


Updates = Callable[[], AsyncIterator[dict[str, Any]]]


class PushDispatcher:
    """Queues, delivers and records the notifications of every agent of one mock process."""

    def __init__(self, settings: PushDelivery, wall: Callable[[], float]) -> None:
        self.settings, self.wall = settings, wall
        self.policy = HostPolicy(settings.allowed_hosts)
        self.log: deque[Delivery] = deque(maxlen=settings.log_size)
        self.outboxes: dict[tuple[str, str, str], Outbox] = {}
        self.watchers: dict[tuple[str, str], asyncio.Task] = {}
        self.sequences: dict[tuple[str, str], int] = {}
        self.ids = itertools.count(1)
        self.limit = asyncio.Semaphore(settings.concurrency)

    def check_url(self, url: str, where: str) -> None:
        refusal = self.policy.refusal(url)
        if refusal is not None:
            raise errors.invalid_params(f"{where}.url {refusal}")

    def reset(self) -> None:
        """Stop every watcher and outbox and forget what was sent (POST /_mock/reset, /_mock/a2a/reset)."""
        for job in [*self.watchers.values(), *(o.worker for o in self.outboxes.values() if o.worker)]:
            job.cancel()
        self.watchers.clear()
        self.outboxes.clear()
        self.sequences.clear()
        self.log.clear()

    # called on the request path: nothing here waits
    def watch(self, agent: str, task: Task, updates: Updates) -> None:
        """Follow ``task`` from now on (once per task, however many configs it has)."""
        key = (agent, task.id)
        if key in self.watchers and not self.watchers[key].done():
            return
        self.watchers[key] = asyncio.get_running_loop().create_task(self._watch(agent, task, updates()))

    def notify(self, agent: str, task: Task, event: dict[str, Any], only: str | None = None) -> None:
        """Queue ``event`` for each of the task's webhooks (or just config ``only``)."""
        key = (agent, task.id)
        self.sequences[key] = sequence = self.sequences.get(key, 0) + 1
        for config_id, config in list(task.push_configs.items()):
            if only is not None and config_id != only:
                continue
            delivery = Delivery(next(self.ids), agent, task.id, config_id, config["url"], sequence, event,
                                webhook_headers(config), self._now())
            self.log.append(delivery)
            outbox = self.outboxes.setdefault((agent, task.id, config_id), Outbox(task, config_id))
            if len(outbox.queue) >= self.settings.max_pending:
                outbox.queue.popleft().state = "dropped"
            outbox.queue.append(delivery)
            if outbox.worker is None or outbox.worker.done():
                outbox.worker = asyncio.get_running_loop().create_task(self._drain(outbox))

    def deliveries(self, agent: str | None = None, task_id: str | None = None, config_id: str | None = None,
                   state: str | None = None) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.log
                if (agent is None or d.agent == agent) and (task_id is None or d.task_id == task_id)
                and (config_id is None or d.config_id == config_id) and (state is None or d.state == state)]

    def counts(self, agent: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for delivery in self.log:
            if delivery.agent == agent:
                counts[delivery.state] = counts.get(delivery.state, 0) + 1
        return counts

    # in the background
    async def _watch(self, agent: str, task: Task, updates: AsyncIterator[dict[str, Any]]) -> None:
        try:
            async for event in updates:
                if not task.push_configs:
                    break  # every config was deleted: a new one starts a new watcher
                self.notify(agent, task, event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("push watcher of task %s failed", task.id)
        finally:
            if self.watchers.get((agent, task.id)) is asyncio.current_task():
                del self.watchers[(agent, task.id)]

    async def _drain(self, outbox: Outbox) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                while outbox.queue:
                    delivery = outbox.queue[0]
                    if delivery.state == "pending":
                        await self._deliver(http, outbox, delivery)
                    if outbox.queue and outbox.queue[0] is delivery:
                        outbox.queue.popleft()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("push outbox of task %s failed", outbox.task.id)

    async def _deliver(self, http: aiohttp.ClientSession, outbox: Outbox, delivery: Delivery) -> None:
        settings = self.settings
        body = orjson.dumps(delivery.event)
        for number in range(1, settings.max_attempts + 1):
            if outbox.config_id not in outbox.task.push_configs:
                delivery.state = "canceled"  # the config was deleted: nothing more goes to its webhook
                return
            attempt = Attempt(number, self._now())
            delivery.attempts.append(attempt)
            started = asyncio.get_running_loop().time()
            retry_after = None
            try:
                async with self.limit:
                    async with http.post(delivery.url, data=body, headers=delivery.headers,
                                         allow_redirects=False) as response:
                        await response.read()
                        attempt.status = response.status
                        retry_after = _seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                attempt.error = f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__
            attempt.elapsed_ms = (asyncio.get_running_loop().time() - started) * 1000
            if attempt.status is not None and 200 <= attempt.status < 300:
                delivery.state = "delivered"
                return
            if attempt.status is not None and attempt.status not in RETRYABLE:
                break  # the receiver refused this notification for good (400, 401, 404, ...)
            if number < settings.max_attempts:
                backoff = min(settings.max_backoff_seconds, settings.backoff_seconds * 2 ** (number - 1))
                if retry_after is not None:
                    backoff = min(settings.max_backoff_seconds, max(backoff, retry_after))
                await asyncio.sleep(backoff)
        delivery.state = "failed"
        log.warning("push notification %s of task %s to %s failed after %d attempt(s)", delivery.sequence,
                    delivery.task_id, delivery.url, len(delivery.attempts))

    def _now(self) -> str:
        return datetime.fromtimestamp(self.wall(), timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None

