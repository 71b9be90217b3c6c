#!/usr/bin/env python3
"""A tiny recording HTTP proxy on 127.0.0.1 for SCEP (stdlib only).

    with RecordingProxy("http://127.0.0.1:P") as proxy:   # upstream must be loopback
        run_client(proxy.url + "/scep")
        for ex in proxy.exchanges: ex.operation, ex.method, ex.request_body, ex.status, ex.response_body

Every request is forwarded unchanged (method, path, query, body, Content-Type) to the upstream and the
answer is returned unchanged. For `GET ?operation=PKIOperation&message=...` the message is
percent-decoded (not '+'-as-space decoded) and base64-decoded into `request_body`, so GET and POST
PKIOperations record the same DER pkiMessage; `raw_message` keeps the undecoded query value.
"""

import base64
import http.client
import http.server
import threading
import urllib.parse

from background_http import BackgroundHTTPServer, ServesInBackground

_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


class Exchange:
    def __init__(self, method, target, operation, request_body, raw_message, request_headers):
        self.method = method
        self.target = target
        self.operation = operation
        self.request_body = request_body
        self.raw_message = raw_message
        self.request_headers = request_headers
        self.status = None
        self.response_headers = {}
        self.response_body = b""

    @property
    def content_type(self):
        return self.response_headers.get("content-type", "")

    def __repr__(self):
        return (f"<Exchange {self.method} {self.operation} req={len(self.request_body)}B "
                f"-> {self.status} {self.content_type} {len(self.response_body)}B>")


def _query_param(query, name):
    """The raw (still percent-encoded) value of `name` in a query string, or None."""
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if urllib.parse.unquote(key) == name:
            return value
    return None


class RecordingProxy(ServesInBackground):
    def __init__(self, upstream, timeout=30.0, rewrite_caps=None, overrides=None):
        """rewrite_caps: optional function bytes -> bytes applied to GetCACaps response bodies
        (to make a real server look like one that lacks a capability, e.g. POSTPKIOperation).
        overrides: {operation: (status, content_type, body)} answered here instead of upstream
        (an operation the real server lacks, such as GetNextCACert)."""
        self.rewrite_caps = rewrite_caps
        self.overrides = overrides or {}
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or u.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(f"upstream must be http on loopback, got {upstream!r}")
        self.upstream_host = u.hostname
        self.upstream_port = u.port or 80
        self.timeout = timeout
        self.exchanges = []
        self._lock = threading.Lock()
        self._server = None

    @property
    def port(self):
        return self._server.port

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self):
        """The SCEP URL through the proxy (path /scep, as scepserver wants)."""
        return f"{self.base_url}/scep"

    def clear(self):
        with self._lock:
            self.exchanges.clear()

    def by_operation(self, operation):
        with self._lock:
            return [e for e in self.exchanges if e.operation == operation]

    def _record(self, ex):
        with self._lock:
            self.exchanges.append(ex)

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                u = urllib.parse.urlsplit(self.path)
                operation = _query_param(u.query, "operation")
                operation = urllib.parse.unquote(operation) if operation is not None else None
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                raw_message = None
                recorded = body
                if self.command == "GET" and operation == "PKIOperation":
                    raw_message = _query_param(u.query, "message")
                    if raw_message is not None:
                        try:
                            recorded = base64.b64decode(urllib.parse.unquote(raw_message), validate=True)
                        except ValueError:
                            recorded = b""
                ex = Exchange(self.command, self.path, operation, recorded, raw_message,
                              {k.lower(): v for k, v in self.headers.items()})
                if operation in proxy.overrides:
                    status, content_type, data = proxy.overrides[operation]
                    ex.status, ex.response_headers, ex.response_body = status, {"content-type": content_type}, data
                    proxy._record(ex)
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {}
                if self.headers.get("Content-Type"):
                    headers["Content-Type"] = self.headers["Content-Type"]
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port,
                                                  timeout=proxy.timeout)
                try:
                    conn.request(self.command, self.path, body=body if self.command == "POST" else None,
                                 headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if operation == "GetCACaps" and proxy.rewrite_caps is not None:
                        data = proxy.rewrite_caps(data)
                    ex.status = resp.status
                    ex.response_headers = {k.lower(): v for k, v in resp.getheaders()}
                    ex.response_body = data
                except OSError as e:
                    ex.status = 502
                    data = f"recording proxy: upstream error: {e}\n".encode()
                    ex.response_body = data
                finally:
                    conn.close()
                proxy._record(ex)
                self.send_response(ex.status)
                if ex.status != 502 and "content-type" in ex.response_headers:
                    self.send_header("Content-Type", ex.response_headers["content-type"])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self._server = BackgroundHTTPServer(Handler, "recording-proxy")
        return self
