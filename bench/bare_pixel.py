"""The floor for the open pixel: a bare WSGI app that answers every request with the same
GIF and the same headers as Herald's /t/o/<token>.gif, and does nothing else.

    gunicorn --no-control-socket -w 2 -b 127.0.0.1:PORT bench.bare_pixel:app

pixel_bench compares both responses before loading them and reports any difference.
"""

# The bytes and headers app/blueprints/public/pixel.py serves (kept in step by importing them;
# that module imports no Flask app, only the token and Redis helpers).
from app.blueprints.public.pixel import HEADERS, PIXEL


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [PIXEL]
