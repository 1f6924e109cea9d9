"""Hooks the contract plugin calls, for reporters to implement (registered with ``pytest_addhooks``)."""


def pytest_aigw_wait(seconds: float, reason: str) -> None:
    """The suite is about to wait ``seconds`` for the target (a Retry-After being waited out); ``reason``
    says why, for a progress display."""
