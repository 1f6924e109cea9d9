"""A2A agents inside ``aigw mock``: agent cards, the v1.0 JSON-RPC binding and the v0.3 method names.

Layout (see ``app``): ``/.well-known/agent-card.json`` is the default agent's card, ``/a2a`` lists the
agents, ``/a2a/{agent}/.well-known/agent-card.json`` is each agent's card and ``POST /a2a/{agent}`` its
JSON-RPC endpoint. Tasks progress on the mock's virtual clock (``tasks``), replies are drawn from the
mock seed (``skills``), and one core speaks both protocol versions (``legacy`` translates v0.3).
"""
