"""What a painting upload costs the service (`POST /v1/stylize` with `style_image`, issue #33 item 5):
a new painting (decoded, its style predicted, then the render) against the same painting again
(its style from the content-hash LRU: the render alone), on the fetched arbitrary-style model.

    python -m bench.serve_paintings [--requests 16] [--size 512] > bench/results/serve_paintings.jsonl

The app is the one `styljax serve` builds (`serve_app.create_app`, default settings), called
in-process; its programs for the photo's bucket and the predictor are compiled before timing.
Cases (one JSON line each, after `bench.common`'s header line): `painting_new` (a different
painting each request), `painting_cached` (the same painting each request); per case the latency
percentiles (ms, client side) and the service's own `X-Latency-Ms` median.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

from bench.common import emit, log, machine_info


def jpeg(h: int, w: int, seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.kron(rng.uniform(size=(h // 16, w // 16, 3)), np.ones((16, 16, 1)))  # blocky: a painting's strokes
    buf = io.BytesIO()
    Image.fromarray((img * 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=16, help="timed requests per case")
    ap.add_argument("--size", type=int, default=512, help="longest side of the photo and the result")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from styljax.infer import serve_app
    from styljax.io import magenta

    emit(machine_info())
    app = serve_app.create_app(serve_app.load_models({"arbitrary": magenta.model_dir(magenta.ARBITRARY)}))
    photo = jpeg(args.size * 2 // 3, args.size, 0)
    service = app.state.service
    with TestClient(app) as client:
        def post(painting: bytes):
            files = {"image": ("p.jpg", photo, "image/jpeg"), "style_image": ("s.jpg", painting, "image/jpeg")}
            t0 = time.perf_counter()
            r = client.post("/v1/stylize", files=files, data={"model": "arbitrary", "size": str(args.size)})
            assert r.status_code == 200, r.text
            return 1e3 * (time.perf_counter() - t0), float(r.headers["x-latency-ms"])

        log("compiling (the photo's bucket, the predictor)")
        service.warm_paintings()
        post(jpeg(600, 800, 999))
        cases = {"painting_new": [jpeg(600, 800, 1000 + i) for i in range(args.requests)],
                 "painting_cached": [jpeg(600, 800, 1)] * args.requests}
        post(cases["painting_cached"][0])  # in the cache before timing
        for case, paintings in cases.items():
            hits = service.paintings.hits
            times = np.asarray([post(p) for p in paintings])
            emit({"case": case, "requests": len(paintings), "size": args.size, "painting": "800x600 JPEG",
                  "cache_hits": service.paintings.hits - hits,
                  "client_ms": {q: float(np.percentile(times[:, 0], q)) for q in (50, 90)},
                  "server_ms_p50": float(np.median(times[:, 1]))})


if __name__ == "__main__":
    main()
