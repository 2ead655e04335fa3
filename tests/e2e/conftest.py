"""Browser tests: Debian's Chromium (through Playwright) against the app on a live server,
with a real RQ worker subprocess and the development mail catcher.

Every test in this folder is marked `e2e`, and skipped when /usr/bin/chromium is missing.
Screenshots of the main pages go to test-artifacts/screenshots/ (git-ignored).
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 812}
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Mark everything under tests/e2e as e2e; skip it all cleanly without Chromium."""
    missing = not os.path.exists(CHROMIUM)
    for item in items:
        if HERE not in Path(str(item.path)).resolve().parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"Debian's Chromium is not installed at {CHROMIUM}"))


# Playwright -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser; nothing that phones home."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def base_url():
    """Replaces pytest-playwright 0.10's fallback `base_url`, a session fixture defined as an
    instance method, which pytest 9.2 deprecates (an error here). Tests use `live_server`."""
    return None


@pytest.fixture
def desktop(new_context):
    """A marketer's browser tab, 1280 px wide."""
    context = new_context(viewport=DESKTOP)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # "Send now?", "Unsubscribe?": the person says yes
    return page


@pytest.fixture
def mobile(new_context):
    """A recipient's phone, 375 px wide (public pages)."""
    context = new_context(viewport=MOBILE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture(scope="session")
def screenshot():
    """Save a full-page PNG of what the page shows now, under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        if not full_page:
            page.screenshot(path=str(path))
            return path
        # A full_page capture draws fixed elements (the sidebar) at their place in the scrolled
        # viewport: make the viewport as tall as the page instead, then put it back.
        viewport = page.viewport_size
        page.evaluate("window.scrollTo(0, 0)")
        height = page.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
        try:
            page.screenshot(path=str(path))
        finally:
            page.set_viewport_size(viewport)
        return path

    return shoot


# The app, live ----------------------------------------------------------------------------------


@pytest.fixture
def live_server(app, monkeypatch):
    """The session's app on a werkzeug server in a thread; its origin is the app's BASE_URL for
    this test (and in the environment, for the worker subprocess started after it)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    origin = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setitem(app.config, "BASE_URL", origin)
    monkeypatch.setenv("BASE_URL", origin)
    # Polled for shutdown every 20 ms, not the default 0.5 s that every test's teardown would wait out.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="live-server", daemon=True)
    thread.start()
    _forget_process_caches()
    yield origin
    server.shutdown()
    server.server_close()
    thread.join(5)
    _forget_process_caches()


def _forget_process_caches():
    """The live server runs in this process, so its per-process caches outlive the test: ids restart
    after each test (conftest's _clean_state), and a cached link id 1 would redirect a later
    test's click to this test's URL."""
    from app.services.campaigns import messages
    from app.services.events import tracking
    from workers.jobs import _app

    tracking._links.clear()
    messages._compiled.clear()
    # In-process workers build their app once, from the environment of that moment (this
    # test's BASE_URL): a later test must get one of its own.
    _app.cache_clear()


@pytest.fixture
def rq_worker(live_server, redis_url, request):
    """A real `rq worker` process on the test Redis, with this process's environment; the worker
    class the Procfile runs (it builds the app once, before forking each job) when it exists."""
    rq = Path(sys.executable).parent / "rq"
    worker_class = (
        ["--worker-class", "workers.worker.HeraldWorker"] if (ROOT / "workers" / "worker.py").exists() else []
    )
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"worker-{request.node.name}.log"
    env = dict(os.environ)  # DATABASE_URL, REDIS_URL, SECRET_KEY, MAILCATCHER_PORT, BASE_URL (live server)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(rq), "worker", "--url", redis_url, "--path", ".", *worker_class, "sends", "webhooks", "default"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def stack(live_server, rq_worker, mail_catcher):
    """Everything a send needs: the live server, a worker and the development outbox's catcher."""
    return live_server
