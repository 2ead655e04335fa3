"""Network situations the provider transport tests share: a name that resolves off this machine,
a connect that times out, and a server that drops the connection once it has read the request."""

import socket
import threading
from contextlib import contextmanager


def resolve_off_machine(monkeypatch) -> None:
    """Every host name resolves to a TEST-NET-3 address, so a connect reaches the outbound guard."""
    answer = [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("203.0.113.7", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)


def fail_dns(monkeypatch) -> None:
    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)


def connect_times_out(monkeypatch) -> None:
    """socket.connect as it ends when the host never answers the SYN (no waiting here)."""

    def timed_out(sock, address):
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket.socket, "connect", timed_out)


@contextmanager
def dropping_server():
    """A server on 127.0.0.1 that reads the request, then closes without answering; yields its base URL."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve_one():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(1 << 20)
            except OSError:
                pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        thread.join(5)
        server.close()
