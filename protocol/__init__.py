"""Wire knowledge shared by the mock, the gateway and the contract tests.

Everything here is about bytes on the wire — token counts, SSE framing, error bodies, header names,
JSON-RPC framing and the contract files — and nothing about any one component, so this package
imports nothing else of ours.
"""
