"""Importing a CSV through the dashboard as a person does: upload, check the columns, import."""

import html
import io
import re

_SELECT = re.compile(r'<select[^>]*name="(column_\d+)"[^>]*>(.*?)</select>', re.S)
_SELECTED = re.compile(r'<option value="([^"]*)" selected>')
_ATTRIBUTE = re.compile(r'name="(attribute_\d+)"[^>]*?value="([^"]*)"', re.S)
_CHECKED_LIST = re.compile(r'name="list_ids" value="(\d+)" checked')
_ACTION = re.compile(r'<form[^>]*action="([^"]+)"[^>]*id="import-columns"')


def upload(client, token: str, data: bytes, filename: str = "people.csv", list_ids=()):
    """POST the file on the import page (the answer redirects to its columns when it is a CSV)."""
    return client.post(
        "/subscribers/import",
        data={"csrf_token": token, "list_ids": [str(i) for i in list_ids], "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def columns_form(page: str) -> tuple[str, dict]:
    """The columns page's form action and the values it holds as shown (the guessed mapping)."""
    form: dict = {name: _SELECTED.search(options).group(1) for name, options in _SELECT.findall(page)}
    form.update((name, html.unescape(value)) for name, value in _ATTRIBUTE.findall(page))
    form["list_ids"] = _CHECKED_LIST.findall(page)
    return html.unescape(_ACTION.search(page).group(1)), form


def import_through_pages(client, token: str, data: bytes, filename="people.csv", list_ids=(), changes=None):
    """Upload, accept the guessed columns (with `changes`, e.g. {"column_2": "ignore"}), import.

    Returns the last answer: the result page, the progress redirect, or a 422 page."""
    r = upload(client, token, data, filename, list_ids)
    if r.status_code != 302:
        return r
    action, form = columns_form(client.get(r.headers["Location"]).get_data(as_text=True))
    form.update(changes or {})
    return client.post(action, data=form | {"csrf_token": token})
