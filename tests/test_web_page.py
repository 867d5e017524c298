"""The service's web page end to end: Playwright drives Debian's chromium against a live server
(tiny random models), mixes two styles, sets the strength and colours, paints a region, renders,
switches model, hits an error. (The page's controls are also checked without a browser.)"""

from __future__ import annotations

import io
import os
import shutil
from email.parser import BytesParser
from email.policy import default as email_policy
from pathlib import Path

import numpy as np
import pytest
from conftest import live_server
from PIL import Image

ARTIFACTS = Path(__file__).resolve().parent.parent / "out" / "test-artifacts"
TIMEOUT_MS = 30_000


def chromium_path() -> str:
    if os.environ.get("STYLJAX_SKIP_BROWSER") == "1":
        pytest.skip("STYLJAX_SKIP_BROWSER=1")
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium not found on PATH: `make test` installs it (Debian package `chromium`); "
                    "set STYLJAX_SKIP_BROWSER=1 to skip the browser test")
    return path


def form_parts(request) -> dict[str, bytes]:
    """A multipart/form-data request's fields: name → raw bytes. (Chromium reports file-backed
    bodies only to routed requests, so the test routes /v1/stylize through `page.route`.)"""
    body = request.post_data_buffer
    assert body, "the POST carried no body Playwright could see"
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    msg = BytesParser(policy=email_policy).parsebytes(head + body)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in msg.iter_parts()}


def loaded(page, selector: str) -> None:
    """Wait until every image matched by `selector` has decoded (naturalWidth > 0)."""
    page.wait_for_function(
        "sel => { const imgs = [...document.querySelectorAll(sel)];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=selector, timeout=TIMEOUT_MS)


def set_weight(page, style: str, value: int) -> None:
    page.locator(f'#styles [data-style="{style}"] input[type=range]').evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", str(value))


def set_range(page, selector: str, value: int) -> None:
    page.locator(selector).evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", str(value))


def style_rows(page) -> list[str]:
    return page.eval_on_selector_all("#styles [data-style]", "rows => rows.map(r => r.dataset.style)")


def test_page_has_strength_and_colour_controls():
    """Without a browser: the page has the strength slider (0-100 %) and the colour checkbox, and
    its request sends them (`strength` as 0-1, `preserve_colors=true` when checked)."""
    from styljax.infer.serve import STATIC

    html = (STATIC / "index.html").read_text()
    assert '<input id="strength" type="range" min="0" max="100" value="100"' in html
    assert '<input id="preserve-colors" type="checkbox">' in html
    assert 'form.append("strength", String(Number($("strength").value) / 100));' in html
    assert 'if ($("preserve-colors").checked) form.append("preserve_colors", "true");' in html


def test_web_page_mix_paint_render_switch_and_error(tiny_models, tmp_path):
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    from styljax.infer import serve
    from styljax.infer.serving import ServeConfig

    app = serve.create_app(serve.load_models({"stylebank": tiny_models["stylebank"], "cin": tiny_models["cin"]}),
                           ServeConfig(max_batch=4, max_wait_ms=5))
    y, x = np.mgrid[0:64, 0:96]
    photo = np.stack([x * 255 // 95, y * 255 // 63, ((x // 12 + y // 12) % 2) * 200 + 30], -1).astype(np.uint8)
    photo_path = tmp_path / "photo.png"
    Image.fromarray(photo).save(photo_path)

    with live_server(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            console_errors = []
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            posted = []  # the /v1/stylize requests, seen by a pass-through route (bodies included)
            page.route("**/v1/stylize", lambda route: (posted.append(route.request), route.continue_()))
            page.goto(url + "/")

            # the default model's rows, thumbnails rendered by the server
            page.wait_for_selector("#styles [data-style]")
            assert page.input_value("#model") == "stylebank"
            rows = style_rows(page)
            assert sorted(rows) == ["blue", "green", "red"]
            loaded(page, "#styles [data-style] img")
            weights = page.eval_on_selector_all("#styles input[type=range]", "els => els.map(e => e.value)")
            assert weights == ["100", "0", "0"]  # the first style (server order) only

            # photo, a mix of two styles, a painted stroke styled blue
            page.set_input_files("#photo", str(photo_path))
            loaded(page, "#preview")
            for style, weight in {"red": 50, "green": 0, "blue": 50}.items():
                set_weight(page, style, weight)
            box = page.locator("#canvas").bounding_box()
            assert box and box["width"] > 50 and box["height"] > 30
            page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])
            page.mouse.down()
            for t in np.linspace(0.2, 0.8, 8):
                page.mouse.move(box["x"] + t * box["width"], box["y"] + (0.3 + 0.4 * t) * box["height"])
            page.mouse.up()
            page.select_option("#region-style", "blue")
            page.select_option("#size", "256")
            assert page.input_value("#strength") == "100"  # full style by default
            set_range(page, "#strength", 60)
            assert page.text_content("#strength-value") == "60%"
            page.check("#preserve-colors")

            with page.expect_response(lambda r: r.url.endswith("/v1/stylize")) as resp_info:
                page.click("#go")
            resp = resp_info.value
            assert resp.status == 200, resp.text()
            assert resp.headers["content-type"] == "image/png"
            fields = form_parts(posted[-1])
            assert resp.request.method == "POST"
            assert set(fields["style"].decode().split(",")) == {"red:0.5", "blue:0.5"}
            assert fields["mask_style"] == b"blue"
            assert fields["model"] == b"stylebank" and fields["size"] == b"256"
            assert fields["strength"] == b"0.6" and fields["preserve_colors"] == b"true"
            assert resp.headers["x-styljax-strength-mode"] == "features"
            assert "image" in fields  # (its bytes: Chromium reports no contents of disk-backed files)
            mask = np.asarray(Image.open(io.BytesIO(fields["mask"])).convert("L"))
            assert mask.max() == 255 and mask.min() == 0, "the mask is white where painted, black elsewhere"
            assert 0.01 < (mask > 127).mean() < 0.6

            loaded(page, "#result")
            w, h = page.eval_on_selector("#result", "i => [i.naturalWidth, i.naturalHeight]")
            assert (w, h) == (256, 171)  # 96×64 scaled so its longest side is 256
            page.wait_for_function("() => /\\d+ ms/.test(document.querySelector('#status').textContent)")

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "web_page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            # another model: its rows, one style, no painting
            page.select_option("#model", "cin")
            page.wait_for_function(
                "() => document.querySelector('#styles [data-style] img')?.src.includes('/models/cin/')")
            assert sorted(style_rows(page)) == ["blue", "green", "red"]
            loaded(page, "#styles [data-style] img")
            page.click("#clear")
            for style, weight in {"red": 0, "green": 80, "blue": 0}.items():
                set_weight(page, style, weight)
            page.select_option("#size", "384")
            set_range(page, "#strength", 50)
            page.uncheck("#preserve-colors")
            with page.expect_response(lambda r: r.url.endswith("/v1/stylize")) as resp_info:
                page.click("#go")
            resp = resp_info.value
            assert resp.status == 200, resp.text()
            fields = form_parts(posted[-1])
            assert fields["style"] == b"green" and fields["model"] == b"cin"
            assert "mask" not in fields and "mask_style" not in fields
            assert fields["strength"] == b"0.5" and "preserve_colors" not in fields
            page.wait_for_function(
                "() => document.querySelector('#result').naturalWidth === 384", timeout=TIMEOUT_MS)
            page.wait_for_function("() => document.querySelector('#status').textContent.includes('pixel blend')")
            set_range(page, "#strength", 100)

            # an error: a text file posing as a PNG; the page shows the server's JSON message
            page.set_input_files("#photo", files=[{"name": "photo.png", "mimeType": "image/png",
                                                   "buffer": b"this is not an image\n"}])
            page.select_option("#size", "256")
            with page.expect_response(lambda r: r.url.endswith("/v1/stylize")) as resp_info:
                page.click("#go")
            resp = resp_info.value
            assert resp.status == 400
            message = resp.json()["error"]
            assert message
            page.wait_for_function("m => document.querySelector('#status').textContent.includes(m)", arg=message)
            assert "error" in page.get_attribute("#status", "class")
            assert not console_errors, console_errors
        finally:
            browser.close()
