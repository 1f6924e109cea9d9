"""Run the gateway under uvicorn (``aigw gateway``); the embedded default (mocks + gateway) is ``aigw.stack``.

A port that is taken raises ``aigw.protocol.serving.PortInUse`` before anything is served.
"""

from typing import Callable

import uvicorn

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig
from aigw.protocol.process import prepare_process
from aigw.protocol.serving import listening_socket, uvicorn_config


def serve(config: GatewayConfig, host: str, port: int, log_level: str = "warning",
          announce: Callable[[], None] = lambda: None) -> None:
    """Serve until interrupted; ``announce`` runs once the port is known to be ours."""
    sock = listening_socket(host, port)
    announce()
    server = uvicorn.Server(uvicorn_config(GatewayApp(config), host, port, log_level=log_level))
    prepare_process()
    server.run(sockets=[sock])
