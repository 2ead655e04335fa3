"""A local Twilio REST API for tests, and the signed requests Twilio makes to Herald.

`TwilioServer` (fixture `twilio_server`) is a threaded http.server on 127.0.0.1 that answers the
two calls Herald makes the way Twilio does: `POST /2010-04-01/Accounts/{sid}/Messages.json` (a form:
To, Body, From or MessagingServiceSid, StatusCallback) and `GET /2010-04-01/Accounts/{sid}.json` (the
provider's Test), both behind HTTP basic auth (account SID : auth token; 401 code 20003 otherwise).
Point a provider at it with `settings()` / `credentials()` (its `base_url` is the api_base_url).

Every accepted text is kept in `messages` (dicts: sid, to, body, from, messaging_service_sid,
status_callback, status, at — a time.monotonic() stamp, for rate tests), every Messages request that
passed auth in `attempts` (with the status answered). A test scripts what comes next:

    server.fail("+15550000001", code=21610)   # that number's texts answer 400 21610 (every time)
    server.throttle(2)                        # the next 2 texts answer 429 code 20429
    server.unavailable(1, status=503)         # the next text answers 503
    server.hang_after_receive("+15550000002") # read and kept, then no answer: a read timeout

and makes Twilio's requests to Herald, signed with app.providers.twilio.signature:

    url, params, headers = server.callback_request(sid, "delivered")   # to the StatusCallback recorded
    resp = server.post(client, url, params, headers)                   # through a Flask test client
    url, params, headers = server.inbound_request("+15551230000", "+15557654321", "STOP", url)
"""

import base64
import json
import secrets
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from app.providers.twilio import API_VERSION, SIGNATURE_HEADER, signature

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f0e1d2c3b4a59687f0e1d2c3b4a59687"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
SERVICE_NUMBER = "+15005550006"  # the number a messaging service "picks" for its texts
HANG_SECONDS = 10.0  # how long a hung request waits before answering (stop() releases it at once)
# GSM 03.38's basic set (one unit each) and its extension (two units: an escape, then the character).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")


def segments(body: str) -> int:
    """How many segments Twilio would bill for `body`: 160/153 GSM-7 units, else 70/67 UCS-2 characters."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in body):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in body)
        return 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in body)  # UTF-16 code units
    return 1 if units <= 70 else -(-units // 67)


def _error(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class TwilioServer:
    """Twilio's Messages and Accounts API on 127.0.0.1, with scripted answers; a context manager."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.account_status = "active"  # what GET Accounts/{sid}.json says: active | suspended | closed
        self.messages: list[dict] = []
        self.attempts: list[dict] = []
        self._lock = threading.Lock()
        self._failures: dict[str, dict] = {}  # number -> {code, status, message, times (None: always)}
        self._throttled = 0
        self._unavailable: list[int] = []  # the statuses the next requests answer
        self._hangs: dict[str, int] = {}
        self._release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.twilio = self
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "TwilioServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._release.set()  # a hung request answers now, so its thread ends
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # A provider pointed here -------------------------------------------------------------------

    def settings(self, from_numbers=("+15557650001",), messaging_service_sid=None, **more) -> dict:
        """Provider settings using this server: the from numbers, or a messaging service."""
        settings = {"api_base_url": self.base_url, **more}
        if messaging_service_sid:
            settings["messaging_service_sid"] = messaging_service_sid
        else:
            settings["from_numbers"] = list(from_numbers)
        return settings

    def credentials(self) -> dict:
        return {"account_sid": self.account_sid, "auth_token": self.auth_token}

    # Scripting the next answers -----------------------------------------------------------------

    def fail(self, to: str, code: int = 21610, status: int = 400, message: str | None = None, times=None) -> None:
        """Texts to `to` answer this Twilio error (`times` of them; None: every one) instead of being accepted."""
        message = message or f"Scripted Twilio error {code} for {to}"
        with self._lock:
            self._failures[to] = {"code": code, "status": status, "message": message, "times": times}

    def throttle(self, n: int = 1) -> None:
        """The next `n` texts answer 429 with code 20429 (Too Many Requests)."""
        with self._lock:
            self._throttled += n

    def unavailable(self, n: int = 1, status: int = 503) -> None:
        """The next `n` texts answer `status` (a 5xx): Twilio is having a bad moment."""
        with self._lock:
            self._unavailable += [status] * n

    def hang_after_receive(self, to: str, times: int = 1) -> None:
        """The next `times` texts to `to` are read and kept (Twilio has them), then not answered in time."""
        with self._lock:
            self._hangs[to] = self._hangs.get(to, 0) + times

    # Reading what arrived ------------------------------------------------------------------------

    def sent_to(self, to: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m["to"] == to]

    def message(self, sid: str) -> dict:
        with self._lock:
            found = [m for m in self.messages if m["sid"] == sid]
        if not found:
            raise KeyError(f"no text with SID {sid} reached the Twilio test server")
        return found[0]

    # Twilio's requests to Herald -----------------------------------------------------------------

    def _signed(self, url: str, params: dict, auth_token: str | None) -> tuple[str, dict, dict]:
        token = self.auth_token if auth_token is None else auth_token
        headers = {
            SIGNATURE_HEADER: signature(token, url, params),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        return url, params, headers

    def callback_request(
        self, message_sid: str, status: str, url: str | None = None, error_code=None, auth_token: str | None = None
    ) -> tuple[str, dict, dict]:
        """A status callback for a text this server accepted, to its StatusCallback (or `url`), signed
        with the auth token (or `auth_token`, e.g. a wrong one): (url, params, headers)."""
        record = self.message(message_sid)
        url = url or record["status_callback"]
        if not url:
            raise ValueError(f"the text {message_sid} was sent without a StatusCallback: give a url")
        params = {
            "MessageSid": message_sid,
            "SmsSid": message_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": record["from"] or SERVICE_NUMBER,
            "To": record["to"],
            "ApiVersion": API_VERSION,
        }
        if record["messaging_service_sid"]:
            params["MessagingServiceSid"] = record["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self._signed(url, params, auth_token)

    def inbound_request(
        self,
        from_: str,
        to: str,
        body: str,
        url: str,
        auth_token: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> tuple[str, dict, dict]:
        """A text someone sent to one of the account's numbers, as Twilio posts it to `url`, signed."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(segments(body)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        if messaging_service_sid:
            params["MessagingServiceSid"] = messaging_service_sid
        return self._signed(url, params, auth_token)

    @staticmethod
    def post(client, url: str, params: dict, headers: dict):
        """Post a (url, params, headers) request through a Flask test client, to the URL's own origin
        (http://herald.test in tests), so the URL the app sees is the one that was signed."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return client.post(path, data=params, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")

    def callback(self, client, message_sid: str, status: str, url=None, error_code=None, auth_token=None):
        """callback_request, posted through `client` (a Flask test client); returns its response."""
        return self.post(client, *self.callback_request(message_sid, status, url, error_code, auth_token))

    # What the handler asks ------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return secrets.compare_digest((header or "").encode(), expected.encode())

    def _scripted(self, to: str) -> tuple[int, dict] | None:
        """The answer scripted for the next text to `to`, if any (and count it)."""
        with self._lock:
            if self._throttled:
                self._throttled -= 1
                return 429, _error(20429, "Too Many Requests", 429)
            if self._unavailable:
                status = self._unavailable.pop(0)
                return status, _error(20500, "Internal Server Error", status)
            failure = self._failures.get(to)
            if failure is None:
                return None
            if failure["times"] is not None:
                failure["times"] -= 1
                if failure["times"] <= 0:
                    del self._failures[to]
            return failure["status"], _error(failure["code"], failure["message"], failure["status"])

    def _hangs_for(self, to: str) -> bool:
        with self._lock:
            if self._hangs.get(to):
                self._hangs[to] -= 1
                return True
            return False

    def _accept(self, form: dict) -> dict:
        service = form.get("MessagingServiceSid")
        record = {
            "sid": "SM" + secrets.token_hex(16),
            "to": form["To"],
            "body": form["Body"],
            "from": form.get("From"),
            "messaging_service_sid": service,
            "status_callback": form.get("StatusCallback"),
            "status": "accepted" if service else "queued",  # as Twilio answers a messaging service's texts
            "at": time.monotonic(),
        }
        with self._lock:
            self.messages.append(record)
        return record

    def _answer(self, record: dict) -> dict:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {
            "sid": record["sid"],
            "account_sid": self.account_sid,
            "to": record["to"],
            "from": record["from"],
            "messaging_service_sid": record["messaging_service_sid"],
            "body": record["body"],
            "status": record["status"],
            "num_segments": str(segments(record["body"])),
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{record['sid']}.json",
        }

    @staticmethod
    def _invalid(form: dict) -> tuple[int, dict] | None:
        """Twilio's answer to a Messages request it cannot take, or None."""
        if not form.get("To"):
            return 400, _error(21604, "A 'To' phone number is required.", 400)
        if not form.get("Body"):
            return 400, _error(21602, "Message body is required.", 400)
        if bool(form.get("From")) == bool(form.get("MessagingServiceSid")):
            return 400, _error(21603, "Give exactly one of 'From' and 'MessagingServiceSid'.", 400)
        return None

    def _record_attempt(self, form: dict, answered: int | None) -> None:
        with self._lock:
            self.attempts.append({**form, "answered": answered})


class _Handler(BaseHTTPRequestHandler):
    server_version = "TwilioTestServer/1.0"

    @property
    def twilio(self) -> TwilioServer:
        return self.server.twilio

    def log_message(self, format, *args):  # noqa: A002  (http.server's name)
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a hung request): nobody is listening any more
            pass

    def _account_path(self) -> list[str] | None:
        """The path after /2010-04-01/Accounts/{sid}, or None (answered 401/404 already)."""
        if not self.twilio._authorized(self.headers.get("Authorization")):
            self._send(401, _error(20003, "Authenticate", 401))
            return None
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) < 3 or parts[:2] != [API_VERSION, "Accounts"]:
            self._send(404, _error(20404, "The requested resource was not found", 404))
            return None
        sid = parts[2].removesuffix(".json")
        if sid != self.twilio.account_sid:
            self._send(404, _error(20404, f"The requested resource /Accounts/{sid} was not found", 404))
            return None
        return parts[3:] if len(parts) > 3 else [""]

    def do_GET(self):
        rest = self._account_path()
        if rest is None:
            return
        if rest != [""]:
            return self._send(404, _error(20404, "The requested resource was not found", 404))
        twilio = self.twilio
        body = {"sid": twilio.account_sid, "friendly_name": "Test account", "status": twilio.account_status}
        self._send(200, {**body, "type": "Full"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        rest = self._account_path()
        if rest is None:
            return
        if rest != ["Messages.json"]:
            return self._send(404, _error(20404, "The requested resource was not found", 404))
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        twilio = self.twilio
        answer = twilio._invalid(form)
        if answer is None and twilio._hangs_for(form["To"]):
            record = twilio._accept(form)  # Twilio has it; the answer just never comes in time
            twilio._record_attempt(form, None)
            twilio._release.wait(HANG_SECONDS)
            return self._send(201, twilio._answer(record))
        answer = answer or twilio._scripted(form["To"]) or (201, twilio._answer(twilio._accept(form)))
        twilio._record_attempt(form, answer[0])
        self._send(*answer)


@pytest.fixture
def twilio_server():
    """A local Twilio REST API (tests/twilio_support.py): point a provider at `.settings()` and `.credentials()`."""
    with TwilioServer() as server:
        yield server
