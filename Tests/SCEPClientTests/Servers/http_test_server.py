#!/usr/bin/env python3
"""HTTP test peer for SCEPClientTests (stdlib only). Listens on 127.0.0.1 and ::1 only.

Usage:
  http_test_server.py serve PROXY_LOG   -> prints "READY <v4 port> <v6 port> <proxy port>" and serves
  http_test_server.py freeport          -> prints a free TCP port on 127.0.0.1

Paths on the HTTP servers:
  /echo...          200, body "METHOD TARGET\n" + selected request headers + "\n" + request body
  /chunked          chunked reply with chunk extensions and trailers
  /http10           HTTP/1.0 reply without Content-Length (read to close)
  /error500         500 with a text body
  /slow             headers, then one body byte every 200 ms (a drip that must hit the total timeout)
  /redirect/N       N redirects (302, 307 alternating) then /echo; /redirect303 -> 303 to /echo
  /loop-a, /loop-b  redirect to each other
  /big              2 MiB body with Content-Length
  /bigchunked       2 MiB chunked body
The proxy port speaks CONNECT (tunnels) and absolute-form forwarding, only to loopback targets; it
appends one line per request to PROXY_LOG.
"""
import select
import socket
import socketserver
import sys
import threading
import time

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > 65536:
            return None, b""
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def parse_headers(lines):
    headers = {}
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers


class Handler(socketserver.BaseRequestHandler):
    def send(self, data):
        self.request.sendall(data)

    def reply(self, status, body, headers=(), version="HTTP/1.1"):
        head = "%s %s\r\n" % (version, status)
        head += "Content-Length: %d\r\n" % len(body)
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        head += "Connection: close\r\n\r\n"
        self.send(head.encode() + body)

    def handle(self):
        head, rest = read_head(self.request)
        if head is None:
            return
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = parse_headers(lines[1:])
        length = int(headers.get("content-length", "0"))
        body = rest
        while len(body) < length:
            chunk = self.request.recv(65536)
            if not chunk:
                break
            body += chunk
        path = target.split("?", 1)[0]
        if path.startswith("/echo"):
            out = ("%s %s\n" % (method, target)).encode()
            for name in ("host", "user-agent", "content-length", "connection", "x-via-proxy", "x-custom"):
                if name in headers:
                    out += ("%s: %s\n" % (name, headers[name])).encode()
            out += b"\n" + body
            self.reply("200 OK", out, [("Content-Type", "text/plain")])
        elif path == "/chunked":
            self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n")
            self.send(b"5;ext=1\r\nhello\r\n")
            time.sleep(0.05)
            self.send(b"1\r\n \r\n5;a;b=\"c\"\r\nworld\r\n0\r\nX-Trailer: done\r\n\r\n")
        elif path == "/http10":
            self.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the server closes")
        elif path == "/error500":
            self.reply("500 Internal Server Error", b"internal failure: database on fire", [("Content-Type", "text/plain")])
        elif path == "/slow":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            try:
                for _ in range(150):
                    self.send(b"x")
                    time.sleep(0.2)
            except OSError:
                pass
        elif path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            location = "/echo/final" if n <= 1 else "/redirect/%d" % (n - 1)
            self.reply("302 Found" if n % 2 == 0 else "307 Temporary Redirect", b"", [("Location", location)])
        elif path == "/redirect303":
            self.reply("303 See Other", b"", [("Location", "/echo/after303")])
        elif path == "/loop-a":
            self.reply("301 Moved Permanently", b"", [("Location", "/loop-b")])
        elif path == "/loop-b":
            self.reply("308 Permanent Redirect", b"", [("Location", "/loop-a")])
        elif path == "/big":
            self.reply("200 OK", b"B" * (2 * 1024 * 1024))
        elif path == "/bigchunked":
            self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            try:
                for _ in range(32):
                    self.send(b"10000\r\n" + b"C" * 65536 + b"\r\n")
                self.send(b"0\r\n\r\n")
            except OSError:
                pass
        else:
            self.reply("404 Not Found", b"no such test path", [("Content-Type", "text/plain")])


def relay(a, b):
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return


class ProxyHandler(socketserver.BaseRequestHandler):
    log_path = None
    lock = threading.Lock()

    def log(self, line):
        with self.lock, open(self.log_path, "a") as f:
            f.write(line + "\n")

    def handle(self):
        head, rest = read_head(self.request)
        if head is None:
            return
        lines = head.split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            host = host.strip("[]")
            self.log("CONNECT " + target)
            if host not in LOOPBACK:
                self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden")
                return
            upstream = socket.create_connection((host, int(port)), timeout=10)
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            relay(self.request, upstream)
            upstream.close()
            return
        if not target.startswith("http://"):
            self.log("NOT-ABSOLUTE " + lines[0])
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        self.log("FORWARD " + lines[0])
        authority, _, path = target[len("http://"):].partition("/")
        if authority.startswith("["):
            host, _, port = authority[1:].partition("]:")
        else:
            host, _, port = authority.partition(":")
        if host not in LOOPBACK:
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection((host, int(port or 80)), timeout=10)
        new_head = "%s /%s %s\r\n" % (method, path, version) + "\r\n".join(lines[1:]) + "\r\nX-Via-Proxy: yes\r\n\r\n"
        upstream.sendall(new_head.encode("latin-1") + rest)
        relay(self.request, upstream)
        upstream.close()


class V4Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class V6Server(V4Server):
    address_family = socket.AF_INET6


def main():
    if sys.argv[1] == "freeport":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        return
    ProxyHandler.log_path = sys.argv[2]
    v4 = V4Server(("127.0.0.1", 0), Handler)
    v6 = V6Server(("::1", 0), Handler)
    proxy = V4Server(("127.0.0.1", 0), ProxyHandler)
    for server in (v4, v6, proxy):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY %d %d %d" % (v4.server_address[1], v6.server_address[1], proxy.server_address[1]), flush=True)
    # Exit when the test closes our stdin (or is killed), so no server outlives its test.
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
