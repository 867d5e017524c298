"""`styljax stylize --engine ray`: a folder (or any URI pyarrow reads) of photos through a
feed-forward model on a Ray cluster, with Ray Data (`styljax.runtime.ray.StylizeFiles` actors).

The job streams: the driver lists the names (strings only), Ray Data feeds small blocks of them to
the actors, and each actor reads, renders and writes its rows, so memory stays bounded however many
photos there are. Outputs are written atomically and an output that exists is not redone, so a rerun
after a crash (or a retried batch after a worker died) finishes the job without redoing or
duplicating anything. A photo that fails is reported with its reason and skipped.

Cluster: `--ray-address` (or $RAY_ADDRESS) joins a running cluster; otherwise `ray.init()` starts a
local one. An already initialised Ray (a program calling `styljax.infer.cli.main`) is used as it is.
"""

from __future__ import annotations

import argparse
import time

from styljax.errors import StyljaxError

MAX_LISTED_FAILURES = 20  # failures printed one per line; the rest are counted


def add_args(p) -> None:
    """The `--engine ray` options of `styljax stylize`."""
    g = p.add_argument_group("--engine ray (the feed-forward methods; the optional `ray` extra)")
    g.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="local (this process, the default) or ray: a Ray Data job over SRC (a folder or URI, "
                        "e.g. s3://bucket/photos) into --out (a folder or URI); streaming, resumable")
    g.add_argument("--workers", type=int, default=1, help="--engine ray: model actors (each holds the model once)")
    g.add_argument("--worker-cpus", type=float, default=1.0, help="--engine ray: CPUs each actor reserves")
    g.add_argument("--worker-gpus", type=float, default=0.0, help="--engine ray: GPUs each actor reserves")
    g.add_argument("--ray-address", default=None,
                   help="--engine ray: the cluster to join (default: $RAY_ADDRESS, else a local one)")


def import_ray():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise StyljaxError("--engine ray needs Ray: pip install 'styljax[ray]'") from None
    return ray


def check_args(args: argparse.Namespace) -> None:
    unsupported = [f for f, v in (("--tile", args.tile), ("--content", args.content), ("--distributed", args.distributed))
                   if v]
    if unsupported:
        raise StyljaxError(f"--engine ray: {', '.join(unsupported)} not supported")
    if args.workers < 1 or args.batch < 1:
        raise StyljaxError("--engine ray: --workers and --batch must be at least 1")
    if args.size is not None and args.size < 16:
        raise StyljaxError(f"--size must be at least 16, got {args.size}")


def run_ray(args: argparse.Namespace, method) -> int:
    """`styljax stylize --engine ray --method M --style S SRC --out DST`."""
    check_args(args)
    spec_text, extra = args.style[0], args.style[1:]  # argparse gives `--style S SRC` both to --style
    srcs = extra + list(args.inputs)
    if len(srcs) != 1:
        raise StyljaxError("--engine ray: give one source folder (or URI) and --out FOLDER")
    src, dst = srcs[0], args.out
    ray = import_ray()
    from styljax.runtime import ray as sray
    from styljax.infer import common
    from styljax.render import StyleSpec

    # the spec is checked here, before any cluster starts (a bad --style: exit 2, one line)
    renderer = method.open_renderer(args.model)
    # arbitrary: painting files become named styles (the actors do the same with the same names)
    prepared = renderer.prepare_styles(spec_text, common.load_limits(args))
    spec = StyleSpec.parse(prepared, renderer.styles, strength=args.strength, preserve_colors=args.preserve_colors,
                           regions=args.regions, mask=args.mask)
    del renderer
    inputs = sray.list_images(src)
    pending = inputs
    if not args.overwrite:  # resume: an input with every output present is done
        have = sray.existing(dst)
        pending = [s for s in inputs if not all(sray.output_name(s, t) in have for t in spec.tags)]
        if len(pending) < len(inputs):
            print(f"skipping {len(inputs) - len(pending)} input(s) already done in {dst} (--overwrite to redo)")
    if not pending:
        print(f"nothing to do: every output of {len(inputs)} input(s) is in {dst}")
        return 0

    started = not ray.is_initialized()
    if started:
        ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False,
                 logging_level="WARNING")
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours counts photos, Ray's would count blocks on the same terminal
        kwargs = dict(method=method.name, style=spec_text, dst=dst, model=args.model, max_side=args.size,
                      max_pixels=args.max_pixels, overwrite=args.overwrite, strength=args.strength,
                      preserve_colors=args.preserve_colors, regions=args.regions, mask=args.mask,
                      max_batch=args.batch)
        # small blocks (a few batches each, at most ~16 at scale): streaming, and a worker that dies
        # loses and redoes little (Ray Data restarts a dead actor and retries its batches)
        n, b = len(pending), args.batch
        blocks = min(n, max(args.workers, min(-(-n // b), max(4 * args.workers, -(-n // (16 * b))))))
        ds = ray.data.from_items([{"src": s} for s in pending], override_num_blocks=blocks)
        ds = ds.map_batches(sray.StylizeFiles, fn_constructor_kwargs=kwargs, batch_size=b,
                            compute=ray.data.ActorPoolStrategy(size=args.workers), num_cpus=args.worker_cpus,
                            num_gpus=args.worker_gpus or None, batch_format="numpy")
        bar = common.progress(len(pending), f"ray {method.name}", disable=args.quiet)
        t0 = time.perf_counter()
        written, done, failures, workers = 0, 0, [], set()
        for row in ds.iter_rows():
            done += 1
            workers.add(row["worker"])
            written += int(row["written"])
            if row["error"]:
                failures.append((row["src"], row["error"]))
            bar.update(1)
        bar.close()
        dt = time.perf_counter() - t0
    finally:
        if started:
            ray.shutdown()
    ok = done - len(failures)
    print(f"ray: {ok} of {done} input(s) stylized, {written} image(s) written to {dst} in {dt:.1f} s "
          f"({ok / max(dt, 1e-9):.2f} images/s; {len(workers)} worker(s) on {len({w.split(':')[0] for w in workers})} "
          f"node(s)); {len(failures)} failed")
    for s, why in failures[:MAX_LISTED_FAILURES]:
        print(f"  failed: {s}: {why}")
    if len(failures) > MAX_LISTED_FAILURES:
        print(f"  ... and {len(failures) - MAX_LISTED_FAILURES} more")
    return 0
