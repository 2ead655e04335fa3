"""The request class: input is cleaned of NUL bytes, which PostgreSQL text cannot hold."""

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

from app.services.ids import MAX_ID


class BoundedInt(IntegerConverter):
    """`<int:id>` in URLs matches only ids a database integer can hold (else 404, not a 500)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def strip_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    return value


class HeraldRequest(Request):
    def _load_form_data(self) -> None:
        super()._load_form_data()
        form = self.__dict__.get("form")
        if form and any("\x00" in k or "\x00" in v for k, v in form.items(multi=True)):
            self.__dict__["form"] = ImmutableMultiDict(
                [(strip_nul(k), strip_nul(v)) for k, v in form.items(multi=True)]
            )

    def get_json(self, *args, **kwargs):
        return strip_nul(super().get_json(*args, **kwargs))

    @property
    def args(self):
        args = super().args
        if any("\x00" in k or "\x00" in v for k, v in args.items(multi=True)):
            return ImmutableMultiDict([(strip_nul(k), strip_nul(v)) for k, v in args.items(multi=True)])
        return args
