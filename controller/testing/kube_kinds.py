"""The resource kinds the emulator serves, the ``Status`` errors it answers with, and validation.

Everything here is a pure description: which group/version/plural a kind lives at, what the
kube-apiserver's error bodies look like (``kind: Status`` with ``reason`` and ``details``), and
which writes it rejects as 400 BadRequest (undecodable) or 422 Invalid (decodable but wrong).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from controller.testing import kube_select


@dataclass(frozen=True)
class Kind:
    """One served resource. ``scalable`` kinds have ``spec.replicas``, ``generation`` and the
    ``scale`` and ``status`` subresources."""

    group: str
    version: str
    plural: str
    kind: str
    scalable: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """``deployments.apps``, as error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps``, as 422 messages name it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


DEPLOYMENTS = Kind("apps", "v1", "deployments", "Deployment", scalable=True)
STATEFULSETS = Kind("apps", "v1", "statefulsets", "StatefulSet", scalable=True)
CONFIGMAPS = Kind("", "v1", "configmaps", "ConfigMap")
EVENTS = Kind("", "v1", "events", "Event")
LEASES = Kind("coordination.k8s.io", "v1", "leases", "Lease")
EVENTS_V1 = Kind("events.k8s.io", "v1", "events", "Event")
ALL = (DEPLOYMENTS, STATEFULSETS, CONFIGMAPS, EVENTS, LEASES, EVENTS_V1)
SCALE = Kind("autoscaling", "v1", "scale", "Scale")


def lookup(api_version: str, plural: str) -> Kind | None:
    return next((k for k in ALL if k.api_version == api_version and k.plural == plural), None)


def resolve(name: str | Kind) -> Kind:
    """``"deployments"``, ``"Deployment"``, ``"deployments.apps"``, ``"events.events.k8s.io"``..."""
    if isinstance(name, Kind):
        return name
    wanted = name.lower()
    for kind in ALL:                                 # core "events" wins over events.k8s.io
        if wanted in (kind.plural, kind.kind.lower(), kind.resource, kind.qualified_kind.lower(),
                      kind.kind.lower() + "s"):
            return kind
    raise KeyError(f"unknown kind {name!r} (known: {', '.join(k.resource for k in ALL)})")


# --- Status bodies ---------------------------------------------------------------------------

class ApiError(Exception):
    """An error answer: HTTP ``code`` plus the ``Status`` body the real server would send."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        if not self.reason:
            del body["reason"]
        return body


def _details(kind: Kind, name: str, **extra) -> dict:
    details = {"name": name, "group": kind.group, "kind": kind.plural, **extra}
    return {k: v for k, v in details.items() if v not in ("", None)}


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind.resource} "{name}" not found', _details(kind, name))


def already_exists(kind: Kind, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{kind.resource} "{name}" already exists', _details(kind, name))


def conflict(kind: Kind, name: str, why: str = "the object has been modified; please apply your "
             "changes to the latest version and try again") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {kind.resource} "{name}": {why}',
                    _details(kind, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(kind: Kind, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422: ``causes`` are ``(field, message)`` pairs, e.g. ``("spec.replicas", "Invalid value: -1: ...")``."""
    text = ", ".join(f"{field}: {msg}" for field, msg in causes)
    text = f"[{text}]" if len(causes) > 1 else text
    reasons = {"Required": "FieldValueRequired", "Invalid": "FieldValueInvalid"}
    details = {"name": name, "group": kind.group, "kind": kind.kind,
               "causes": [{"reason": reasons.get(msg.split(" ")[0], "FieldValueInvalid"),
                           "message": msg, "field": field} for field, msg in causes]}
    return ApiError(422, "Invalid", f'{kind.qualified_kind} "{name}" is invalid: {text}',
                    {k: v for k, v in details.items() if v != ""})


def success(kind: Kind, name: str, uid: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": _details(kind, name, uid=uid)}


# --- validation ------------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_types(obj: dict) -> None:
    """400 for fields the real server could not even decode into its Go types."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise bad_request("metadata: expected an object")
    for field in ("name", "namespace", "resourceVersion", "uid", "generateName"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], str):
            raise bad_request(f"json: cannot unmarshal {type(meta[field]).__name__} into Go struct field "
                              f"ObjectMeta.metadata.{field} of type string")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (not isinstance(value, dict)
                                  or not all(isinstance(v, str) for v in value.values())):
            raise bad_request(f"metadata.{field}: expected a map of strings")
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise bad_request("spec: expected an object")
    replicas = (spec or {}).get("replicas")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)):
        raise bad_request(f"json: cannot unmarshal {type(replicas).__name__} into Go struct field "
                          f"spec.replicas of type int32")
    data = obj.get("data")
    if data is not None and (not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values())):
        raise bad_request("data: expected a map of strings")


def validate(kind: Kind, obj: dict, old: dict | None = None) -> None:
    """422 Invalid for a decodable object the real server's validation would reject."""
    name = obj["metadata"].get("name", "")
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 253 or not _NAME.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                       "consist of lower case alphanumeric characters, '-' or '.', and must start and "
                       "end with an alphanumeric character"))
    if kind.scalable:
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas")
        if replicas is not None and replicas < 0:
            causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
        selector, template = spec.get("selector"), spec.get("template")
        if not selector:
            causes.append(("spec.selector", "Required value"))
        if not isinstance(template, dict) or not (template.get("spec") or {}).get("containers"):
            causes.append(("spec.template.spec.containers", "Required value"))
        elif selector:
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not kube_select.selector_matches(selector, labels):
                causes.append(("spec.template.metadata.labels", f"Invalid value: {labels}: "
                               "`selector` does not match template `labels`"))
        if old is not None and selector != (old.get("spec") or {}).get("selector"):
            causes.append(("spec.selector", f"Invalid value: {selector}: field is immutable"))
    if kind is LEASES:
        duration = (obj.get("spec") or {}).get("leaseDurationSeconds")
        if duration is not None and (not isinstance(duration, int) or duration <= 0):
            causes.append(("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0"))
    if causes:
        raise invalid(kind, name, causes)


def validate_scale(name: str, replicas) -> None:
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)):
        raise bad_request("json: cannot unmarshal into Go struct field ScaleSpec.spec.replicas of type int32")
    if replicas is not None and replicas < 0:
        raise invalid(SCALE, name, [("spec.replicas",
                                     f"Invalid value: {replicas}: must be greater than or equal to 0")])


def micro_time(value: str) -> str:
    """Normalise a client-sent RFC 3339 time to the server's MicroTime form (``...000000Z``)."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise bad_request(f'parsing time "{value}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse')
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
