"""Hostile input to `digitcli serve`: the decoder and the v2 parser fuzzed, every known bad
input a JSON 4xx, bounded memory and a responsive event loop under the heaviest requests,
slow headers cut off, and connections that survive an internal error."""

import http.client
import json
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

import hostile
from digitcli.images import ImageReadError, decode_image
from digitcli.serve import protocol
from digitcli.serve.app import create_app
from digitcli.serve.uploads import ApiError, DECODE_BUDGET_BYTES, to_inputs
from digitcli.serve.v2 import parse_request

from servers import HOST, Server

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def seeds(mnist):
    digit = mnist["x_test"][0]
    return [png(digit), cv2.imencode(".jpg", cv2.resize(digit, (300, 300)))[1].tobytes(),
            cv2.imencode(".webp", digit)[1].tobytes(), cv2.imencode(".bmp", digit)[1].tobytes(),
            cv2.imencode(".tif", digit.astype(np.float32) / 255)[1].tobytes(),
            cv2.imencode(".pfm", digit.astype(np.float32) / 255)[1].tobytes()]


@pytest.fixture(scope="module")
def client(trained):
    with TestClient(create_app(trained[1], watch=False)) as c:
        yield c


@pytest.fixture(scope="module")
def seed_images(mnist):
    return seeds(mnist)


@FUZZ
@given(data=st.data())
def test_decoder_fuzzed_with_mutated_images_raises_only_its_own_errors(seed_images, data):
    original = bytearray(data.draw(st.sampled_from(seed_images)))
    for _ in range(data.draw(st.integers(1, 8))):  # overwrite, cut or insert bytes
        at = data.draw(st.integers(0, len(original) - 1))
        kind = data.draw(st.sampled_from(["set", "cut", "insert"]))
        if kind == "set":
            original[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del original[at:at + data.draw(st.integers(1, 64))]
        else:
            original[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        if not original:
            break
    inputs = to_inputs([("f", bytes(original))])  # decode and preprocess: never an unexpected exception
    assert len(inputs.images) + len(inputs.failures) == 1
    for status, message in inputs.failures.values():
        assert 400 <= status < 500 and message


@FUZZ
@given(st.binary(max_size=2000))
def test_decoder_fuzzed_with_random_bytes(data):
    try:
        decode_image(data)
    except ImageReadError:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                    max_leaves=30)


def valid_request(count=1):
    return {"id": "x", "inputs": [{"name": "images", "shape": [count, 28, 28, 1], "datatype": "FP32",
                                   "data": [0.5] * (784 * count)}]}


@FUZZ
@given(data=st.data())
def test_v2_parser_fuzzed_answers_400_or_parses(data):
    request = valid_request()
    where = data.draw(st.sampled_from(["root", "inputs", "tensor", "shape", "data", "parameters", "outputs"]))
    value = data.draw(JSON)
    if where == "root":
        request = value
    elif where == "inputs":
        request["inputs"] = value
    elif where == "tensor":
        request["inputs"][0][data.draw(st.sampled_from(["name", "shape", "datatype", "data", "parameters"]))] = value
    elif where == "shape":
        request["inputs"][0]["shape"][data.draw(st.integers(0, 3))] = value
    elif where == "data":
        request["inputs"][0]["data"][data.draw(st.integers(0, 783))] = value
    else:
        request[where] = value
    body = json.dumps(request, allow_nan=True).encode()
    header = data.draw(st.none() | st.sampled_from(["0", "5", str(len(body)), "-1", "x", str(len(body) + 1)]))
    try:
        parsed = parse_request(body, header)
    except ApiError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert parsed.x.dtype == np.float32 and parsed.x.shape[1:] == (28, 28, 1) and np.isfinite(parsed.x).all()


def tiff(image):
    return cv2.imencode(".tif", image)[1].tobytes()


@pytest.mark.parametrize("name, body", [
    ("NaN PFM", cv2.imencode(".pfm", np.full((28, 28), np.nan, np.float32))[1].tobytes()),
    ("inf float TIFF", tiff(np.full((40, 40), np.inf, np.float32))),
    ("int16 3-channel TIFF", tiff(np.zeros((40, 40, 3), np.int16))),
    ("float64 3-channel TIFF", tiff(np.zeros((40, 40, 3), np.float64))),
    ("all-black 28x28 PNG", png(np.zeros((28, 28), np.uint8))),
])
def test_bad_images_get_a_json_4xx_alone_and_their_own_error_among_good_ones(client, mnist, name, body):
    response = client.post("/predict", content=body, headers={"Content-Type": "application/octet-stream"})
    assert 400 <= response.status_code < 500 and response.json()["error"], name
    parts = [("f", ("good.png", png(mnist["x_test"][0]), "image/png")), ("f", ("bad", body, "image/png"))]
    answer = client.post("/predict", files=parts)
    assert answer.status_code == 200
    good, bad = answer.json()["predictions"]
    assert "class" in good and "error" in bad and "class" not in bad


def test_blank_means_no_ink_everywhere(trained, tmp_path):
    from digitcli.predict import predict_paths

    path = tmp_path / "black.png"
    path.write_bytes(png(np.zeros((28, 28), np.uint8)))
    assert predict_paths([str(path)], trained[1])[0].error.startswith("no ink")


@pytest.mark.parametrize("query", ["top_k=\u00b2", "top_k=" + "9" * 5000, "top_k=-1", "top_k=1.5"])
def test_odd_top_k_is_a_400(client, mnist, query):
    response = client.post(f"/predict?{query}", content=png(mnist["x_test"][0]))
    assert response.status_code == 400 and "top_k" in response.json()["error"]


@pytest.mark.parametrize("body", [
    b'{"inputs": [{"name": "images", "shape": [true, 28, 28, 1], "datatype": "FP32", "data": [0]}]}',
    b'{"inputs": [{"name": "images", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [1' + b"0" * 400 + b"]}]}",
    b'{"inputs": [{"name": "images", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [1e400]}]}',
    b'{"inputs": [{"name": "images", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [NaN]}]}',
    b'{"inputs": [{"name": "images", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": ' + b"[" * 2000 + b"]" * 2000 + b"}]}",
    b'[' * 100_000,
])
def test_v2_bodies_that_crashed_the_server_are_400(client, trained, body):
    response = client.post(f"/v2/models/{trained[1].stem}/infer", content=body)
    assert response.status_code == 400 and response.json()["error"]


def peak_rss_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def post(server, path, body, content_type, headers=None):
    start = time.perf_counter()
    status, answer = server.request(path, body, {"Content-Type": content_type, **(headers or {})}, timeout=60)
    return status, answer, time.perf_counter() - start


def test_no_request_within_the_upload_limit_bloats_or_stalls_the_server(trained, mnist):
    server = Server(trained[1])
    pid = server.proc.pid
    try:
        for name, (body, content_type, headers) in [
                ("40 WebP bombs", hostile.webp_bombs(40)), ("16-bit PNG at the budget", hostile.png_bomb_16bit()),
                ("8 photo-sized PNGs", hostile.large_pngs(mnist["x_test"], 8))]:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := RSS now
            base = peak_rss_mb(pid)
            status, answer, seconds = post(server, "/predict", body, content_type, headers)
            assert 200 <= status < 500 and "predictions" in answer, name
            assert peak_rss_mb(pid) - base <= 300, f"{name}: +{peak_rss_mb(pid) - base:.0f} MB"
            assert seconds <= 2.0, f"{name}: {seconds:.2f} s"
        assert DECODE_BUDGET_BYTES <= 150 * 2**20  # decoders may take twice the budget: within 300 MB
    finally:
        server.stop()


def test_health_checks_answer_while_a_heavy_request_runs(trained, mnist):
    server = Server(trained[1])
    body, content_type, _ = hostile.many_pngs(mnist["x_test"], 8000)
    latencies, running = [], True

    def probe():
        while running:
            start = time.perf_counter()
            assert server.get("/v2/health/live", timeout=10)[0] == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)

    try:
        thread = threading.Thread(target=probe)
        thread.start()
        time.sleep(0.1)
        status, answer, seconds = post(server, "/predict", body, content_type)
        running = False
        thread.join()
        assert status == 200 and len(answer["predictions"]) == 8000
        assert len(latencies) >= 5 and max(latencies) < 0.25, f"health waited {max(latencies):.3f} s"
    finally:
        server.stop()


def test_slow_headers_are_cut_off(trained, monkeypatch):
    server = Server(trained[1])
    try:
        sock = socket.create_connection((HOST, server.port))
        sock.settimeout(1)
        start, closed = time.perf_counter(), False
        for byte in b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        waited = time.perf_counter() - start
        sock.close()
        assert closed and protocol.HEADER_SECONDS - 1 <= waited <= protocol.HEADER_SECONDS + 5, waited
        assert server.get("/v2/health/live")[0] == 200
    finally:
        server.stop()


def test_an_internal_error_is_a_json_500_and_the_connection_stays_usable(trained, mnist):
    import uvicorn

    app = create_app(trained[1], watch=False, batch_ms=0)
    config = uvicorn.Config(app, host=HOST, port=0, log_level="critical", http=protocol.HeaderDeadlineProtocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        holder = app.state.model

        class Broken:
            def __getattr__(self, name):
                raise RuntimeError("broken on purpose")

        good = holder.classifier
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        holder.classifier = Broken()
        connection.request("POST", "/predict", body=png(mnist["x_test"][0]), headers={"Content-Type": "image/png"})
        response = connection.getresponse()
        assert response.status == 500 and "RuntimeError" in json.loads(response.read())["error"]
        holder.classifier = good
        for _ in range(3):  # the same keep-alive connection goes on working
            connection.request("GET", "/v2/health/live")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {"live": True}
        connection.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("change", [
    lambda meta: meta.pop("class_names"), lambda meta: meta.update(class_names=["a", "b"]),
    lambda meta: meta.update(temperature=0), lambda meta: meta.update(temperature="x"),
    lambda meta: meta.update(class_names="0123456789"),
])
def test_the_watcher_never_switches_to_a_bad_sidecar_and_survives_it(copy_model, change, caplog):
    import asyncio

    from digitcli import artifacts
    from digitcli.serve.model import ModelHolder

    holder = ModelHolder(copy_model)
    files, good = holder.classifier.files, holder.classifier
    sidecar = files.onnx_meta.read_text()
    meta = json.loads(sidecar)
    change(meta)
    artifacts.write_json(files.onnx_meta, meta)

    async def watch_briefly():
        task = asyncio.create_task(holder.watch(every=0.05))
        await asyncio.sleep(0.4)
        assert not task.done()  # the error did not end the watch
        files.onnx_meta.write_text(sidecar)  # good files again: taken
        await asyncio.sleep(0.4)
        task.cancel()

    asyncio.run(watch_briefly())
    assert "not switching" in caplog.text
    assert holder.classifier is not good and holder.classifier.class_names == good.class_names
