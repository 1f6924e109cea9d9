"""The ASGI lifespan conversation, once: answer startup and shutdown, running the caller's hooks.

Every server of ours (mock, recorder, gateway) speaks it the same way; only what it does on start-up
(build tokenizers) and shut-down (drain, close upstream sessions) differs.
"""

from typing import Awaitable, Callable

from aigw.protocol.server_limits import install_exception_handler

Hook = Callable[[], Awaitable[None]]


async def serve_lifespan(receive: Callable, send: Callable, startup: Hook | None = None, shutdown: Hook | None = None) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            install_exception_handler()  # EMFILE and friends: one line per interval, not a traceback each
            if startup is not None:
                await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if shutdown is not None:
                await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def preload_tokenizers() -> None:
    """Build the tokenizers off the event loop before traffic arrives (see protocol.tokens.preload)."""
    import asyncio

    from aigw.protocol.tokens import preload

    await asyncio.get_running_loop().run_in_executor(None, preload)
