"""The emulator's state: objects, the global resourceVersion, optimistic concurrency, scale.

Invariants (those of the real kube-apiserver's registry over etcd):

* one counter; every committed write (create, update, patch, delete, a status change made by
  the emulated deployment/statefulset controller) takes the next value as its resourceVersion;
* an update whose result equals the stored object is not a write: nothing is bumped;
* a write carrying ``metadata.resourceVersion`` (or ``uid``) that differs from the stored one is
  409 Conflict; an empty one is an unconditional update;
* ``generation`` counts spec changes of scalable kinds; ``status`` of scalable kinds follows
  ``spec.replicas`` immediately or ``rollout_delay`` seconds later (then as a separate write);
* everything returned is a deep copy; all access holds one lock.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from controller.testing import kube_kinds as kinds
from controller.testing import kube_patch, kube_select
from controller.testing.kube_kinds import ApiError, Kind

Key = tuple[Kind, str, str]
_OMIT_ZERO = {"replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "currentReplicas"}


class Store:
    def __init__(self, *, rollout_delay: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 first_resource_version: int = 100) -> None:
        self._lock = threading.RLock()
        self._rv = first_resource_version
        self._objects: dict[Key, dict] = {}
        self._due: dict[Key, float] = {}
        self._clock = clock
        self.rollout_delay = rollout_delay

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    # --- reads -----------------------------------------------------------------------------

    def get(self, kind: Kind, ns: str, name: str, *, subresource: str | None = None) -> dict:
        with self._lock:
            self._settle()
            current = self._require(kind, ns, name)
            return scale_of(current) if subresource == "scale" else copy.deepcopy(current)

    def find(self, kind: Kind, ns: str, name: str) -> dict | None:
        with self._lock:
            self._settle()
            found = self._objects.get((kind, ns, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, kind: Kind, ns: str | None, label_selector: str | None = None,
             field_selector: str | None = None) -> dict:
        try:
            labels = kube_select.parse_label_selector(label_selector)
            allowed = (lambda f: True) if kind.kind == "Event" else \
                (lambda f: f in ("metadata.name", "metadata.namespace"))
            fields = kube_select.parse_field_selector(field_selector, allowed)
        except kube_select.SelectorError as exc:
            raise kinds.bad_request(str(exc)) from None
        with self._lock:
            self._settle()
            items = [copy.deepcopy(obj) for (k, o_ns, _), obj in sorted(self._objects.items(), key=_order)
                     if k is kind and ns in (None, o_ns)
                     and labels(obj["metadata"].get("labels") or {}) and fields(obj)]
            for item in items:                     # typed lists carry kind/apiVersion once, at the top
                item.pop("kind", None)
                item.pop("apiVersion", None)
            return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    # --- writes ----------------------------------------------------------------------------

    def create(self, kind: Kind, ns: str, body: Any, *, dry_run: bool = False) -> dict:
        obj = _checked_body(kind, body)
        meta = obj["metadata"]
        if meta.get("namespace") not in (None, "", ns):
            raise kinds.bad_request("the namespace of the provided object does not match the namespace "
                                    "sent on the request")
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789")
                                                          for _ in range(5))
        for field in ("uid", "generation", "deletionTimestamp", "selfLink", "managedFields"):
            meta.pop(field, None)
        meta.update(namespace=ns, uid=str(uuid.uuid4()),
                    creationTimestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if kind.scalable:
            meta["generation"] = 1
            obj.setdefault("spec", {}).setdefault("replicas", 1)
            obj["status"] = {}
        _normalise(kind, obj)
        kinds.validate(kind, obj)
        with self._lock:
            self._settle()
            if (kind, ns, meta["name"]) in self._objects:
                raise kinds.already_exists(kind, meta["name"])
            return self._commit(kind, None, obj, dry_run=dry_run)

    def replace(self, kind: Kind, ns: str, name: str, body: Any, *, subresource: str | None = None,
                dry_run: bool = False) -> dict:
        with self._lock:
            self._settle()
            current = self._require(kind, ns, name)
            if subresource == "scale":
                return self._replace_scale(kind, current, body, dry_run)
            obj = _checked_body(kind, body)
            _check_identity(kind, current, obj)
            if subresource == "status":
                new = copy.deepcopy(current)
                new["status"] = obj.get("status") or {}
            else:
                new = obj
                for field in ("uid", "creationTimestamp", "generation"):
                    if field in current["metadata"]:
                        new["metadata"][field] = current["metadata"][field]
                new["metadata"]["namespace"] = ns
                if kind.scalable:
                    new.setdefault("spec", {}).setdefault("replicas", 1)
                    new["status"] = copy.deepcopy(current.get("status", {}))
                _normalise(kind, new)
            kinds.validate(kind, new, old=current)
            return self._commit(kind, current, new, dry_run=dry_run, rollout=subresource != "status")

    def patch(self, kind: Kind, ns: str, name: str, content_type: str, patch: Any, *,
              subresource: str | None = None, dry_run: bool = False) -> dict:
        with self._lock:
            self._settle()
            current = self._require(kind, ns, name)
            base = scale_of(current) if subresource == "scale" else copy.deepcopy(current)
            try:
                patched = kube_patch.apply(content_type, base, patch)
            except kube_patch.PatchError as exc:
                if exc.decode:
                    raise kinds.bad_request(str(exc)) from None
                raise ApiError(422, "Invalid", str(exc)) from None
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patched document is not an object")
            return self.replace(kind, ns, name, patched, subresource=subresource, dry_run=dry_run)

    def delete(self, kind: Kind, ns: str, name: str, options: Any = None, *, dry_run: bool = False) -> dict:
        with self._lock:
            self._settle()
            current = self._require(kind, ns, name)
            pre = (options or {}).get("preconditions") or {} if isinstance(options, dict) else {}
            meta = current["metadata"]
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise kinds.conflict(kind, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                                 f"UID in object meta: {meta['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise kinds.conflict(kind, name, "the ResourceVersion in the precondition "
                                     f"({pre['resourceVersion']}) does not match the ResourceVersion in "
                                     f"record ({meta['resourceVersion']}). The object might have been modified")
            if not dry_run:
                del self._objects[(kind, ns, name)]
                self._due.pop((kind, ns, name), None)
                self._rv += 1
            return kinds.success(kind, name, meta["uid"])

    def mutate(self, kind: Kind, ns: str, name: str, change: Callable[[dict], Any]) -> dict:
        """A write by another party (a concurrent client, a controller): ``change`` edits a copy in
        place; no validation, no preconditions; bumps the resourceVersion if anything changed."""
        with self._lock:
            self._settle()
            current = self._require(kind, ns, name)
            new = copy.deepcopy(current)
            change(new)
            return self._commit(kind, current, new, rollout=True)

    def touch(self, kind: Kind, ns: str, name: str) -> dict:
        """Bump the object's resourceVersion behind every client's back (annotation counter)."""
        def bump(obj: dict) -> None:
            notes = obj["metadata"].setdefault("annotations", {})
            notes["emulator.scalelab.dev/touched"] = str(int(notes.get("emulator.scalelab.dev/touched", "0")) + 1)
        return self.mutate(kind, ns, name, bump)

    def settle(self) -> None:
        with self._lock:
            self._settle()

    # --- internals -------------------------------------------------------------------------

    def _require(self, kind: Kind, ns: str, name: str) -> dict:
        found = self._objects.get((kind, ns, name))
        if found is None:
            raise kinds.not_found(kind, name)
        return found

    def _replace_scale(self, kind: Kind, current: dict, body: Any, dry_run: bool) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise kinds.bad_request("the body of the request must be a Scale object")
        if body.get("kind") not in (None, "", "Scale"):
            raise kinds.bad_request(f"the body of the request is a {body['kind']!r}, expected a Scale")
        _check_identity(kind, current, {"metadata": body.get("metadata") or {}})
        replicas = (body.get("spec") or {}).get("replicas")
        kinds.validate_scale(current["metadata"]["name"], replicas)
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = replicas or 0
        return scale_of(self._commit(kind, current, new, dry_run=dry_run))

    def _commit(self, kind: Kind, current: dict | None, new: dict, *, dry_run: bool = False,
                rollout: bool = True) -> dict:
        meta = new["metadata"]
        new["kind"], new["apiVersion"] = kind.kind, kind.api_version
        for field in ("labels", "annotations"):             # Go's omitempty on the maps
            if field in meta and not meta[field]:
                del meta[field]
        if current is not None:
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            if kind.scalable and new.get("spec") != current.get("spec"):
                meta["generation"] = current["metadata"].get("generation", 1) + 1
        key = (kind, meta["namespace"], meta["name"])
        behind = kind.scalable and rollout and new.get("status") != desired_status(kind, new)
        if behind and self.rollout_delay <= 0:
            new["status"] = desired_status(kind, new)
        if new == current or dry_run:
            return copy.deepcopy(new)
        if behind and self.rollout_delay > 0 and (key not in self._due or current is None
                                                  or new.get("spec") != current.get("spec")):
            self._due[key] = self._clock() + self.rollout_delay   # a new rollout restarts the clock
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._objects[key] = new
        return copy.deepcopy(new)

    def _settle(self) -> None:
        now = self._clock()
        for key, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due > now:
                continue
            del self._due[key]
            current = self._objects.get(key)
            if current is not None:
                new = copy.deepcopy(current)
                new["status"] = desired_status(key[0], new)
                self._commit(key[0], current, new, rollout=False)


def desired_status(kind: Kind, obj: dict) -> dict:
    """The status the (absent) deployment/statefulset controller converges to."""
    replicas = obj["spec"].get("replicas", 1)
    status = dict(obj.get("status") or {})
    status.update(observedGeneration=obj["metadata"].get("generation", 1), replicas=replicas,
                  readyReplicas=replicas, availableReplicas=replicas, updatedReplicas=replicas)
    if kind is kinds.STATEFULSETS:
        status["currentReplicas"] = replicas
    for field in _OMIT_ZERO:                        # Go's omitempty; StatefulSet.status.replicas is not
        if status.get(field) == 0 and not (field == "replicas" and kind is kinds.STATEFULSETS):
            del status[field]
    return status


def scale_of(obj: dict) -> dict:
    """The ``autoscaling/v1`` Scale view of a Deployment or StatefulSet."""
    meta = obj["metadata"]
    spec = {"replicas": obj["spec"]["replicas"]} if obj["spec"].get("replicas") else {}
    status = {"replicas": (obj.get("status") or {}).get("replicas", 0)}
    selector = kube_select.format_label_selector(obj["spec"].get("selector"))
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": spec, "status": status}


def _order(item: tuple[Key, dict]) -> tuple[str, str]:
    return item[0][1], item[0][2]


def _checked_body(kind: Kind, body: Any) -> dict:
    if not isinstance(body, dict):
        raise kinds.bad_request(f"the body of the request must be a {kind.kind} object")
    obj = copy.deepcopy(body)
    obj.setdefault("metadata", {})
    kinds.check_types(obj)
    if obj.get("kind") not in (None, "", kind.kind) or obj.get("apiVersion") not in (None, "", kind.api_version):
        raise kinds.bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                                f"expected API version ({kind.api_version}) or kind ({obj.get('kind')} "
                                f"vs {kind.kind})")
    return obj


def _check_identity(kind: Kind, current: dict, body: dict) -> None:
    """Name/namespace must match the URL (400); uid and resourceVersion, if sent, the stored ones (409)."""
    meta, stored = body["metadata"], current["metadata"]
    if meta.get("name") != stored["name"]:
        raise kinds.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                                f"the URL ({stored['name']})")
    if meta.get("namespace") not in (None, "", stored["namespace"]):
        raise kinds.bad_request("the namespace of the provided object does not match the namespace sent "
                                "on the request")
    if meta.get("uid") and meta["uid"] != stored["uid"]:
        raise kinds.conflict(kind, stored["name"], f"Precondition failed: UID in precondition: {meta['uid']}, "
                                                   f"UID in object meta: {stored['uid']}")
    if meta.get("resourceVersion") and meta["resourceVersion"] != stored["resourceVersion"]:
        raise kinds.conflict(kind, stored["name"])


def _normalise(kind: Kind, obj: dict) -> None:
    if kind is kinds.LEASES:
        spec = obj.get("spec") or {}
        for field in ("acquireTime", "renewTime"):
            if spec.get(field):
                spec[field] = kinds.micro_time(spec[field])
