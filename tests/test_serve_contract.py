"""The OpenAPI document is the contract (issue #36): schemathesis generates requests from
`/openapi.json` (schema-valid and schema-violating ones, a fixed seed, a bounded number each) and
runs all its checks on the answers: no 5xx, every status code, content type, header and body as
documented, schema-valid data accepted, invalid data rejected. The app is the one `styljax serve`
builds, with its default settings (`ServeConfig()`), on tiny random models, called in-process.

Positive data (valid by the document) may still be refused with 400: the document cannot say that
the `image` bytes must decode or that `style` must name one of the model's styles, so 400 is among
`positive_data_acceptance`'s expected answers; every other check is as schemathesis ships it.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from styljax.infer import serve_app  # noqa: E402

TOKEN = "contract-test-admin-token-0123456789"
EXAMPLES = 12


@pytest.fixture(scope="module")
def app(tiny_models, tiny_arbitrary):
    import dataclasses

    from styljax.infer.serving import ServeConfig

    models = serve_app.load_models({**tiny_models, "arbitrary": tiny_arbitrary})  # it takes paintings
    # the defaults, with an admin token so the style endpoints answer past 403
    app = serve_app.create_app(models, dataclasses.replace(ServeConfig(), admin_token=TOKEN))
    yield app
    app.state.batcher.close()


@pytest.fixture(scope="module")
def api_schema(app):
    config = schemathesis.config.SchemathesisConfig.from_dict({
        "seed": 36,
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "503"]}},
    })
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_api_contract(api_schema, mode):
    """Every operation, `EXAMPLES` generated requests each, all of schemathesis's checks."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable

    from schemathesis.generation.modes import GenerationMode

    ops = [r.ok() for r in api_schema.get_all_operations()]
    assert len(ops) >= 7
    for op in ops:
        @given(case=op.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def check(case):
            if case.method == "DELETE":  # keep the models' styles for the other cases
                case.path_parameters["style"] = "not-a-style"
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})

        try:
            check()
        except Unsatisfiable:  # nothing to break in a request without parameters or body
            assert mode == "negative" and op.path.rstrip("/") in ("/healthz", "/metrics", "/v1/styles"), op.path


def test_document_lists_every_answer(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
    stylize = doc["paths"]["/v1/stylize"]["post"]
    assert {"200", "400", "404", "408", "413", "415", "422", "500", "503", "504"} <= set(stylize["responses"])
    assert set(stylize["responses"]["200"]["content"]) == {"image/png", "image/jpeg"}
    for code, r in stylize["responses"].items():
        if code != "200":
            assert r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    props = doc["components"]["schemas"][stylize["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert props["style"]["minLength"] == 1
    assert (props["size"]["minimum"], props["size"]["maximum"]) == (16, 1024)
    assert (props["strength"]["minimum"], props["strength"]["maximum"]) == (0, 1)
    assert props["format"]["enum"] == ["png", "jpeg"]
    thumb = doc["paths"]["/v1/models/{model}/styles/{style}/thumbnail.jpg"]["get"]["responses"]
    assert set(thumb["200"]["content"]) == {"image/jpeg"} and "404" in thumb
    admin = doc["paths"]["/v1/models/{model}/styles"]["post"]["responses"]
    assert {"201", "401", "403", "409", "413", "415"} <= set(admin)
    # the documented 415 is real
    with TestClient(app) as client:
        r = client.post("/v1/stylize", json={"style": "red"})
    assert r.status_code == 415 and r.json()["error"].startswith("Content-Type")
