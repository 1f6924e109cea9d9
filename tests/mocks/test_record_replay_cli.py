"""``aigw mock --record`` and ``--replay`` as real processes, and the command line's own errors."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

import pytest
import requests

from conftest import running_mock
from aigw.mocks.cassette import load
from aigw.protocol.serving import free_port

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "Hello from a process"}], "max_tokens": 10}
STREAM = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Stream"}], "max_tokens": 10, "stream": True}
SECRET = "AZKEY-proc-31337"


def aigw(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aigw.cli.main", *args], capture_output=True, text=True, timeout=60, **kwargs)


@contextlib.contextmanager
def aigw_mock(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``aigw mock ARGS --port P`` as a process; yields once it accepts connections."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "aigw.cli.main", "mock", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"aigw mock exited with {process.returncode}: {process.stderr.read()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("aigw mock did not start listening within 30 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
        process.stderr.close()


def test_record_as_a_process_killed_mid_run_then_replay_as_a_process(tmp_path):
    cassette = tmp_path / "proc.jsonl"
    with running_mock() as (upstream, _):
        with aigw_mock("--record", str(cassette), "--upstream", upstream) as (url, recorder):
            chat = requests.post(url + AZURE_CHAT, json=HELLO, headers={"api-key": SECRET})
            stream = requests.post(url + "/v1/chat/completions", json=STREAM)
            assert chat.status_code == 200 and stream.status_code == 200
            os.kill(recorder.pid, signal.SIGKILL)  # no shutdown at all: what was answered must be on disk
            recorder.wait(timeout=10)
    assert [e.request.path for e in load(cassette).exchanges] == [
        "/openai/deployments/gpt-4o/chat/completions", "/v1/chat/completions"]
    assert SECRET not in cassette.read_text()

    with aigw_mock("--replay", str(cassette), "--no-timing") as (url, replayer):
        assert requests.post(url + AZURE_CHAT, json=HELLO).content == chat.content
        assert requests.post(url + "/v1/chat/completions", json=STREAM).content == stream.content
        miss = requests.post(url + AZURE_CHAT, json={**HELLO, "max_tokens": 11})
        assert miss.status_code == 404 and miss.json()["error"]["code"] == "cassette_miss"
        replayer.send_signal(signal.SIGTERM)
        replayer.wait(timeout=10)  # uvicorn shuts down cleanly, then re-raises SIGTERM
        banner = replayer.stderr.read()
    assert f"replaying 2 exchanges from {cassette}" in banner and "Traceback" not in banner


def test_a_bad_cassette_is_a_clear_error_naming_file_and_line_never_a_traceback(tmp_path):
    cassette = tmp_path / "broken.jsonl"
    cassette.write_text('{"type":"session","format":"aigw-cassette","version":1,"started":"x","upstream":"u"}\n{oops\n')
    result = aigw("mock", "--replay", str(cassette))
    assert result.returncode == 2
    assert f"{cassette}:2: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    missing = aigw("mock", "--replay", str(tmp_path / "absent.jsonl"))
    assert missing.returncode == 2 and "absent.jsonl: no such cassette file" in missing.stderr


def test_option_mistakes_are_explained(tmp_path, monkeypatch, capsys):
    """In-process (each case would otherwise cost a Python start-up): exit 2 and a sentence, no traceback."""
    from aigw.cli.main import main

    monkeypatch.chdir(tmp_path)
    cases = [
        (["--record", "x.jsonl"], "--record needs --upstream URL"),
        (["--record", "x.jsonl", "--upstream", "ftp://host"], "--upstream must be an http(s) URL"),
        (["--upstream", "http://h"], "--upstream is only used with --record"),
        (["--record", "x.jsonl", "--replay", "y.jsonl", "--upstream", "http://h"], "--record and --replay exclude each other"),
        (["--record", "x.jsonl", "--upstream", "http://h", "--workers", "2"], "use --workers 1"),
        (["--on-miss", "generate"], "apply to --replay CASSETTE"),
        (["--ignore-field", "user"], "apply to --record or --replay"),
    ]
    for args, expected in cases:
        assert main(["mock", *args]) == 2, args
        assert expected in capsys.readouterr().err, args
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["mock", "--replay", "y.jsonl", "--replay-speed", "0"])
    assert exit_info.value.code == 2 and "must be above 0" in capsys.readouterr().err


def test_help_documents_record_and_replay_with_examples():
    result = aigw("mock", "--help")
    assert result.returncode == 0
    for text in ("--record CASSETTE", "--upstream URL", "--replay CASSETTE", "--on-miss {error,generate}",
                 "--ignore-field FIELD", "--redact-field FIELD", "--replay-speed FACTOR", "--no-timing",
                 "aigw mock --record chat.jsonl --upstream https://", "aigw mock --replay chat.jsonl"):
        assert text in result.stdout, text
