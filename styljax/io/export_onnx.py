"""ONNX conversion with jax2onnx: the one module that imports the `export` extra. It runs in the
export environment (`styljax.io.export.export_env`, a subprocess started by `styljax.io.export.export_onnx`),
or in this process where jax2onnx imports."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import onnx
from jax2onnx import to_onnx

from styljax.errors import StyljaxError
from styljax.io.export import ONNX_OPSET, Request, artefact_path, input_specs, load, min_side


def convert(req: Request) -> list[dict]:
    """Convert each program with jax2onnx and write it (atomically); [{path, opset, converter}] (in
    the process that has jax2onnx)."""
    from styljax.io.atomic import atomic_path

    method, renderer, _, programs = load(req)
    done = []
    for program in programs:
        path = artefact_path(Path(req.out), program)
        model = to_onnx(program.fn, input_specs(program, req, min_side(method, renderer)), model_name=f"styljax_{method.name}",
                        opset=ONNX_OPSET, input_names=[i.name for i in program.inputs],
                        output_names=[program.output.name])
        onnx.checker.check_model(model)
        with atomic_path(path) as tmp:
            onnx.save(model, str(tmp))
        done.append({"path": str(path), "opset": ONNX_OPSET, "converter": f"jax2onnx {metadata.version('jax2onnx')}",
                     "onnx": metadata.version("onnx")})
    return done


def onnx_worker(argv: Sequence[str]) -> int:
    """The export environment's side of `export_onnx`: argv[0] is the request as JSON; prints the
    results as one JSON line, or the one-line error and exits 2."""
    try:
        results = convert(Request(**json.loads(argv[0])))
    except StyljaxError as e:
        print(f"styljax: {e}", file=sys.stderr)
        return 2
    print("STYLJAX-ONNX " + json.dumps(results))
    return 0
