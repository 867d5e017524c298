"""TFLite conversion: jax2tf (StableHLO inside a TF function) and TensorFlow's TFLite converter,
which lowers the StableHLO to TFLite builtin ops. The one module that imports the `tflite`
extra (tensorflow-cpu); the artefact runs in the LiteRT interpreter (`ai-edge-litert`).

The layers keep their reference forms under symbolic sizes here (the default outside
`styljax.nets.layers.symbolic_fast_forms`): the converter cannot legalise the dynamic slices of
the fast forms (`mhlo.real_dynamic_slice`)."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from jax.experimental import jax2tf

from styljax.errors import StyljaxError
from styljax.io.export import Program, Request, artefact_path


def _dims(program_input, fixed: dict) -> list:
    return [d if isinstance(d, int) else fixed.get(d) or d for d in program_input.dims]


def convert(req: Request, programs: list[Program], min_side: int) -> list[dict]:
    """Convert each program and write it (atomically); [{path, converter}]."""
    from styljax.io.atomic import atomic_path

    fixed = {"batch": req.batch, "height": req.height, "width": req.width}
    done = []
    for program in programs:
        path = artefact_path(Path(req.out), program)
        dims = [_dims(i, fixed) for i in program.inputs]
        poly = [None if all(isinstance(d, int) for d in ds) else "(" + ", ".join(map(str, ds)) + ",)" for ds in dims]
        names = {d for ds in dims for d in ds if isinstance(d, str)}
        constraints = tuple(f"{n} >= {min_side}" for n in ("height", "width") if n in names)
        fn = jax2tf.convert(program.fn, polymorphic_shapes=poly, polymorphic_constraints=constraints,
                            native_serialization_platforms=("cpu",), with_gradient=False)
        sig = [tf.TensorSpec([d if isinstance(d, int) else None for d in ds], tf.float32, name=i.name)
               for ds, i in zip(dims, program.inputs)]
        concrete = tf.function(fn, input_signature=sig, autograph=False).get_concrete_function()
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            data = converter.convert()
        except Exception as e:  # the converter's own errors (ConverterError): one line, the first error
            first = next((ln.strip() for ln in str(e).splitlines() if "error:" in ln), str(e).splitlines()[0])
            raise StyljaxError(f"--format tflite: TensorFlow's converter cannot convert this {req.method} model: "
                               f"{first.split('error:', 1)[-1].strip()[:300]}") from None
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        done.append({"path": str(path), "converter": f"jax2tf + tensorflow {tf.__version__} "
                                                     "TFLiteConverter (builtin ops)"})
    return done
