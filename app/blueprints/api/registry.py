"""API operations declared once: `@operation` records what the OpenAPI document says about a
view (path, method, schemas, parameters) and the same record validates its requests."""

import json
import re
from dataclasses import dataclass, field
from functools import cache, wraps
from typing import Callable

from flask import Response, request
from jsonschema import Draft202012Validator

from app.blueprints.api.errors import ApiError
from app.blueprints.api.schemas import MAX_ID, PAGE, PER_PAGE, SCHEMAS
from app.services.errors import ValidationError
from app.services.platform import roles

MAX_DEPTH = 32
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL refuses NUL; lone surrogates cannot be encoded
_PATH_PARAM = re.compile(r"{(\w+)}")
_TYPE_WORDS = {
    "integer": "a whole number",
    "string": "text",
    "object": "an object",
    "array": "a list",
    "boolean": "true or false",
    "number": "a number",
    "null": "null",
}


@dataclass(frozen=True)
class Param:
    """A query parameter; its schema converts and checks the value."""

    name: str
    schema: dict
    description: str = ""


PAGINATION = (Param("page", PAGE), Param("per_page", PER_PAGE))


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form, e.g. /campaigns/{campaign_id}; a path parameter is an id unless in `key_params`
    summary: str
    tag: str
    view: Callable
    body: str | None = None  # component schema of the JSON body
    body_required: bool = True
    multipart: str | None = None  # component schema of a multipart/form-data body (the alternative to `body`)
    # Media types also accepted as the raw body of a multipart operation (a file posted as it is).
    raw_types: tuple[str, ...] = ()
    response: str | None = None  # component schema of the success answer
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same answer (an idempotent create's 200)
    paginated: bool = False
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False
    media_type: str = "application/json"
    description: str = field(default="")
    # The kind of action (services/platform/roles.py): read, write, admin or owner. Unset, it follows
    # from the method and the tag: GETs read, changes are writes (admin's for the infrastructure).
    permission: str | None = None
    # Path parameters that are the resource's own text key (a product's SKU), not ids: any characters
    # but control characters, `/` included (sent percent-encoded).
    key_params: tuple[str, ...] = ()

    @property
    def required_permission(self) -> str:
        return self.permission or roles.api_permission(self.method, self.tag)

    @property
    def endpoint(self) -> str:
        return self.view.__name__

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def rule(self) -> str:
        return _PATH_PARAM.sub(
            lambda m: f"<path:{m[1]}>" if m[1] in self.key_params else f"<int(min=1, max={MAX_ID}):{m[1]}>", self.path
        )

    @property
    def query_params(self) -> tuple[Param, ...]:
        return (*self.query, *(PAGINATION if self.paginated else ()))

    @property
    def error_statuses(self) -> list[int]:
        statuses = set(self.errors)
        if not self.public:
            statuses.add(401)
            if self.required_permission not in ("read", "self"):
                statuses.add(403)  # a key whose role does not allow it
        if self.path_params:
            statuses.add(404)
        if self.body:
            statuses.update((400, 415, 422))
        elif self.multipart:
            statuses.update((413, 415, 422))
        if self.query_params:
            statuses.add(422)
        return sorted(statuses)


OPERATIONS: list[Operation] = []
BY_ENDPOINT: dict[str, Operation] = {}  # view name -> its operation (the blueprint's endpoints are api.<name>)


def operation(method: str, path: str, summary: str, *, tag: str, **options):
    """Declare an API operation; the view gets `body` and `query` when the operation has them."""

    def decorator(fn):
        doc = (fn.__doc__ or "").strip()
        op = Operation(method, path, summary, tag, fn, description=doc, **options)
        if op.permission is not None and op.permission not in roles.PERMISSIONS:
            raise ValueError(f"{fn.__name__}: permission {op.permission!r} is not one of {roles.PERMISSIONS}")
        OPERATIONS.append(op)
        BY_ENDPOINT[op.endpoint] = op
        return fn

    return decorator


def operation_for(endpoint: str | None) -> Operation | None:
    """The operation a request's endpoint (`api.<name>`) serves, if any."""
    if not endpoint or not endpoint.startswith("api."):
        return None
    return BY_ENDPOINT.get(endpoint[4:])


def view_for(op: Operation) -> Callable:
    """The Flask view of an operation: parse and validate, call, answer with the declared status."""

    @wraps(op.view)
    def view(**path_args):
        kwargs = dict(path_args)
        if op.body:
            kwargs["body"] = read_body(op)
        elif op.multipart:
            require_multipart(op.raw_types)
        if op.query_params:
            kwargs["query"] = read_query(op)
        result = op.view(**kwargs)
        if isinstance(result, Response):
            return result
        return result, op.status

    view.public = op.public
    return view


# Bodies -------------------------------------------------------------------------------------------


def read_body(op: Operation) -> dict | None:
    """The validated JSON body, or None for a multipart upload the view reads itself."""
    mimetype = request.mimetype
    if op.multipart and mimetype == "multipart/form-data":
        return None
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        also = " or a multipart/form-data upload" if op.multipart else ""
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send JSON with 'Content-Type: application/json'{also}, not {mimetype[:100]}.",
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        if op.body_required:
            raise ApiError(400, "empty_body", "The request body is empty: send a JSON object.")
        data = {}
    else:
        data = parse_json(raw)
    check_values(data)
    validate(op.body, data)
    return data


def require_multipart(raw_types: tuple[str, ...] = ()) -> None:
    """An upload-only operation: the view reads request.files (or the raw body) itself."""
    if request.mimetype != "multipart/form-data" and request.mimetype not in raw_types:
        also = "".join(f", {t}" for t in raw_types)
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send a multipart/form-data upload{also}, not {(request.mimetype or 'an empty body')[:100]}.",
        )


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except RecursionError:
        raise ApiError(400, "invalid_json", "The JSON body is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {str(exc)[:200]}") from None


def check_values(data) -> None:
    """Refuse what the database cannot store: NUL characters, lone surrogates, deep nesting."""
    stack = [(data, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            _invalid(path, f"Nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, str):
            if _BAD_CHARS.search(value):
                _invalid(path, "Contains a NUL character or invalid Unicode.")
        elif isinstance(value, dict):
            for key, item in value.items():
                if _BAD_CHARS.search(key):
                    _invalid(path, "A name contains a NUL character or invalid Unicode.")
                stack.append((item, (*path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, (*path, i), depth + 1) for i, item in enumerate(value))


def _invalid(path, message: str):
    name = dotted(path) or "body"
    raise ValidationError(f"{name}: {message}", {name: message})


def dotted(path) -> str:
    return ".".join(str(p) for p in path)


@cache
def validator(schema_name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": SCHEMAS}})


def schema_errors(schema_name: str, data) -> dict[str, str]:
    """Field path -> what to fix, for every place `data` does not match the schema."""
    fields: dict[str, str] = {}
    for error in sorted(validator(schema_name).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path, message = describe(error)
        fields.setdefault(dotted(path) or "body", message)
    return fields


def validate(schema_name: str, data) -> None:
    fields = schema_errors(schema_name, data)
    if fields:
        if "body" in fields:
            raise ValidationError("The request body must be a JSON object.", fields)
        name, message = next(iter(fields.items()))
        raise ValidationError(
            f"{name}: {message}" if len(fields) == 1 else "Please correct the highlighted fields.", fields
        )


def describe(error) -> tuple[tuple, str]:
    """A short message of our own: jsonschema's repeats the value, which may be megabytes long."""
    path, kind, limit = tuple(error.absolute_path), error.validator, error.validator_value
    if kind == "required":
        missing = next((p for p in limit if p not in error.instance), limit[0])
        return (*path, missing), "Required."
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = next((k for k in error.instance if k not in known), "")
        return (*path, extra), "Unknown field."
    if kind == "type":
        types = [limit] if isinstance(limit, str) else limit
        return path, "Must be " + " or ".join(_TYPE_WORDS.get(t, t) for t in types) + "."
    if kind == "enum":
        return path, "Must be one of: " + ", ".join(json.dumps(v) for v in limit) + "."
    if kind == "const":
        return path, f"Must be {json.dumps(limit)}."
    if kind == "minLength":
        return path, "May not be empty." if limit == 1 else f"At least {limit} characters."
    if kind == "minItems":
        return path, f"At least {limit} item{'s' if limit != 1 else ''}."
    messages = {
        "maxLength": "At most {} characters.",
        "minimum": "Must be at least {}.",
        "maximum": "Must be at most {}.",
        "maxItems": "At most {} items.",
        "maxProperties": "At most {} entries.",
        "minProperties": "Give at least one field.",
    }
    return path, messages.get(kind, "Is not valid.").format(limit)


# Query strings ------------------------------------------------------------------------------------


def read_query(op: Operation) -> dict:
    """Query parameters converted to their schema's type and checked; absent ones take defaults."""
    values, fields = {}, {}
    for param in op.query_params:
        raw = request.args.get(param.name, "")
        if raw == "":
            if "default" in param.schema:
                values[param.name] = param.schema["default"]
            continue
        try:
            value = _convert(raw, param.schema)
        except ValueError as exc:
            fields[param.name] = str(exc)
            continue
        problems = Draft202012Validator(param.schema).iter_errors(value)
        problem = next(problems, None)
        if problem is not None:
            fields[param.name] = describe(problem)[1]
        else:
            values[param.name] = value
    if fields:
        name, message = next(iter(fields.items()))
        raise ValidationError(
            f"{name}: {message}" if len(fields) == 1 else "Please correct the query parameters.", fields
        )
    return values


def _convert(raw: str, schema: dict):
    if _BAD_CHARS.search(raw):
        raise ValueError("Contains a NUL character.")
    if schema.get("type") == "integer":
        if not re.fullmatch(r"-?\d{1,18}", raw.strip()):
            raise ValueError("Must be a whole number.")
        return int(raw)
    return raw
