"""Admin API for the A2A agents, under ``/_mock/a2a`` (same admin token as ``/_mock``).

    GET    /_mock/a2a                            every agent: tasks, push configs, deliveries by state
    GET    /_mock/a2a/{agent}/deliveries         what the agent POSTed to webhooks, oldest first, each with
                                                 its attempts (filters: ?task=ID&config=ID&state=delivered)
    DELETE /_mock/a2a/{agent}/deliveries         forget them (queued ones are still sent)
    POST   /_mock/a2a/reset                      tasks, configs and deliveries back to the config
                                                 (``POST /_mock/reset`` does this too, with everything else)

So a test, or ``aigw check --mock-admin``, can assert what a webhook was sent — payloads in order, the
authentication scheme (secrets only as a fingerprint) and every retry — without running a receiver
the agent can reach.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aigw.mocks.admin import AdminError, guard, json_response
from aigw.mocks.a2a.app import A2AApp

STATES = ("pending", "delivered", "failed", "canceled", "dropped")


def build(agents: A2AApp, admin_token: str) -> Starlette:
    guarded = guard(admin_token)

    def agent_of(request: Request) -> str:
        name = request.path_params["agent"]
        if name not in agents.services:
            raise AdminError(404, f"no A2A agent named {name!r}; have: {', '.join(agents.services)}")
        return name

    async def overview(request: Request) -> Response:
        return json_response({"agents": {
            name: {"tasks": len(service.store.tasks),
                   "push_configs": sum(len(t.push_configs) for t in service.store.tasks.values()),
                   "deliveries": agents.push.counts(name)}
            for name, service in agents.services.items()}})

    async def deliveries(request: Request) -> Response:
        name = agent_of(request)
        if request.method == "DELETE":
            kept = [d for d in agents.push.log if d.agent != name]
            agents.push.log.clear()
            agents.push.log.extend(kept)
            return json_response({"agent": name, "deliveries": []})
        query = request.query_params
        unknown = set(query) - {"task", "config", "state"}
        if unknown:
            raise AdminError(400, f"unknown filter(s) {', '.join(sorted(unknown))}; use task, config, state")
        if query.get("state") not in (None, *STATES):
            raise AdminError(400, f"state must be one of {', '.join(STATES)}")
        return json_response({"agent": name, "deliveries": agents.push.deliveries(
            name, query.get("task"), query.get("config"), query.get("state"))})

    async def reset(request: Request) -> Response:
        agents.reset()
        return json_response({"status": "reset"})

    return Starlette(routes=[
        Route("/_mock/a2a", guarded(overview)),
        Route("/_mock/a2a/reset", guarded(reset), methods=["POST"]),
        Route("/_mock/a2a/{agent}/deliveries", guarded(deliveries), methods=["GET", "DELETE"]),
    ])
