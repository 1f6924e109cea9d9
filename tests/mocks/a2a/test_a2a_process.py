"""The real ``aigw mock`` process, configured from a YAML file, serves A2A agents to the official client."""

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from aigw.protocol.serving import free_port
from conftest import stop_process

pytest.importorskip("a2a.client", reason="a2a-sdk is a test extra: pip install 'aigw-suite[test]'")
from a2a.client import ClientConfig, create_client  # noqa: E402
from a2a.types import a2a_pb2 as pb  # noqa: E402

CONFIG = """\
deployments:
  - {name: gpt-4o, model: gpt-4o}
a2a:
  work_seconds: 0.2
  default_agent: helpdesk
  agents:
    - name: helpdesk
      description: Answers IT questions.
      skills:
        - {id: triage, name: Triage, description: Files and answers tickets., tags: [it]}
"""


def test_a2a_agent_from_a_config_file_in_a_real_process(tmp_path):
    config = tmp_path / "mock.yaml"
    config.write_text(CONFIG)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "aigw.cli.main", "mock", "--port", str(port), "--config",
                                str(config), "--latency", "off", "--seed", "3"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                card = httpx.get(f"{url}/.well-known/agent-card.json", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.05)
        assert card.json()["name"] == "helpdesk"

        async def main():
            client = await create_client(url, ClientConfig(streaming=True))  # resolves the root card
            try:
                request = pb.SendMessageRequest(message=pb.Message(role=pb.Role.ROLE_USER, message_id="p-1",
                                                                   parts=[pb.Part(text="Printer is down")]))
                return [e async for e in client.send_message(request)]
            finally:
                await client.close()

        events = asyncio.run(main())
        assert events[0].task.status.state == pb.TaskState.TASK_STATE_SUBMITTED
        assert events[-1].status_update.status.state == pb.TaskState.TASK_STATE_COMPLETED
    finally:
        stop_process(process)
