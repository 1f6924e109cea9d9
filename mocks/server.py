"""Run the mock under uvicorn, in this process or in several worker processes.

Worker processes cannot receive a Python object, so the chosen config travels in environment
variables and each worker rebuilds the app with ``app_from_env`` (a uvicorn factory).
"""

import os

import uvicorn

from aigw.mocks.app import MockApp
from aigw.mocks.cassette import CassetteOptions
from aigw.mocks.config import MockConfig, load_config
from aigw.protocol.process import prepare_process

ENV_CONFIG = "AIGW_MOCK_CONFIG"
ENV_SEED = "AIGW_MOCK_SEED"
ENV_LATENCY = "AIGW_MOCK_LATENCY"
ENV_CASSETTE = "AIGW_MOCK_CASSETTE"


def resolve_config(path: str | None, seed: int | None, latency: str | None) -> MockConfig:
    """The config file (or embedded default) with command-line overrides applied and re-validated."""
    config = load_config(path)
    updates = {}
    if seed is not None:
        updates["seed"] = seed
    if latency is not None:
        updates["latency"] = latency
    if updates:
        config = MockConfig.model_validate({**config.model_dump(), **updates})
    return config


def build_app(config: MockConfig, cassette: CassetteOptions | None = None):
    """The MockApp, or for --record the recording proxy, or for --replay the replayer in front of the MockApp.

    Opening the cassette happens here, before serving, so a bad file is reported at once
    (``cassette.CassetteError``, naming file and line).
    """
    if cassette is not None and cassette.record:
        from aigw.mocks.recorder import Recorder

        return Recorder.open(cassette, config.max_body_bytes)
    app = MockApp(config)
    if cassette is not None and cassette.replay:
        from aigw.mocks.replayer import Replayer

        return Replayer.open(cassette, app, config.max_body_bytes)
    return app


def app_from_env():
    seed = os.environ.get(ENV_SEED)
    config = resolve_config(os.environ.get(ENV_CONFIG) or None, int(seed) if seed else None,
                            os.environ.get(ENV_LATENCY) or None)
    cassette = os.environ.get(ENV_CASSETTE)
    app = build_app(config, CassetteOptions.from_json(cassette) if cassette else None)
    prepare_process()  # each worker is a process of its own
    return app


def serve(host: str, port: int, config_path: str | None, seed: int | None, latency: str | None,
          workers: int = 1, log_level: str = "warning", access_log: bool = False,
          cassette: CassetteOptions | None = None, app=None) -> None:
    """Serve ``app`` if given (built by ``build_app``), else the app the arguments describe."""
    config = resolve_config(config_path, seed, latency)  # fail fast, before forking workers
    # No "server: uvicorn" header: Azure OpenAI sends none of the kind, and every header costs uvicorn a check.
    options = dict(host=host, port=port, log_level=log_level, access_log=access_log, loop="uvloop",
                   http="httptools", lifespan="on", timeout_keep_alive=30, server_header=False)
    if workers > 1:
        os.environ[ENV_CONFIG] = os.path.abspath(config_path) if config_path else ""
        os.environ[ENV_SEED] = "" if seed is None else str(seed)
        os.environ[ENV_LATENCY] = latency or ""
        os.environ[ENV_CASSETTE] = cassette.to_json() if cassette is not None else ""
        uvicorn.run("aigw.mocks.server:app_from_env", factory=True, workers=workers, **options)
    else:
        app = app or build_app(config, cassette)
        prepare_process()
        uvicorn.run(app, **options)
