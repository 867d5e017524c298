"""`styljax serve --engine ray --replicas N`: the service's FastAPI app (`styljax.infer.serve_app.create_app`,
its endpoints, limits and admin-key rules unchanged) as a Ray Serve deployment, with Ray Serve's
`@serve.batch` as the batching (the optional `ray` extra; imported only by `--engine ray`).

Each replica loads the models and builds the app once (`__serve_build_asgi_app__`); `ServeBatcher`
is the app's batcher: `submit` hands a request to a `@serve.batch` method, which splits the batch
by program key (model, size bucket, regions) and runs each part through the same compiled programs
and the same one-bad-request-fails-alone step as `styljax serve` (`serving.Batcher.run_jobs`, off
the event loop). The queue bound (`--queue-size`, 503) counts a replica's requests in flight.

Not carried over: uvicorn's header timeout and keep-alive (`--header-timeout`, `--keep-alive`) are
the Serve proxy's own; the body cap and body timeout (`transport_guard.BodyGuard`, inside the app) still apply.
"""

from __future__ import annotations

import asyncio
import time

from ray import serve

from styljax.infer.serving import Batcher, Job, QueueFull


class ServeBatcher(Batcher):
    """`serving.Batcher` whose batching is `@serve.batch` (max_batch, max_wait_ms from the config).
    Its compiler thread builds the programs as before; its own batching thread is not started."""

    def __init__(self, models, cfg, metrics=None, sharding=None):
        super().__init__(models, cfg, metrics, sharding)
        self._in_flight = 0
        self._batched.set_max_batch_size(cfg.max_batch)
        self._batched.set_batch_wait_timeout_s(cfg.max_wait_ms / 1000)

    def _loop(self) -> None:  # Ray Serve batches: the base class's worker has nothing to do
        return

    @property
    def depth(self) -> int:
        return self._in_flight

    def submit(self, job: Job):
        job.key(self.cfg.buckets)  # an image no bucket holds is refused here
        if self._closed:
            raise QueueFull("shutting down")
        if self._in_flight >= self.cfg.queue_size:
            raise QueueFull(f"queue full ({self.cfg.queue_size} waiting)")
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._batched(job))
        task.add_done_callback(lambda t: self._done(job, t))
        return job.future

    def _done(self, job: Job, task) -> None:
        self._in_flight -= 1
        if not task.cancelled() and task.exception() is not None and not job.future.done():
            job.future.set_exception(task.exception())

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def _batched(self, jobs: list[Job]) -> list[None]:
        groups: dict[tuple, list[Job]] = {}
        for j in jobs:
            groups.setdefault(j.key(self.cfg.buckets), []).append(j)
        for key, group in groups.items():
            await asyncio.to_thread(self.run_jobs, key, group)  # resolves each job's future
        return [None] * len(jobs)


def deployment(paths: dict, cfg, replicas: int, warmup: str = "background", num_cpus: float = 1.0,
               num_gpus: float = 0.0):
    """The bound Serve application: `replicas` copies of the service over the models at `paths`."""

    @serve.deployment(name="styljax", num_replicas=replicas,
                      ray_actor_options={"num_cpus": num_cpus, **({"num_gpus": num_gpus} if num_gpus else {})})
    @serve.ingress()
    class Styljax:
        def __init__(self, paths: dict, cfg, warmup: str):
            from styljax.infer import serve, serve_app

            self.styljax_app = serve_app.create_app(serve_app.load_models(paths), cfg, batcher_class=ServeBatcher)
            serve.warmup(self.styljax_app, warmup)

        def __serve_build_asgi_app__(self):
            return self.styljax_app

    return Styljax.bind(paths, cfg, warmup)


def run(args, paths: dict, cfg) -> int:
    """Start (or join, `--ray-address`) a Ray cluster, run the deployment on `--host`/`--port`, and
    serve until interrupted."""
    import ray

    if not ray.is_initialized():
        ray.init(address=args.ray_address, include_dashboard=False, logging_level="WARNING")
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(deployment(paths, cfg, args.replicas, args.warmup), name="styljax",
              route_prefix="/")
    print(f"styljax serve (ray, {args.replicas} replica(s)): http://{args.host}:{args.port}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        serve.shutdown()
