"""The service's OpenAPI schema declares what `/v1/stylize` really returns: an image, not JSON."""

from styljax.infer import serve_app


def test_stylize_200_is_an_image(tiny_models):
    from fastapi.testclient import TestClient

    with TestClient(serve_app.create_app(serve_app.load_models(tiny_models))) as client:
        schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/v1/stylize"]["post"]["responses"]["200"]
    assert set(ok["content"]) == {"image/png", "image/jpeg"}, ok
    assert "application/json" not in ok["content"]
