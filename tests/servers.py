"""A `digitcli serve` child process on a free 127.0.0.1 port, for the tests that need a real server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A `digitcli serve` child process; `ready_seconds` is its time from launch to a ready answer."""

    def __init__(self, weights, *args, env=None):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        start = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "digitcli", "serve", "--weights", str(weights),
                                      "--port", str(self.port), *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        deadline = start + 20
        while time.perf_counter() < deadline:
            try:
                if self.get("/v2/health/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.02)
        else:
            self.stop()
            raise AssertionError(f"server did not start: {self.proc.stderr.read()}")
        self.ready_seconds = time.perf_counter() - start

    def request(self, path, data=None, headers=None, timeout=10):
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def get(self, path, **kw):
        return self.request(path, **kw)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err
