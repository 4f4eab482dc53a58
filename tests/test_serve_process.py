"""`digitcli serve` as a real process on a free 127.0.0.1 port: start-up, SIGTERM, workers,
token, slow clients and the switch to new weights."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest

from digitcli import artifacts
from digitcli.inference import Classifier
from digitcli.serve import run as serve_run
from digitcli.training import TrainConfig, train

from servers import HOST, Server, free_port


@pytest.fixture
def digit_png(mnist):
    return cv2.imencode(".png", mnist["x_test"][0])[1].tobytes()


def test_starts_fast_prints_where_and_stops_cleanly_on_sigterm(trained, digit_png):
    weights = trained[1]
    server = Server(weights)
    try:
        assert server.ready_seconds < 2.0, f"ready after {server.ready_seconds:.2f} s"
        expected = '"class":"%s"' % Classifier(weights).class_names[int(
            Classifier(weights).predict(cv2.imdecode(np.frombuffer(digit_png, np.uint8), 0)[None]).argmax())]
        status, answer = server.request("/predict", digit_png, {"Content-Type": "image/png"})
        assert status == 200 and f'"class":"{answer["predictions"][0]["class"]}"' == expected
        # a request in flight when SIGTERM arrives still gets its answer
        sock = socket.create_connection((HOST, server.port))
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     + f"Content-Length: {len(digit_png)}\r\n\r\n".encode() + digit_png[:50])
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(digit_png[50:])
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            reply += chunk
        reply = reply.decode()
        sock.close()
        assert reply.startswith("HTTP/1.1 200") and expected in reply
    finally:
        code, out, err = server.stop()
    assert code in (0, -signal.SIGTERM), err  # uvicorn re-raises the signal once it has shut down cleanly
    assert f"Serving {weights.stem}" in out and f"http://{HOST}:{server.port}/" in out and "Traceback" not in err


def test_two_workers_share_the_port_and_the_metrics(trained, digit_png):
    server = Server(trained[1], "--workers", "2")
    try:
        for _ in range(40):
            assert server.request("/predict", digit_png, {"Content-Type": "image/png"})[0] == 200
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        line = next(x for x in text.splitlines() if x.startswith('digitcli_requests_total{endpoint="/predict"'))
        assert float(line.split()[-1]) == 40  # summed over both processes
        workers = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) >= 2
    finally:
        assert server.stop()[0] in (0, -signal.SIGTERM)


def test_token_from_the_environment(trained, digit_png):
    server = Server(trained[1], env={"DIGITCLI_TOKEN": "abc"})
    try:
        assert server.request("/predict", digit_png)[0] == 401
        assert server.request("/predict", digit_png, {"Authorization": "Bearer abc", "Content-Type": "image/png"})[0] == 200
        assert server.get("/v2/health/live")[0] == 200
    finally:
        server.stop()


def test_warning_without_token_off_loopback(trained, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # no socket is opened
    said, warned = [], []
    serve_run.serve(trained[1], host="192.0.2.10", say=said.append, warn=warned.append)
    assert "without --token" in warned[0]
    serve_run.serve(trained[1], host="192.0.2.10", token="t", say=said.append, warn=warned.append)
    serve_run.serve(trained[1], host="::1", say=said.append, warn=warned.append)
    assert len(warned) == 1 and serve_run.is_loopback("localhost") and serve_run.is_loopback("127.0.0.5")


def test_missing_export_is_a_one_line_error(copy_model, tmp_path):
    artifacts.ModelFiles(copy_model).onnx.unlink()
    out = subprocess.run([sys.executable, "-m", "digitcli", "serve", "--weights", str(copy_model), "--port",
                          str(free_port())], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "digitcli predict" in out.stderr and "Traceback" not in out.stderr


def test_a_slow_client_does_not_block_others(trained, digit_png):
    server = Server(trained[1])
    try:
        slow = socket.create_connection((HOST, server.port))
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")  # then nothing
        start = time.perf_counter()
        for _ in range(20):
            assert server.request("/predict", digit_png, {"Content-Type": "image/png"}, timeout=2)[0] == 200
        assert time.perf_counter() - start < 5
        slow.close()
    finally:
        server.stop()


def test_switches_to_new_weights_without_a_failed_request(trained, digits_tree, copy_model, tmp_path, digit_png):
    other = tmp_path / "other" / "digits.h5"
    other.parent.mkdir()
    train(TrainConfig(data_dir=str(digits_tree), epochs=1, batch_size=64, weights=str(other), seed=5),
          say=lambda line: None)
    server = Server(copy_model)
    name = copy_model.stem
    failures, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            status, _ = server.request("/predict", digit_png, {"Content-Type": "image/png"})
            if status != 200:
                failures.append(status)

    try:
        before = server.get(f"/v2/models/{name}")[1]["parameters"]["h5_sha256"]
        thread = threading.Thread(target=traffic)
        thread.start()
        time.sleep(0.3)
        new = artifacts.ModelFiles(other)
        target = artifacts.ModelFiles(copy_model)
        # as `train --force` does: the .h5 first, the export a little later, each replaced atomically
        for src, dst in ((new.h5, target.h5), (new.onnx, target.onnx), (new.onnx_meta, target.onnx_meta)):
            shutil.copy(src, str(dst) + ".tmp")
            os.replace(str(dst) + ".tmp", dst)
            if dst == target.h5:
                time.sleep(0.7)  # the server must keep the old model meanwhile: the export is stale
                assert server.get(f"/v2/models/{name}")[1]["parameters"]["h5_sha256"] == before
        replaced = time.perf_counter()
        expected = artifacts.sha256(new.h5)
        while server.get(f"/v2/models/{name}")[1]["parameters"]["h5_sha256"] != expected:
            assert time.perf_counter() - replaced < 2.0, "no switch within 2 s"
            time.sleep(0.05)
        stop.set()
        thread.join()
        assert not failures
    finally:
        stop.set()
        server.stop()
