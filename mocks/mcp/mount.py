"""The MCP mounts: the servers at ``/mcp`` and their admin API at ``/_mock/mcp``."""

from typing import Any

from aigw.mocks.mcp import admin
from aigw.mocks.mcp.server import build_servers, reset_servers
from aigw.mocks.mcp.transport import McpApp


def mcp_mounts(config: Any, state: Any) -> list[tuple[str, Any]]:
    """``config`` is the MockConfig, ``state`` the MockState (its clock drives session expiry; its
    ``on_reset`` gets the servers' reset, so ``POST /_mock/reset`` ends sessions and clears faults too)."""
    mcp = config.mcp
    if not mcp.enabled:
        return []
    servers = build_servers(mcp, config.seed, state.clock)
    state.on_reset.append(lambda: reset_servers(servers, mcp, config.seed, state.clock))
    return [
        ("/_mock/mcp", admin.build(servers, mcp, config.admin_token, config.seed, state.clock)),
        ("/mcp", McpApp(servers, mcp, config.max_body_bytes)),
    ]
