"""MCP servers inside ``aigw mock``: streamable HTTP at ``/mcp`` and ``/mcp/{server}``.

``config`` is the ``mcp:`` section of the mock config, ``transport`` the HTTP/session/SSE layer,
``methods`` the JSON-RPC methods, ``standard`` and ``conformance`` the fixture servers, ``admin``
the fault controls under ``/_mock/mcp``.
"""
