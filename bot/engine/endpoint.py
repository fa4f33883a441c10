"""The business's endpoints (`endpoints.yaml`): what flows may call over HTTP, read with positions, never called here.

An endpoint has a name flows use, a URL, a method, a timeout, whether a retry is safe, how it is
authenticated (a Stripe-style signature over timestamp and body, or a bearer token, each secret named by
an environment variable and never written in the file) and the shape its JSON answer must have. The
file's `actions:` section lets endpoints serve the shipped flows' actions (`orders.recent` and the rest)
instead of the service's own tables. Reading never raises: it answers every problem at its line and
column, as `bot.engine.flow_file` does. The signature and the shape check are here too, as pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.engine.flow_file import BAD, DOTTED, IDENTIFIER, IDENTIFIER_RULE, read_duration
from bot.yaml_file import KeyPath, Position, Problem, Reading, YamlLoader, read_mapping

FILE_NAME = "endpoints.yaml"
TOP_KEYS = ("endpoints", "actions")
ENDPOINT_KEYS = ("url", "method", "timeout", "idempotent", "auth", "returns", "nullable")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SCALARS = ("string", "number", "integer", "boolean", "any")
OR_NULL = " or null"
DEFAULT_TIMEOUT = timedelta(seconds=5)
MAX_TIMEOUT = timedelta(seconds=60)
MAX_ANSWER = 64 * 1024  # bytes of JSON an endpoint may answer
SIGNATURE_HEADER = "X-Bot-Signature"
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a signature's timestamp either way
ENV_NAME = "must be an environment variable's name, like SHOP_TOKEN"

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
ShapeKind = Literal["string", "number", "integer", "boolean", "any", "list", "object"]


@dataclass(frozen=True)
class Shape:
    """What a JSON value must look like: a scalar kind, a list of one shape, or an object with fields.

    Written in the file as YAML: `string`, `number`, `integer`, `boolean`, `any`, each optionally followed
    by `or null`; `[SHAPE]` for a list; `{field: SHAPE}` for an object, whose fields are required unless
    their shape allows null (then they may be missing too), and whose other fields pass as they are.
    """

    kind: ShapeKind = "any"
    nullable: bool = False
    items: Shape | None = None
    fields: tuple[tuple[str, Shape], ...] = ()


@dataclass(frozen=True)
class Auth:
    """How a request proves it comes from us: `signature` (HMAC-SHA256) or `bearer`, its secret in `env`."""

    scheme: Literal["signature", "bearer"]
    env: str


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    method: Method = "GET"
    timeout: timedelta = DEFAULT_TIMEOUT
    idempotent: bool = True  # may be tried again after a failure; GET's default, POST's is false
    auth: Auth | None = None
    returns: Shape = Shape()
    nullable: bool = False  # the answer may be JSON null (e.g. "no such order")
    position: Position = field(default=Position(), compare=False)


@dataclass(frozen=True)
class Endpoints:
    """The project's endpoints by name, and which flow actions they serve instead of the built-in ones."""

    by_name: Mapping[str, Endpoint] = field(default_factory=dict)
    actions: Mapping[str, str] = field(default_factory=dict)  # action name → endpoint name
    path: Path | None = None
    positions: Mapping[KeyPath, Position] = field(default_factory=dict, compare=False, repr=False)
    key_positions: Mapping[KeyPath, Position] = field(default_factory=dict, compare=False, repr=False)


def read_endpoints(path: Path) -> tuple[Endpoints, list[Problem]]:
    """The endpoints in `path` (none when it does not exist), and every problem found in it.

    A file with errors answers no endpoints, so nothing half-read is called.
    """
    if not path.exists():
        return Endpoints(), []
    reading = Reading(path)
    read = read_mapping(reading, loader=YamlLoader, what="an endpoints file is a mapping with 'endpoints'", at_top=True)
    if read is None:
        return Endpoints(path=path), reading.sorted_problems()
    data = read[1]
    reading.check_top_keys(data, TOP_KEYS, ("endpoints",))
    found = _endpoints(reading, data.get("endpoints", {}))
    actions = _actions(reading, data.get("actions", {}), found)
    if not reading.ok:
        return Endpoints(path=path), reading.sorted_problems()
    return Endpoints(found, actions, path, dict(reading.values), dict(reading.keys)), reading.sorted_problems()


def check_endpoints(endpoints: Endpoints, environ: Mapping[str, str], actions: Collection[str]) -> list[Problem]:
    """What reading cannot know: secrets missing from the environment (warnings), actions nobody runs (errors)."""
    problems: list[Problem] = []
    if endpoints.path is None:
        return problems
    for endpoint in endpoints.by_name.values():
        if endpoint.auth is not None and not environ.get(endpoint.auth.env):
            where = endpoints.positions.get(("endpoints", endpoint.name, "auth"), endpoint.position)
            message = f"environment variable {endpoint.auth.env} is not set: calls to {endpoint.name!r} will fail"
            problems.append(Problem(endpoints.path, where.line, where.column, "warning", message))
    for action in endpoints.actions:
        if action not in actions:
            where = endpoints.key_positions.get(("actions", action), Position(1, 1))
            message = f"unknown action {action!r}; actions: {', '.join(sorted(actions))}"
            problems.append(Problem(endpoints.path, where.line, where.column, "error", message))
    return problems


# --- the file ------------------------------------------------------------------------------------------


def _endpoints(reading: Reading, value: Any) -> dict[str, Endpoint]:
    if not isinstance(value, dict):
        reading.error(reading.at("endpoints"), "'endpoints' maps each endpoint's name to {url, method, …}")
        return {}
    found: dict[str, Endpoint] = {}
    for name, spec in value.items():
        base: KeyPath = ("endpoints", str(name))
        if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
            reading.error(reading.key_at(*base), f"endpoint name {name!r} {IDENTIFIER_RULE}")
            continue
        if not isinstance(spec, dict) or "url" not in spec:
            reading.error(reading.at(*base), f"endpoint {name!r} is a mapping with at least a 'url'")
            continue
        endpoint = _endpoint(reading, name, spec, base)
        if endpoint is not None:
            found[name] = endpoint
    return found


def _endpoint(reading: Reading, name: str, spec: dict[Any, Any], base: KeyPath) -> Endpoint | None:
    errors = len(reading.problems)
    for key in spec:
        if key not in ENDPOINT_KEYS:
            allowed = ", ".join(ENDPOINT_KEYS)
            reading.error(reading.key_at(*base, str(key)), f"unknown key {key!r} in an endpoint; allowed: {allowed}")
    url = spec["url"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        reading.error(reading.at(*base, "url"), "'url' must be an http:// or https:// URL")
    method = spec.get("method", "GET")
    if method not in METHODS:
        reading.error(reading.at(*base, "method"), f"'method' must be one of {', '.join(METHODS)}")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in spec:
        timeout = read_duration(reading, spec["timeout"], (*base, "timeout"))
        if timeout is not BAD and timeout > MAX_TIMEOUT:
            reading.error(reading.at(*base, "timeout"), "'timeout' is at most 60s: a customer is waiting")
    idempotent = spec.get("idempotent", method == "GET")
    nullable = spec.get("nullable", False)
    for key, flag in (("idempotent", idempotent), ("nullable", nullable)):
        if not isinstance(flag, bool):
            reading.error(reading.at(*base, key), f"'{key}' must be true or false")
    auth = _auth(reading, spec["auth"], (*base, "auth")) if "auth" in spec else None
    returns = _shape(reading, spec["returns"], (*base, "returns")) if "returns" in spec else Shape()
    if len(reading.problems) > errors:
        return None
    return Endpoint(name, url, method, timeout, idempotent, auth, returns, nullable, reading.key_at(*base))


def _auth(reading: Reading, value: Any, path: KeyPath) -> Auth | None:
    if not isinstance(value, dict) or len(value) != 1 or not set(value) <= {"signature", "bearer"}:
        reading.error(reading.at(*path), "'auth' is {signature: ENV_NAME} or {bearer: ENV_NAME}")
        return None
    [(scheme, env)] = value.items()
    if not isinstance(env, str) or not env.replace("_", "").isalnum() or env[0].isdigit():
        reading.error(reading.at(*path, scheme), f"'{scheme}' {ENV_NAME}; the secret itself stays out of files")
        return None
    return Auth(scheme, env)


def _shape(reading: Reading, value: Any, path: KeyPath) -> Shape:
    if isinstance(value, str):
        kind, nullable = value.removesuffix(OR_NULL), value.endswith(OR_NULL)
        if kind not in SCALARS:
            known = ", ".join(SCALARS)
            reading.error(reading.at(*path), f"unknown type {value!r}; use {known} (with 'or null'), [TYPE] or {{…}}")
            return Shape()
        return Shape(kind, nullable)  # type: ignore[arg-type]  # checked against SCALARS just above
    if isinstance(value, list):
        if len(value) != 1:
            reading.error(reading.at(*path), "a list type is written with one item type, like [string]")
            return Shape()
        return Shape("list", items=_shape(reading, value[0], (*path, 0)))
    if isinstance(value, dict):
        fields = tuple((str(key), _shape(reading, item, (*path, str(key)))) for key, item in value.items())
        return Shape("object", fields=fields)
    reading.error(reading.at(*path), "a type is a name (string, number, …), [TYPE] or {field: TYPE}")
    return Shape()


def _actions(reading: Reading, value: Any, endpoints: Mapping[str, Endpoint]) -> dict[str, str]:
    if not isinstance(value, dict):
        reading.error(reading.at("actions"), "'actions' maps flow actions (like orders.recent) to endpoint names")
        return {}
    found: dict[str, str] = {}
    for action, name in value.items():
        if not isinstance(action, str) or not DOTTED.fullmatch(action):
            reading.error(reading.key_at("actions", str(action)), f"action {action!r} is not an action's name")
        elif name not in endpoints:
            known = ", ".join(sorted(endpoints)) or "none"
            reading.error(reading.at("actions", action), f"unknown endpoint {name!r}; endpoints: {known}")
        else:
            found[action] = name
    return found


# --- answers and signatures ----------------------------------------------------------------------------


def mismatch(shape: Shape, value: Any, where: str = "answer") -> str | None:
    """Where `value` does not have `shape` and why, like ``answer[0].title is a number, not a string``."""
    if value is None:
        return None if shape.nullable or shape.kind == "any" else f"{where} is null, not {_a(shape.kind)}"
    wanted = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "any": True,
        "list": isinstance(value, list),
        "object": isinstance(value, dict),
    }[shape.kind]
    if not wanted:
        return f"{where} is {_a(_kind_of(value))}, not {_a(shape.kind)}"
    if shape.kind == "list" and shape.items is not None:
        for index, item in enumerate(value):
            found = mismatch(shape.items, item, f"{where}[{index}]")
            if found:
                return found
    for name, inner in shape.fields:
        if name not in value:
            if not inner.nullable:
                return f"{where} has no {name!r}"
            continue
        found = mismatch(inner, value[name], f"{where}.{name}")
        if found:
            return found
    return None


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {str: "string", int: "integer", float: "number", list: "list", dict: "object"}.get(type(value), "value")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Bot-Signature` header: ``t=TIMESTAMP,v1=HEX`` with HMAC-SHA256 over ``TIMESTAMP.BODY`` (Stripe's form)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_holds(header: str, secret: str, body: bytes, now: int, tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """Whether a receiver should accept `header`: a v1 signature of this body, with a timestamp near `now`."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp = parts.get("t", "")
    if not (stamp.isdecimal() and len(stamp) <= 12) or abs(now - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(stamp), body), f"t={stamp},v1={parts.get('v1', '')}")
