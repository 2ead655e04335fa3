"""A moto server (AWS emulator) on loopback, for tests that talk to SES through boto3.

Server mode rather than moto's in-process mocks: the code under test then makes real HTTP
requests, with botocore's real timeouts and error parsing. Import the fixture into a test
module (`from tests.moto_support import moto_endpoint`) to use it.
"""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port, stop_process

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def start_moto() -> tuple[str, subprocess.Popen]:
    """Start moto_server on a free loopback port; return its URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                return url, proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    proc.wait(10)
    raise RuntimeError("moto_server did not answer within 20 s")


def moto_reset(url: str) -> None:
    """Forget every resource and sent message (POST /moto-api/reset)."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5).close()


def moto_data(url: str) -> dict:
    """Everything moto holds, as /moto-api/data.json shows it (sent mail under ses/…)."""
    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=5) as resp:
        return json.load(resp)


@pytest.fixture(scope="session")
def moto_endpoint():
    """The URL of a moto server shared by the session; reset it yourself between tests."""
    url, proc = start_moto()
    try:
        yield url
    finally:
        stop_process(proc)
