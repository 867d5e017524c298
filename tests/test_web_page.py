"""The service's web page end to end: Playwright drives Debian's chromium against a live server
(tiny random models), mixes two styles, sets the strength and colours, paints a region, renders,
switches model, hits an error. The page renders on upload and again on every change (debounced,
the stale request aborted), fits a 1280x800 screen, and loads no missing favicon (issue #34).
(The page's controls are also checked without a browser.)"""

from __future__ import annotations

import contextlib
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


def settle(page) -> None:
    """Wait until no render is pending (debounced) or in flight (a new size or model compiles its
    programs first: seconds each on a busy CPU)."""
    page.wait_for_function("() => !window.styljaxBusy()", timeout=4 * TIMEOUT_MS)


def style_rows(page) -> list[str]:
    return page.eval_on_selector_all("#styles [data-style]", "rows => rows.map(r => r.dataset.style)")


def test_page_has_strength_and_colour_controls():
    """Without a browser: the page has the strength slider (0-100 %) and the colour checkbox, and
    its request sends them (`strength` as 0-1, `preserve_colors=true` when checked)."""
    from styljax.infer.serve_app import STATIC

    html = (STATIC / "index.html").read_text()
    assert '<input id="strength" type="range" min="0" max="100" value="100"' in html
    assert '<input id="preserve-colors" type="checkbox">' in html
    assert 'form.append("strength", String(Number($("strength").value) / 100));' in html
    assert 'if ($("preserve-colors").checked) form.append("preserve_colors", "true");' in html


def is_stylize(r) -> bool:
    return r.url.endswith("/v1/stylize")


def test_web_page_mix_paint_render_switch_and_error(tiny_models, tmp_path):
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    from styljax.infer import serve_app
    from styljax.infer.serving import ServeConfig

    app = serve_app.create_app(serve_app.load_models({"stylebank": tiny_models["stylebank"], "cin": tiny_models["cin"]}),
                           ServeConfig(max_batch=4, max_wait_ms=5))
    y, x = np.mgrid[0:64, 0:96]
    photo = np.stack([x * 255 // 95, y * 255 // 63, ((x // 12 + y // 12) % 2) * 200 + 30], -1).astype(np.uint8)
    photo_path = tmp_path / "photo.png"
    Image.fromarray(photo).save(photo_path)

    with live_server(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            console_errors, failed_loads = [], []
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("response", lambda r: failed_loads.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not is_stylize(r) else None)
            posted = []  # the /v1/stylize requests, seen by a pass-through route (bodies included)
            page.route("**/v1/stylize", lambda route: (posted.append(route.request), route.continue_()))
            responses = []  # their answers, in the order they came
            page.on("response", lambda r: responses.append(r) if is_stylize(r) else None)
            page.goto(url + "/")

            # the default model's rows, thumbnails rendered by the server
            page.wait_for_selector("#styles [data-style]")
            assert page.input_value("#model") == "stylebank"
            rows = style_rows(page)
            assert sorted(rows) == ["blue", "green", "red"]
            loaded(page, "#styles [data-style] img")
            weights = page.eval_on_selector_all("#styles input[type=range]", "els => els.map(e => e.value)")
            assert weights == ["100", "0", "0"]  # the first style (server order) only
            # the page names its icon, and the server has it: no 404 for /favicon.ico
            # (a query string: with request interception on, Chromium fails any fetch of the bare /favicon.ico)
            icon = page.evaluate("fetch('/favicon.ico?t').then(r => [r.status, r.headers.get('content-type')])")
            assert icon == [200, "image/svg+xml"] and page.get_attribute("link[rel=icon]", "href") == "/favicon.ico"
            assert not posted  # nothing to render before a photo

            # choosing the photo renders it at once with the current settings: no button pressed
            with page.expect_response(is_stylize) as first:
                page.set_input_files("#photo", str(photo_path))
            assert first.value.status == 200
            assert form_parts(posted[-1])["style"] == rows[0].encode() and len(posted) == 1
            loaded(page, "#preview")
            loaded(page, "#result")

            # a mix of two styles, a painted stroke styled blue, size, strength, colours: each change re-renders
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
            settle(page)
            assert 2 <= len(posted) <= 9  # the changes came faster than the debounce: fewer renders than changes

            resp = responses[-1]
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

            page.wait_for_function("() => document.querySelector('#result').naturalWidth === 256")
            w, h = page.eval_on_selector("#result", "i => [i.naturalWidth, i.naturalHeight]")
            assert (w, h) == (256, 171)  # 96×64 scaled so its longest side is 256
            page.wait_for_function("() => /\\d+ ms/.test(document.querySelector('#status').textContent)")

            # the button renders again, once, with the same settings
            before = len(posted)
            with page.expect_response(is_stylize) as again:
                page.click("#go")
            assert again.value.status == 200 and len(posted) == before + 1
            assert form_parts(posted[-1]) == {**fields, "image": form_parts(posted[-1])["image"]}

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "web_page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            # another model: its rows, one style, no painting
            page.click("#clear")
            page.select_option("#model", "cin")
            page.wait_for_function(
                "() => document.querySelector('#styles [data-style] img')?.src.includes('/models/cin/')")
            assert sorted(style_rows(page)) == ["blue", "green", "red"]
            loaded(page, "#styles [data-style] img")
            for style, weight in {"red": 0, "green": 80, "blue": 0}.items():
                set_weight(page, style, weight)
            page.select_option("#size", "384")
            set_range(page, "#strength", 50)
            page.uncheck("#preserve-colors")
            settle(page)
            resp = responses[-1]
            assert resp.status == 200, resp.text()
            fields = form_parts(posted[-1])
            assert fields["style"] == b"green" and fields["model"] == b"cin"
            assert "mask" not in fields and "mask_style" not in fields
            assert fields["strength"] == b"0.5" and "preserve_colors" not in fields
            page.wait_for_function("() => document.querySelector('#result').naturalWidth === 384")
            page.wait_for_function("() => document.querySelector('#status').textContent.includes('pixel blend')")
            set_range(page, "#strength", 100)
            settle(page)

            # an error: a text file posing as a PNG, rendered on upload; the page shows the server's JSON message
            with page.expect_response(is_stylize) as bad:
                page.set_input_files("#photo", files=[{"name": "photo.png", "mimeType": "image/png",
                                                       "buffer": b"this is not an image\n"}])
            resp = bad.value
            assert resp.status == 400
            message = resp.json()["error"]
            assert message
            page.wait_for_function("m => document.querySelector('#status').textContent.includes(m)", arg=message)
            assert "error" in page.get_attribute("#status", "class")
            assert not console_errors, console_errors
            assert not failed_loads, failed_loads
        finally:
            browser.close()


def test_web_page_uses_my_painting(tiny_models, tiny_arbitrary, tmp_path):
    """"Use my painting": offered for a model that takes paintings (the arbitrary-style one, here
    with no stored style), sent as `style_image` instead of `style`, the result shown; another
    model renders its own styles, the painting kept for when the model comes back."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    from styljax.infer import serve_app
    from styljax.infer.serving import ServeConfig

    app = serve_app.create_app(serve_app.load_models({"cin": tiny_models["cin"], "arbitrary": tiny_arbitrary}),
                               ServeConfig(max_batch=2, max_wait_ms=5))
    rng = np.random.default_rng(4)
    photo_path, painting_path = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.fromarray((rng.uniform(size=(48, 64, 3)) * 255).astype(np.uint8)).save(photo_path)
    Image.fromarray(np.kron(rng.uniform(size=(6, 5, 3)) * 255, np.ones((8, 8, 1))).astype(np.uint8)).save(painting_path)

    with live_server(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            console_errors, failed_loads, posted = [], [], []
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("response", lambda r: failed_loads.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.route("**/v1/stylize", lambda route: (posted.append(route.request), route.continue_()))
            page.goto(url + "/")
            page.wait_for_selector("#styles [data-style]")
            assert page.input_value("#model") == "cin" and page.is_hidden("#painting-box")

            # the painting model: no stored styles, so nothing to render until a painting is chosen
            page.select_option("#model", "arbitrary")
            assert page.is_visible("#painting-box") and style_rows(page) == []
            assert page.is_disabled("#go") and "use your painting" in page.text_content("#status")
            page.set_input_files("#photo", str(photo_path))
            loaded(page, "#preview")
            with page.expect_response(is_stylize) as first:
                page.set_input_files("#painting", str(painting_path))
            assert first.value.status == 200, first.value.text()
            fields = form_parts(posted[-1])
            assert "style_image" in fields and "style" not in fields and fields["model"] == b"arbitrary"
            assert first.value.headers["x-styljax-strength-mode"] == "style-vector"
            loaded(page, "#result")
            loaded(page, "#painting-preview")
            assert page.text_content("#painting-name") == "painting.png" and not page.is_disabled("#go")
            page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Done in')")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web_page_painting.png"), full_page=True)

            # a named-style model renders its own styles; back again, the painting is still the style
            page.select_option("#model", "cin")
            settle(page)
            fields = form_parts(posted[-1])
            assert fields["model"] == b"cin" and "style_image" not in fields and fields["style"] in (b"blue", b"green", b"red")
            page.select_option("#model", "arbitrary")
            settle(page)
            assert "style_image" in form_parts(posted[-1]) and form_parts(posted[-1])["model"] == b"arbitrary"

            # back to the mix, which is empty here: nothing to send
            count = len(posted)
            page.click("#painting-clear")
            assert page.is_hidden("#painting-chosen") and page.is_disabled("#go")
            page.wait_for_timeout(600)  # past the debounce: no request went out
            assert len(posted) == count
            assert not console_errors, console_errors
            assert not failed_loads, failed_loads
        finally:
            browser.close()


@pytest.fixture(scope="module")
def seven_styles(tmp_path_factory):
    """A tiny StyleBank model with the shipped model's seven style names (the page's longest list)."""
    import jax

    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    names = ["composition-vii", "immunohistochemistry", "shipwreck", "starry-night", "the-scream", "wave",
             "woman-with-hat"]
    cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    path = tmp_path_factory.mktemp("seven") / "stylebank"
    stylebank_store.save_model(path, sb.init(jax.random.key(0), cfg, names), cfg, {"method": "stylebank"})
    return path


def test_web_page_debounces_aborts_and_fits_one_screen(seven_styles, tmp_path):
    """A burst of changes is one render, and it aborts the request still in flight (its answer would
    be stale); the result and the main controls fit 1280x800 with seven styles; the thumbnails
    are small and load."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    from styljax.infer import serve_app
    from styljax.infer.serving import ServeConfig

    app = serve_app.create_app(serve_app.load_models({"stylebank": seven_styles}), ServeConfig(max_batch=2, max_wait_ms=5),
                           prerender_thumbnails=True)
    photo_path = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).uniform(size=(48, 64, 3)) * 255).astype(np.uint8)).save(photo_path)

    with live_server(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            posted, held, aborted, thumbs = [], [], [], []

            def route(r):  # hold the first render in flight; let the others through
                posted.append(r.request)
                if len(posted) == 1:
                    held.append(r)
                else:
                    r.continue_()

            page.route("**/v1/stylize", route)
            page.on("requestfailed", lambda r: aborted.append(r.failure) if is_stylize(r) else None)
            page.on("response", lambda r: thumbs.append(r) if r.url.endswith("thumbnail.jpg") else None)
            page.goto(url + "/")
            page.wait_for_selector("#styles [data-style]")
            assert len(style_rows(page)) == 7
            loaded(page, "#styles [data-style] img")
            assert len(thumbs) == 7 and all(r.status == 200 for r in thumbs)
            sides = page.eval_on_selector_all("#styles img", "imgs => imgs.map(i => i.naturalWidth)")
            assert sides == [serve_app.THUMB_SIDE] * 7 and all(len(r.body()) < 12_000 for r in thumbs)

            # one screen: the photo input, every style slider, strength, colours, the button and the result
            page.set_input_files("#photo", str(photo_path))
            page.wait_for_function("() => document.querySelector('#result-empty') && !document.querySelector('#frame').hidden")
            assert page.evaluate("document.documentElement.scrollHeight") <= 800
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            selectors = ["#model", "#photo", "#size", "#strength", "#preserve-colors", "#go", "#status",
                         ".view .panel:nth-child(2) .stage", "#styles .style-row:last-child input[type=range]"]
            for sel in selectors:
                b = page.locator(sel).bounding_box()
                assert b and b["y"] >= 0 and b["y"] + b["height"] <= 800 and b["x"] + b["width"] <= 1280, (sel, b)
            stage = page.locator(".view .panel:nth-child(2) .stage").bounding_box()
            assert stage["width"] >= 400 and stage["height"] >= 400  # the result has room

            # the upload's render is held in flight; a burst of five strength moves is one more render,
            # which aborts the held one
            page.wait_for_function("() => window.styljaxBusy()")
            assert len(posted) == 1 and held
            page.locator("#strength").evaluate(
                "el => { for (const v of [90, 80, 70, 60, 55]) { el.value = v;"
                " el.dispatchEvent(new Event('input', {bubbles: true})); } }")
            with page.expect_response(is_stylize) as resp:
                pass
            assert resp.value.status == 200
            settle(page)
            assert len(posted) == 2 and form_parts(posted[1])["strength"] == b"0.55"
            assert len(aborted) == 1 and "ABORTED" in (aborted[0] or "").upper(), aborted
            loaded(page, "#result")
            assert page.text_content("#status").startswith("Done in")
        finally:
            for r in held:
                with contextlib.suppress(Exception):
                    r.abort()
            browser.close()
