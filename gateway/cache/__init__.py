"""The semantic cache's parts: vector index, embeddings client, answer store, and stream replay.

The policies that use them are in ``aigw.gateway.policies.semantic_cache``.
"""
