"""Run OpenStack Placement's own WSGI application on a loopback port, for the tests.

Started with the interpreter of the separate Placement venv (scripts/setup-host
makes .venv-placement), never imported by the test process:

    python placement_app.py CONFIG_DIR

prints "listening PORT" once the socket is bound (port chosen by the kernel).
"""

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # placement logs each request itself
        pass


def main() -> None:
    os.environ["OS_PLACEMENT_CONFIG_DIR"] = sys.argv[1]
    from placement.wsgi.api import application  # reads placement.conf from that directory

    server = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
    print(f"listening {server.server_port}", flush=True)
    # Placement logs to stdout too; the parent reads only the first line, so a pipe left
    # to fill would stall the server: everything after goes to stderr (the log file).
    os.dup2(2, 1)
    server.serve_forever()


if __name__ == "__main__":
    main()
