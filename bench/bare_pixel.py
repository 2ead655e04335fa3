"""The floor for the open pixel: a bare WSGI app that answers every request with the same
GIF and the same headers as Herald's /t/o/<token>.gif, and does nothing else.

    gunicorn --no-control-socket -w 2 -b 127.0.0.1:PORT bench.bare_pixel:app

pixel_bench compares both responses before loading them and reports any difference.
"""
import base64

# The bytes app/blueprints/public serves (a 1x1 transparent GIF).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

HEADERS = [
    ("Cache-Control", "no-store, no-cache, must-revalidate, private"),
    ("Pragma", "no-cache"),
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(PIXEL))),
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; "
     "font-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
     "base-uri 'self'; object-src 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Vary", "Cookie"),
]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [PIXEL]
