"""A ThreadingHTTPServer on an ephemeral 127.0.0.1 port, served from a daemon thread: the
lifecycle the test servers (recording proxy, hostile CA) share."""
import http.server
import threading


class BackgroundHTTPServer:
    def __init__(self, handler_class, name, poll_interval=0.5):
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name=name, daemon=True)
        self._thread.start()

    @property
    def port(self):
        return self._server.server_address[1]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class ServesInBackground:
    """For a test server whose start() sets self._server to a BackgroundHTTPServer: stop() and
    use as a context manager."""
    _server = None

    def stop(self):
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
