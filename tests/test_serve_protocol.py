"""The Open Inference Protocol with its real client (tritonclient[http]) and schemathesis
fuzzing the server against its published OpenAPI document."""

import numpy as np
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from digitcli.inference import Classifier
from digitcli.preprocess import to_model_input
from digitcli.serve.app import create_app

from servers import Server


@pytest.fixture(scope="module")
def server(trained):
    s = Server(trained[1])
    yield s
    s.stop()


def test_tritonclient_with_its_defaults(server, trained, mnist):
    weights = trained[1]
    name, client = weights.stem, triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert client.is_model_ready(name)
    meta = client.get_model_metadata(name)
    version = meta["versions"][0]
    assert client.is_model_ready(name, version) and not client.is_model_ready(name, "nope")
    assert client.get_model_metadata(name, version)["inputs"][0]["name"] == "images"
    x = to_model_input(mnist["x_test"][:5])
    expected = Classifier(weights).predict_tensor(x)
    for binary_in in (True, False):
        for outputs in (None, [triton.InferRequestedOutput("probabilities", binary_data=False)],
                        [triton.InferRequestedOutput("probabilities", binary_data=True)]):
            tensor = triton.InferInput("images", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary_in)
            for model_version in ("", version):
                result = client.infer(name, [tensor], model_version=model_version, outputs=outputs, request_id="r7")
                np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
                assert result.get_response()["id"] == "r7"
    with pytest.raises(triton.InferenceServerException, match="images"):
        client.infer(name, [triton.InferInput("other", [1, 28, 28, 1], "FP32").set_data_from_numpy(x[:1])])
    client.close()


@pytest.fixture(scope="module")
def app(trained):
    return create_app(trained[1], watch=False)


def test_openapi_document_is_served_and_names_every_route(app):
    with TestClient(app) as c:
        doc = c.get("/openapi.json").json()
    paths = set(doc["paths"])
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready",
                 "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer", "/predict", "/explain"):
        assert path in paths


def test_schemathesis_fuzzes_the_server_against_its_openapi_document(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = []
    for operation in schema.get_all_operations():
        operation = operation.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            # every check but "schema-valid data is accepted": what makes an image or a tensor of
            # shape [N, 28, 28, 1] valid is beyond a schema, and those requests rightly get a 4xx
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:  # collected, so one report names every failing operation
            failures.append(f"{operation.label}: {str(exc)[:500]}")
    assert not failures, "\n".join(failures)
