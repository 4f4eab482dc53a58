"""`digitcli serve`'s API through Starlette's test client: answers, errors, v2, metrics, token."""

import struct
import zlib

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from data_tools.drawings import make_drawing
from digitcli.inference import Classifier
from digitcli.predict import predict_paths
from digitcli.preprocess import to_model_input
from digitcli.serve.app import create_app


@pytest.fixture(scope="module")
def weights(trained):
    return trained[1]


@pytest.fixture(scope="module")
def client(weights):
    with TestClient(create_app(weights, watch=False)) as c:
        yield c


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def png_header_only(width, height):
    """A PNG that declares width x height and holds no pixels: what a decoder must refuse unread."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def test_answers_equal_the_cli_for_the_same_files(client, weights, mnist, tmp_path):
    rng = np.random.default_rng(1)
    files = [tmp_path / "mnist.png", tmp_path / "drawing.png", tmp_path / "photo.jpg"]
    cv2.imwrite(str(files[0]), mnist["x_test"][0])
    cv2.imwrite(str(files[1]), make_drawing(mnist["x_test"][1], rng))
    cv2.imwrite(str(files[2]), cv2.cvtColor(255 - cv2.resize(mnist["x_test"][2], (200, 200)), cv2.COLOR_GRAY2BGR))
    expected = [p.as_json("filename") for p in predict_paths([str(f) for f in files], weights, top_k=3)]
    for f, want in zip(files, expected):
        response = client.post("/predict?top_k=3", content=f.read_bytes(), headers={"Content-Type": "image/png"})
        assert response.status_code == 200, response.text
        got = response.json()["predictions"][0]
        assert got["class"] == want["class"] and got["top_k"] == want["top_k"]
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
    multipart = [("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]
    answer = client.post("/predict?top_k=3", files=multipart).json()
    assert answer["model"] == weights.stem
    assert [p["filename"] for p in answer["predictions"]] == [f.name for f in files]
    assert [p["class"] for p in answer["predictions"]] == [w["class"] for w in expected]


def test_a_bad_image_among_good_ones_gets_its_error_in_place(client, mnist):
    parts = [("f", ("a.png", png(mnist["x_test"][0]), "image/png")), ("f", ("b.txt", b"hello", "text/plain")),
             ("f", ("c.png", png(mnist["x_test"][1]), "image/png"))]
    response = client.post("/predict", files=parts)
    assert response.status_code == 200
    b = response.json()["predictions"][1]
    assert set(b) == {"filename", "error"} and b["filename"] == "b.txt" and b["error"].startswith("not an image file")


def test_the_input_the_model_saw_comes_back_on_request(client, mnist):
    answer = client.post("/predict?input=1", content=png(mnist["x_test"][0])).json()["predictions"][0]
    data = answer["input_png"].split(",", 1)[1]
    import base64
    seen = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert seen.shape == (28, 28) and np.array_equal(seen, mnist["x_test"][0])


@pytest.mark.parametrize("body, content_type, status, message", [
    (b"not an image at all", "image/png", 415, "not an image"),
    (b"", "image/png", 422, "empty"),
    (png(np.full((280, 280), 255, np.uint8)), "image/png", 422, "no ink"),  # a blank canvas
    (png_header_only(30000, 30000), "image/png", 413, "30000x30000"),
    ("truncated", "image/png", 422, "truncated"),
    (b"{}", "text/plain", 415, "send an image"),
    (b"--x\r\nbroken", "multipart/form-data; boundary=x", 400, "multipart"),
])
def test_bad_input_gets_a_json_error_with_the_right_status(client, mnist, body, content_type, status, message):
    if body == "truncated":
        body = png(cv2.resize(mnist["x_test"][0], (200, 200)))[:300]
    response = client.post("/predict", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert client.get("/v2/health/ready").status_code == 200  # and it keeps serving


def test_bodies_over_the_limit_are_refused_also_when_chunked(weights):
    with TestClient(create_app(weights, max_upload_mb=0.01, watch=False)) as small:
        big = b"x" * 20000
        response = small.post("/predict", content=big, headers={"Content-Type": "image/png"})
        assert response.status_code == 413 and "limit" in response.json()["error"]
        chunks = (b"x" * 1000 for _ in range(20))  # no Content-Length: counted as it arrives
        response = small.post("/predict", content=chunks, headers={"Content-Type": "image/png"})
        assert response.status_code == 413


def test_query_and_routing_errors(client):
    assert client.post("/predict?top_k=0", content=b"x").status_code == 400
    assert client.post("/predict?top_k=abc", content=b"x").json()["error"].startswith("top_k must be")
    response = client.get("/nowhere")
    assert response.status_code == 404 and "error" in response.json()
    assert client.get("/predict").status_code == 405


def test_open_inference_protocol(client, weights, mnist):
    name = weights.stem
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get(f"/v2/models/{name}").json()
    assert meta["name"] == name and meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]
    assert meta["parameters"]["class_names"] == [str(d) for d in range(10)]
    assert len(meta["parameters"]["h5_sha256"]) == 64 and meta["parameters"]["best_epoch"] >= 1
    x = to_model_input(mnist["x_test"][:3])
    request = {"id": "r1", "inputs": [{"name": "images", "shape": [3, 28, 28, 1], "datatype": "FP32",
                                       "data": x.ravel().tolist()}]}
    answer = client.post(f"/v2/models/{name}/infer", json=request).json()
    assert answer["model_name"] == name and answer["id"] == "r1"
    out = answer["outputs"][0]
    assert out["name"] == "probabilities" and out["datatype"] == "FP32" and out["shape"] == [3, 10]
    expected = Classifier(weights).predict_tensor(x)
    np.testing.assert_allclose(np.reshape(out["data"], (3, 10)), expected, atol=1e-6)
    request["inputs"][0]["data"] = x.tolist()  # nested as the shape: also allowed
    assert client.post(f"/v2/models/{name}/infer", json=request).status_code == 200


@pytest.mark.parametrize("change, message", [
    (lambda r: r["inputs"][0].update(shape=[1, 28, 28]), "shape must be"),
    (lambda r: r["inputs"][0].update(datatype="INT8"), "datatype must be FP32"),
    (lambda r: r["inputs"][0].update(data=[0.0] * 10), "needs 784"),
    (lambda r: r["inputs"][0].update(data=["a"] * 784), "must be numbers"),
    (lambda r: r["inputs"][0].pop("data"), "lacks data"),
    (lambda r: r.update(inputs=[]), "one tensor"),
])
def test_v2_request_errors(client, weights, change, message):
    request = {"inputs": [{"name": "images", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0.0] * 784}]}
    change(request)
    response = client.post(f"/v2/models/{weights.stem}/infer", json=request)
    assert response.status_code == 400 and message in response.json()["error"]
    assert client.post(f"/v2/models/{weights.stem}/infer", content=b"{not json").status_code == 400
    assert client.get("/v2/models/other").status_code == 404


def metric(text, prefix):
    """The value of the metric line starting with `prefix` (0 when absent)."""
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


def test_metrics_count_requests_latency_and_images(client, mnist):
    names = ('digitcli_requests_total{endpoint="/predict",status="200"}', "digitcli_images_predicted_total",
             'digitcli_request_seconds_count{endpoint="/predict"}')
    before = [metric(client.get("/metrics").text, n) for n in names]  # counters are process-wide: compare
    client.post("/predict", files=[("f", (f"{i}.png", png(mnist["x_test"][i]), "image/png")) for i in range(4)])
    client.post("/predict", content=png(mnist["x_test"][5]))
    after = [metric(client.get("/metrics").text, n) for n in names]
    assert [b - a for a, b in zip(before, after)] == [2, 5, 2]


def test_token_guards_everything_but_health_and_the_page(weights, mnist):
    with TestClient(create_app(weights, token="s3cret", watch=False)) as c:
        body = png(mnist["x_test"][0])
        assert c.post("/predict", content=body).status_code == 401
        wrong = c.post("/predict", content=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]
        for scheme in ("Bearer", "bearer", "BEARER"):  # the scheme is case-insensitive, the token is not
            assert c.post("/predict", content=body, headers={"Authorization": f"{scheme} s3cret"}).status_code == 200
        assert c.post("/predict", content=body, headers={"Authorization": "Bearer S3CRET"}).status_code == 401
        for path in ("/metrics", f"/v2/models/{weights.stem}"):
            assert c.get(path).status_code == 401
        for path in ("/v2/health/live", "/v2/health/ready", "/", "/static/draw.js"):
            assert c.get(path).status_code == 200, path


def test_page_is_served_small_and_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    total = len(page.content)
    for name in ("draw.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        total += len(asset.content)
        assert "http://" not in asset.text and "https://" not in asset.text  # nothing fetched from elsewhere
    assert "https://" not in page.text and total < 50_000
    assert "touch-action: none" in client.get("/static/style.css").text


def test_batching_shares_model_calls_and_gives_the_same_answers(weights, mnist, monkeypatch):
    import asyncio

    import httpx2

    from digitcli.serve import batching

    calls = []
    app = create_app(weights, watch=False, batch_ms=20)
    original = batching.Batcher.flush

    def counting_flush(self):
        calls.append(len(self.waiting))
        original(self)

    async def run():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as c:
            bodies = [png(mnist["x_test"][i]) for i in range(8)]
            responses = await asyncio.gather(*(c.post("/predict?top_k=2", content=b) for b in bodies))
            return [r.json()["predictions"][0] for r in responses]

    monkeypatch.setattr(batching.Batcher, "flush", counting_flush)
    answers = asyncio.run(run())
    assert sum(calls) == 8 and len(calls) < 8  # requests waited for each other
    with TestClient(create_app(weights, watch=False)) as unbatched:
        for i, answer in enumerate(answers):
            alone = unbatched.post("/predict?top_k=2", content=png(mnist["x_test"][i])).json()["predictions"][0]
            assert answer["class"] == alone["class"] and answer["confidence"] == pytest.approx(alone["confidence"], abs=1e-5)


def test_explain_gives_the_answer_each_layer_and_where_it_looked(client, weights, mnist):
    import base64

    image = 255 - cv2.resize(mnist["x_test"][3], (140, 140))
    response = client.post("/explain", content=png(image), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = client.post("/predict?top_k=10", content=png(image), headers={"Content-Type": "image/png"}).json()
    assert answer["prediction"]["class"] == expected["predictions"][0]["class"]
    assert answer["prediction"]["top_k"] == expected["predictions"][0]["top_k"]
    assert [layer["name"] for layer in answer["layers"]] == ["conv 1", "conv 2", "dense 1"]

    def decoded(url):
        assert url.startswith("data:image/png;base64,")
        return cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)

    conv1, conv2 = decoded(answer["layers"][0]["png"]), decoded(answer["layers"][1]["png"])
    assert conv1.shape[:2] == (24, 16 * 24 + 15 * 3) and conv1.std() > 10  # 16 maps of 24x24 in a row, not blank
    assert conv2.shape[:2] == (2 * 8 + 1, 16 * 8 + 15)  # 32 maps of 8x8, in rows of 16
    heat = decoded(answer["looked"]["png"])
    assert heat.shape == (28, 28, 4) and heat[..., 3].max() > 150 and answer["looked"]["method"] == "HiResCAM"
    assert all(layer["about"].endswith(".") for layer in answer["layers"])


@pytest.mark.parametrize("body, content_type, status, message", [
    (png(np.full((40, 40), 255, np.uint8)), "image/png", 422, "no ink"),
    (b"not an image", "image/png", 415, ""),
])
def test_explain_errors(client, body, content_type, status, message):
    response = client.post("/explain", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status and message in response.json()["error"]


def test_explain_takes_one_image(client, mnist):
    two = [("files", (f"{i}.png", png(mnist["x_test"][i]), "image/png")) for i in range(2)]
    response = client.post("/explain", files=two)
    assert response.status_code == 400 and "one image" in response.json()["error"]
