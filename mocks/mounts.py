"""Protocol services mounted beside the model API: each is its own ASGI app under a path prefix.

The mock serves more than Azure OpenAI — MCP servers, A2A agents, Azure AI Content Safety — in the
same process, with the same config file, seed and admin token. Each service lives in its own
module and contributes ``(prefix, app)`` pairs here; ``MockApp`` sends a request to the first
mount whose prefix matches (exactly, or followed by ``/`` or ``:``), before the model routes.

A service with state of its own registers its reset in ``state.on_reset``, so ``POST /_mock/reset``
resets it along with the model API.
"""

from typing import Any, Callable

from aigw.mocks.a2a import admin as a2a_admin, app as a2a_app
from aigw.mocks import content_safety
from aigw.mocks.config import MockConfig
from aigw.mocks.mcp.mount import mcp_mounts
from aigw.mocks.state import MockState

ASGIApp = Callable[..., Any]


def build_mounts(config: MockConfig, state: MockState) -> list[tuple[str, ASGIApp]]:
    mounts: list[tuple[str, ASGIApp]] = []
    if config.a2a.enabled:
        agents = a2a_app.build(config, state.clock)
        state.on_reset.append(agents.reset)
        mounts += [(a2a_app.CARD_PATH, agents), ("/a2a", agents),
                   ("/_mock/a2a", a2a_admin.build(agents, config.admin_token))]
    mounts += mcp_mounts(config, state)
    safety = content_safety.build(config)
    state.on_reset.append(safety.reset)
    mounts.append((content_safety.PREFIX, safety))
    return mounts


def find_mount(mounts: list[tuple[str, ASGIApp]], path: str) -> ASGIApp | None:
    for prefix, app in mounts:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] in "/:"):
            return app
    return None
