"""`styljax add-style --method arbitrary --style painting.jpg --name x`: store a painting's predicted
style vector as a named style of the arbitrary-style model, so `styles list|export|import`, the
CIN-style renderer interface and the service treat it like any other style. Seconds, no training."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from styljax.errors import StyljaxError


def run_add_style(args: argparse.Namespace) -> int:
    from styljax.infer import common
    from styljax.models.arbitrary_renderer import ArbitraryRenderer
    from styljax.models.style_store import check_style_name

    t0 = time.perf_counter()
    model = ArbitraryRenderer(Path(args.model))
    name = check_style_name(args.name or Path(args.style).stem)
    if getattr(args, "refine", False):
        raise StyljaxError("--refine: not available for --method arbitrary yet (the stored vector is the predictor's)")
    if name in model.styles:
        raise StyljaxError(f"{args.model}: style {name!r} exists already (rename or remove it first)")
    vector = model.painting_vector(args.style, **common.load_limits(args))
    st = model.store
    if args.out is None or Path(args.out) == Path(args.model):
        out = Path(args.model)
        st.save_style(out, name, {"vector": vector})
    else:  # a copy of the model with the new style
        out = Path(args.out)
        keep = {k: v for k, v in model.manifest.items() if k not in ("format", "config", st.sha_key)}
        params = {**model.params, st.styles_key: {**{n: model.params[st.styles_key][n] for n in model.styles},
                                                   name: {"vector": vector}}}
        st.save_model(out, params, model.cfg, keep)
        if (Path(args.model) / "NOTICE").is_file():
            shutil.copyfile(Path(args.model) / "NOTICE", out / "NOTICE")
    print(f"added {name!r} (the style vector of {args.style}) in {out} in {time.perf_counter() - t0:.1f} s")
    return 0
