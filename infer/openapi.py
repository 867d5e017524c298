"""The service's OpenAPI document as its contract: every status code, content type, header and field
constraint `styljax serve` answers with (issue #36).

FastAPI's generated document knows only the endpoints' signatures: it lists 200 and a 422 with its
own validation schema, where the service answers every error as JSON `{"error": "..."}` with the
codes below, thumbnails as `image/jpeg`, and checks its form fields by hand (so that a bad value is a
400 naming the field). `install(app, cfg)` completes the document from this one table, so a client
generated from `/openapi.json` (openapi-generator, schemathesis) meets no undocumented answer.
`tests/test_serve_contract.py` runs schemathesis's checks against it.

`MediaTypeGuard` answers 415 to a POST whose body is not a form (JSON, text, none) on the upload
endpoints (FastAPI would answer 422 "field required", which names the wrong fault).
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {"type": "object", "required": ["error"], "additionalProperties": False,
                "properties": {"error": {"type": "string", "description": "one line: the field or thing, and why"}}}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

# what each answer means, for the document
REASONS = {
    400: "bad input (a field's value, an image that does not decode, a malformed request)",
    401: "no or wrong admin token (`Authorization: Bearer TOKEN`)",
    403: "changing styles is disabled on this server (no admin token configured)",
    404: "unknown model or style",
    405: "method not allowed on this path",
    408: "the request body (or headers) did not arrive in time",
    409: "conflict: the style exists, the added-style limit is reached, or it is the model's last style",
    413: "too large: the body over the upload cap, an image over the pixel cap, a decompression bomb",
    415: "the body is not a form (multipart/form-data)",
    422: "a required field is missing or not of its type",
    500: "internal error (never expected; no traceback is sent)",
    503: "busy: the queue is full or no decode slot freed in time; retry later",
    504: "the render timed out",
}

# status codes a request can meet before its route runs: the body guard (400 bad Content-Length,
# 408, 413), method routing (405) and the catch-all (500)
COMMON = (400, 405, 408, 413, 500)

# (method, path) -> its own error codes
ROUTES: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/healthz"): (),
    ("get", "/metrics"): (),
    ("get", "/v1/styles"): (),
    ("get", "/v1/models/{model}/styles/{style}/thumbnail.jpg"): (404, 503, 504),
    ("post", "/v1/stylize"): (404, 415, 422, 503, 504),
    ("post", "/v1/models/{model}/styles"): (401, 403, 404, 409, 415, 422),
    ("delete", "/v1/models/{model}/styles/{style}"): (401, 403, 404, 409),
}

UPLOAD_PATHS = ("/v1/stylize", "/v1/models/{model}/styles")
# the bodies FastAPI parses as a form (an url-encoded one carries no file: 422, the field is missing)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # `styljax.stores.style_store.check_style_name`


def _stylize_fields(models: list[str], max_side: int) -> dict[str, dict]:
    """The constraints `/v1/stylize` checks by hand (400 when broken), as JSON Schema."""
    return {
        "image": {"type": "string", "format": "binary", "description": "the photo (PNG, JPEG, WebP, GIF, BMP, TIFF)"},
        "mask": {"type": "string", "format": "binary",
                 "description": "an image, white where `mask_style` applies; goes with `mask_style`"},
        "style": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "\\S",
                  "description": "NAME, or a fusion a:0.7,b:0.3 (400: an unknown style or a bad spec); "
                                 "this or `style_image`"},
        "style_image": {"type": "string", "format": "binary",
                        "description": "a painting (PNG, JPEG, ...) as the style, instead of `style`, for a model "
                                       "that takes paintings (`style_image: true` in /v1/styles); decoded under "
                                       "the photo's limits (400 not an image or under 16 px a side, 413 too many "
                                       "pixels), its style kept by content"},
        "mask_style": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "\\S",
                       "description": "the painted region's style spec; goes with `mask`"},
        "model": {"type": "string", "enum": models, "default": models[0], "description": "the served model"},
        "size": {"type": "integer", "minimum": 16, "maximum": max_side,
                 "description": f"longest side of the result, 16..{max_side} (default: the photo's, capped)"},
        "format": {"type": "string", "enum": ["png", "jpeg"], "default": "png", "description": "of the result"},
        "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 1,
                     "description": "style strength, 0 (the photo) .. 1 (full style)"},
        "preserve_colors": {"type": "boolean", "default": False, "description": "keep the photo's colours"},
    }


def _error_responses(codes) -> dict:
    return {str(c): {"description": REASONS[c], "content": {"application/json": {"schema": ERROR_REF}}}
            for c in sorted(set(codes))}


def complete(doc: dict, models: list[str], max_side: int) -> dict:
    """`doc` (FastAPI's document of the app) with the service's whole contract; returns it."""
    from styljax.nets import strength

    doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for (method, path), codes in ROUTES.items():
        op = doc.get("paths", {}).get(path, {}).get(method)
        if op is None:
            continue
        responses = op.setdefault("responses", {})
        responses.pop("422", None)  # FastAPI's HTTPValidationError: the service answers {"error": ...}
        responses.update(_error_responses((*COMMON, *codes)))
        if "401" in responses:
            responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                               "description": "Bearer"}}
        if method == "get" and path.endswith("thumbnail.jpg"):
            responses["200"] = {"description": "the style applied to a built-in scene",
                                "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                                "headers": {"Cache-Control": {"schema": {"type": "string"}}}}
        for p in op.get("parameters", []):
            if p.get("in") == "path":
                p["schema"] = {**p.get("schema", {}), "type": "string", "pattern": NAME_PATTERN}
            if p.get("in") == "path" and p.get("name") == "model":
                p["schema"]["enum"] = models
    stylize = doc.get("paths", {}).get("/v1/stylize", {}).get("post")
    if stylize is not None:
        ok = stylize["responses"]["200"]
        binary = {"schema": {"type": "string", "format": "binary"}}
        ok["content"] = {"image/png": binary, "image/jpeg": binary}
        ok["headers"] = {
            "X-Latency-Ms": {"schema": {"type": "string"}, "description": "server-side time, ms"},
            "X-Styljax-Strength-Mode": {"schema": {"type": "string", "enum": list(strength.MODES)},
                                        "description": "how `strength` weakens the style for this model"},
        }
        body = _body_schema(doc, stylize)
        if body is not None:
            body["anyOf"] = [{"required": ["style"]}, {"required": ["style_image"]}]  # 422 without either
            for name, constraint in _stylize_fields(models, max_side).items():
                if name in body.get("properties", {}):
                    field = body["properties"][name]
                    field.pop("anyOf", None)  # FastAPI's `X | None`: the field is simply optional
                    field.update(constraint)
    upload = doc.get("paths", {}).get("/v1/models/{model}/styles", {}).get("post")
    if upload is not None:
        props = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
        props["name"] = {**props.get("name", {}), "type": "string", "pattern": NAME_PATTERN}
        upload["responses"]["201"] = {"description": "the style was added", "content": {"application/json": {"schema": {
            "type": "object", "required": ["model", "name", "styles"],
            "properties": {"model": {"type": "string"}, "name": {"type": "string"},
                           "styles": {"type": "array", "items": {"type": "string"}}}}}}}
        upload["responses"].pop("200", None)
    return doc


def _body_schema(doc: dict, op: dict) -> dict | None:
    """The (resolved) multipart schema of an operation's body."""
    schema = op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("schema")
    if schema and "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def install(app, models: list[str], max_side: int, reject) -> None:
    """Serve the completed document at /openapi.json (built once, on first request), and answer
    non-multipart uploads 415 (`reject(scope, status, message, headers)` makes the JSON answer)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(plain(), models, max_side)
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(MediaTypeGuard, paths=UPLOAD_PATHS, reject=reject)


class MediaTypeGuard:
    """ASGI middleware: 415 JSON for a POST to an upload endpoint whose Content-Type is not a form
    (`paths` may hold `{param}` segments)."""

    def __init__(self, app, paths, reject):
        self.app, self.reject = app, reject
        self.paths = [tuple(p.strip("/").split("/")) for p in paths]

    def _matches(self, path: str) -> bool:
        parts = tuple(path.strip("/").split("/"))
        return any(len(parts) == len(p) and all(a == b or b.startswith("{") for a, b in zip(parts, p))
                   for p in self.paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and self._matches(scope["path"]):
            ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1")
            if ctype.split(";")[0].strip().lower() not in FORM_TYPES:
                message = f"Content-Type: multipart/form-data expected, got {ctype[:80]!r}"
                return await self.reject(scope, 415, message, {"Connection": "close"})(scope, receive, send)
        await self.app(scope, receive, send)
