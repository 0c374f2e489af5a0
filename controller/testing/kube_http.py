"""HTTP routing for the emulator: discovery documents, resource URLs, admin endpoints, faults.

URL shapes served (``{prefix}`` is ``/api/v1`` or ``/apis/{group}/{version}``)::

    {prefix}/{plural}                                    GET (list across namespaces)
    {prefix}/namespaces/{ns}/{plural}                    GET (list), POST
    {prefix}/namespaces/{ns}/{plural}/{name}             GET, PUT, PATCH, DELETE
    {prefix}/namespaces/{ns}/{plural}/{name}/scale       GET, PUT, PATCH   (deployments, statefulsets)
    {prefix}/namespaces/{ns}/{plural}/{name}/status      GET, PUT, PATCH   (deployments, statefulsets)
    /version /api /api/v1 /apis /apis/{group} /apis/{group}/{version} /healthz /livez /readyz
    /__emulator/requests (GET, DELETE)  /__emulator/faults (GET, POST, DELETE)  /__emulator/state (GET)
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
import time
import traceback
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from controller.testing import kube_faults, kube_kinds as kinds, kube_patch
from controller.testing.kube_kinds import ApiError, Kind
from controller.testing.kube_store import Store

VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-scalelab-emulator",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
           "platform": "linux/amd64"}
_VERBS = ["create", "delete", "get", "list", "patch", "update"]
_SHORT = {"deployments": ["deploy"], "statefulsets": ["sts"], "configmaps": ["cm"], "events": ["ev"]}


def _group_versions() -> dict[str, list[Kind]]:
    groups: dict[str, list[Kind]] = {}
    for kind in kinds.ALL:
        groups.setdefault(kind.api_version, []).append(kind)
    return groups


def resource_list(api_version: str) -> dict | None:
    served = _group_versions().get(api_version)
    if served is None:
        return None
    resources = []
    for kind in served:
        resources.append({"name": kind.plural, "singularName": kind.kind.lower(), "namespaced": True,
                          "kind": kind.kind, "verbs": _VERBS, "shortNames": _SHORT.get(kind.plural, [])})
        if kind.scalable:
            resources.append({"name": f"{kind.plural}/scale", "singularName": "", "namespaced": True,
                              "group": "autoscaling", "version": "v1", "kind": "Scale",
                              "verbs": ["get", "patch", "update"]})
            resources.append({"name": f"{kind.plural}/status", "singularName": "", "namespaced": True,
                              "kind": kind.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}


def api_group(group: str) -> dict | None:
    versions = [{"groupVersion": gv, "version": gv.split("/")[1]} for gv in _group_versions()
                if gv.split("/")[0] == group and "/" in gv]
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def not_served() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                    {})


class Api:
    """Routes one decoded request to the store; returns ``(status, payload)`` or raises ApiError."""

    def __init__(self, store: Store, address: str) -> None:
        self.store, self.address = store, address

    def discovery(self, path: str) -> dict | str | None:
        if path in ("/healthz", "/livez", "/readyz"):
            return "ok"
        if path == "/version":
            return VERSION
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}]}
        if path == "/apis":
            groups = sorted({gv.split("/")[0] for gv in _group_versions() if "/" in gv})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(g) for g in groups]}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return resource_list(parts[1])
        if parts[0] == "apis" and len(parts) == 2:
            return api_group(parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return resource_list(f"{parts[1]}/{parts[2]}")
        return None

    @staticmethod
    def route(path: str) -> tuple[Kind, str | None, str | None, str | None] | None:
        """``(kind, namespace, name, subresource)`` for a resource URL, else None."""
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            api_version, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if not 1 <= len(rest) <= 3 or (ns is None and len(rest) > 1):
            return None
        kind = kinds.lookup(api_version, rest[0])
        if kind is None:
            return None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and not (kind.scalable and sub in ("scale", "status")):
            return None
        return kind, ns, rest[1] if len(rest) >= 2 else None, sub

    def handle(self, method: str, path: str, query: dict, content_type: str, raw: bytes) -> tuple[int, object]:
        doc = self.discovery(path) if method in ("GET", "HEAD") else None
        if doc is not None:
            return 200, doc
        found = self.route(path)
        if found is None:
            raise not_served()
        kind, ns, name, sub = found
        dry_run = query.get("dryRun") == "All"
        if name is None:
            if method == "GET" and query.get("watch") not in (None, "", "false", "0"):
                raise ApiError(405, "MethodNotAllowed", "watch is not supported by the scalelab emulator", {})
            if method == "GET":
                return 200, self.store.list(kind, ns, query.get("labelSelector"), query.get("fieldSelector"))
            if method == "POST" and ns is not None:
                return 201, self.store.create(kind, ns, _json_body(content_type, raw), dry_run=dry_run)
            raise not_allowed()
        if method == "GET":
            return 200, self.store.get(kind, ns, name, subresource=sub)
        if method == "PUT":
            return 200, self.store.replace(kind, ns, name, _json_body(content_type, raw), subresource=sub,
                                           dry_run=dry_run)
        if method == "PATCH":
            media = (content_type or "").split(";")[0].strip().lower()
            if media not in kube_patch.SUPPORTED:
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media types "
                               f"include: {', '.join(kube_patch.SUPPORTED)}", {})
            return 200, self.store.patch(kind, ns, name, media, _decode(raw), subresource=sub, dry_run=dry_run)
        if method == "DELETE" and sub is None:
            options = _decode(raw) if raw.strip() else None
            return 200, self.store.delete(kind, ns, name, options, dry_run=dry_run)
        raise not_allowed()


def _decode(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise kinds.bad_request(f"error decoding request body: {exc}") from None


def _json_body(content_type: str, raw: bytes):
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                       "accepted media types include: application/json", {})
    return _decode(raw)


def _maybe_json(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class EmulatorServer(ThreadingHTTPServer):
    """The HTTP server: owns the API router, the faults, the request log and its open sockets."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: Store, faults: kube_faults.Faults,
                 log: kube_faults.RequestLog) -> None:
        super().__init__(address, Handler)
        self.store, self.faults, self.log = store, faults, log
        self.api = Api(store, f"{self.server_address[0]}:{self.server_address[1]}")
        self.stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    def server_bind(self) -> None:
        """HTTPServer's own looks the name up in DNS (``getfqdn``), seconds on some hosts."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, addr = super().get_request()
        with self._sockets_lock:
            self._sockets.add(sock)
        return sock, addr

    def shutdown_request(self, request) -> None:
        with self._sockets_lock:
            self._sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-request is normal here (drops, timeouts); anything else is
        an emulator bug and keeps the default traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_all(self) -> None:
        """Wake every handler: interrupt sleeps and shut open client sockets."""
        self.stopping.set()
        with self._sockets_lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorServer
    server_version = "scalelab-kube-emulator"
    disable_nagle_algorithm = True          # headers and body go out as separate writes

    def log_message(self, format, *args) -> None:   # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        path = "/" + url.path.strip("/")
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = self._read_body()
        content_type = self.headers.get("Content-Type")
        if path == "/__emulator" or path.startswith("/__emulator/"):
            return self._admin(path, raw)
        request = kube_faults.RequestInfo(self.command, path, query,
                                          {k.lower(): v for k, v in self.headers.items()}, raw)
        try:
            plan = self.server.faults.plan(request)
        except Exception as exc:                                    # a test's predicate raised
            error = ApiError(500, "InternalError", f"emulator fault rule raised: {exc!r}")
            self._record(request, content_type, 500, error.status(), "error", started)
            return self._respond(500, error.status())
        if plan.delay > 0:
            self.server.stopping.wait(plan.delay)
        rule, fault = plan.terminal, None
        if rule is not None and rule.action in ("drop", "hang"):
            if rule.action == "hang":
                self.server.stopping.wait(rule.delay(request) or 3600.0)
            self._record(request, content_type, None, None, rule.action, started)
            self._drop()
            return
        try:
            if rule is not None and rule.action == "error":
                fault = "error"
                raise ApiError(rule.status, kube_faults.REASONS.get(rule.status, ""),
                               rule.message or f"injected fault: HTTP {rule.status}", {})
            found = Api.route(path)
            if rule is not None and rule.action == "conflict":
                fault = "conflict"
                kind, name = (found[0], found[2] or "") if found else (kinds.SCALE, "")
                raise kinds.conflict(kind, name, rule.message or "the object has been modified; please "
                                     "apply your changes to the latest version and try again")
            for _ in plan.touches:
                if found and found[1] and found[2]:
                    fault = "touch"
                    try:
                        self.server.store.touch(found[0], found[1], found[2])
                    except ApiError:
                        pass
            status, payload = self.server.api.handle(self.command, path, query, content_type, raw)
        except ApiError as exc:
            status, payload = exc.code, exc.status()
        except Exception as exc:                                    # a bug in the emulator: say so
            status, payload = 500, ApiError(500, "InternalError", f"emulator error: {exc!r}\n"
                                            f"{traceback.format_exc()}").status()
        retry_after = rule.retry_after if rule is not None and fault == "error" else None
        self._record(request, content_type, status, payload, fault, started)
        self._respond(status, payload, retry_after)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass                                    # trailers, then the final CRLF
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size + 2)[:size])  # data + CRLF
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _respond(self, status: int, payload, retry_after: int | None = None) -> None:
        if isinstance(payload, str):
            body, ctype = payload.encode(), "text/plain; charset=utf-8"
        else:
            body, ctype = json.dumps(payload).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache, private")
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _record(self, request, content_type, status, payload, fault, started) -> None:
        self.server.log.append(kube_faults.Record(
            request.method, request.path, request.query, content_type, _maybe_json(request.body), status,
            payload, fault, round(time.monotonic() - started, 6)))

    def _admin(self, path: str, raw: bytes) -> None:
        parts = path.strip("/").split("/")[1:]
        try:
            status, payload = self._admin_route(parts, _decode(raw) if raw.strip() else {})
        except (ApiError, ValueError, TypeError) as exc:
            error = exc if isinstance(exc, ApiError) else kinds.bad_request(str(exc))
            status, payload = error.code, error.status()
        self._respond(status, payload)

    def _admin_route(self, parts: list[str], body: dict) -> tuple[int, object]:
        server, method = self.server, self.command
        if parts == ["requests"] and method == "GET":
            return 200, {"items": [asdict(r) for r in server.log.records()]}
        if parts == ["requests"] and method == "DELETE":
            server.log.clear()
            return 200, {"status": "cleared"}
        if parts == ["faults"] and method == "GET":
            return 200, {"items": [r.describe() for r in server.faults.rules()]}
        if parts == ["faults"] and method == "POST":
            params = dict(body)
            action = params.pop("action", None)
            for key in ("retryAfter",):
                if key in params:
                    params["retry_after"] = params.pop(key)
            return 201, server.faults.add(action, **params).describe()
        if parts == ["faults"] and method == "DELETE":
            server.faults.clear()
            return 200, {"status": "cleared"}
        if len(parts) == 2 and parts[0] == "faults" and method == "DELETE":
            server.faults.remove(int(parts[1]))
            return 200, {"status": "removed"}
        if parts == ["state"] and method == "GET":
            items = []
            for kind in kinds.ALL:
                for item in server.store.list(kind, None)["items"]:
                    items.append({"kind": kind.kind, "apiVersion": kind.api_version, **item})
            return 200, {"resourceVersion": str(server.store.resource_version), "items": items}
        raise not_served()
