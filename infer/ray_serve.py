"""`styljax serve --engine ray --replicas N`: the service's FastAPI app (`styljax.infer.serve_app.create_app`,
its endpoints, limits and admin-key rules unchanged) as a Ray Serve deployment, with Ray Serve's
`@serve.batch` as the batching (the optional `ray` extra; imported only by `--engine ray`).

Each replica loads the models and builds the app once (`__serve_build_asgi_app__`); `ServeBatcher`
is the app's batcher: `submit` hands a request to a `@serve.batch` method, which splits the batch
by program key (model, size bucket, regions) and runs each part through the same compiled programs
and the same one-bad-request-fails-alone step as `styljax serve` (`serving.Batcher.run_jobs`, off
the event loop). The queue bound (`--queue-size`, 503) counts a replica's requests in flight.

Styles added or removed over the admin API reach every replica: the deployment's `StyleLedger`
(a Serve deployment-scoped actor, shared by the replicas) holds each style name's latest change
and a version. Before each request a replica pulls the changes it has not applied
(`app.state.sync_styles`, `SyncStyles`); a change is made by appending it at the version the
replica checked it against, which fails if another replica changed styles meanwhile (the replica
pulls and checks again). So the rules `styljax serve` enforces (no duplicate name, the cap on added
styles, never the last style) hold over all replicas, and a replica started later (more replicas,
a restarted one) replays the changes before its first request. Like `styljax serve`'s, the changes
live in memory: they end with the deployment (or if Serve recreates a dead ledger actor).
Each answer names its replica in `X-Styljax-Replica`.

The HTTP server in front is Serve's proxy (its own uvicorn), not `styljax serve`'s guarded one
(`styljax.infer.transport_guard`): the body cap and body timeout (`BodyGuard`, inside the app)
still apply and `--keep-alive` sets the proxy's, but `--header-timeout` does not exist there (a
client sending its headers a byte at a time holds its own connection open: put a proxy with a
header timeout in front, e.g. nginx's `client_header_timeout`), and a request with both Content-Length and chunked encoding is refused
by the proxy with a plain 400 before its body is read. `bench.serve_hostile --engine ray` and
`tests/test_ray.py` run the hostile-client faults against a deployment.
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


class StyleLedger:
    """The replicas' shared record of style changes (the deployment-scoped actor `styles`): each
    (model, name)'s latest change with the version that made it. Keeping only the latest bounds it
    by the styles added and still there (plus a name per removed one), however many changes."""

    def __init__(self):
        self.version = 0
        self.latest: dict[tuple[str, str], tuple[int, tuple]] = {}

    def changes_since(self, version: int) -> tuple[int, list[tuple]]:
        if version == self.version:
            return version, []
        return self.version, [c for v, c in sorted(self.latest.values(), key=lambda vc: vc[0]) if v > version]

    def append(self, version: int, change: tuple) -> int | None:
        """Record `change` if nothing changed since `version`; the new version, else None."""
        if version != self.version:
            return None
        self.version += 1
        self.latest[(change[1], change[2])] = (self.version, change)
        return self.version


LEDGER = "styles"


class SharedStyles:
    """`create_app`'s `shared_styles` over the ledger actor (blocking calls: the app makes them off
    the event loop). The handle is looked up again if the actor was recreated."""

    def __init__(self, timeout_s: float = 30.0):
        self.timeout_s = timeout_s
        self._actor = None

    def _call(self, method: str, *args):
        import ray

        for attempt in range(2):
            if self._actor is None:
                self._actor = serve.get_deployment_actor(LEDGER)
            try:
                return ray.get(getattr(self._actor, method).remote(*args), timeout=self.timeout_s)
            except ray.exceptions.RayActorError:
                self._actor = None
                if attempt:
                    raise

    def changes_since(self, version: int):
        return self._call("changes_since", version)

    def append(self, version: int, change: tuple):
        return self._call("append", version, change)


class SyncStyles:
    """ASGI middleware: before each HTTP request, apply the style changes other replicas made
    (503 if the ledger cannot be reached); every answer names its replica."""

    def __init__(self, app, sync, replica: str):
        self.app, self.sync, self.tag = app, sync, replica.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            await asyncio.to_thread(self.sync)
        except Exception as e:  # noqa: BLE001 - the request is refused, the replica goes on
            from fastapi.responses import JSONResponse

            answer = JSONResponse({"error": f"styles unavailable ({type(e).__name__}); retry later"}, status_code=503,
                                  headers={"Retry-After": "1"})
            return await answer(scope, receive, send)

        async def tagged(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-styljax-replica", self.tag)]}
            await send(message)

        await self.app(scope, receive, tagged)


def deployment(paths: dict, cfg, replicas: int, warmup: str = "background", num_cpus: float = 1.0,
               num_gpus: float = 0.0):
    """The bound Serve application: `replicas` copies of the service over the models at `paths`,
    sharing one `StyleLedger`."""
    import ray
    from ray.serve.config import DeploymentActorConfig

    ledger = DeploymentActorConfig(name=LEDGER, actor_class=ray.remote(StyleLedger), actor_options={"num_cpus": 0})

    @serve.deployment(name="styljax", num_replicas=replicas, deployment_actors=[ledger],
                      ray_actor_options={"num_cpus": num_cpus, **({"num_gpus": num_gpus} if num_gpus else {})})
    @serve.ingress()
    class Styljax:
        def __init__(self, paths: dict, cfg, warmup: str):
            from styljax.infer import serve as cli
            from styljax.infer import serve_app

            app = serve_app.create_app(serve_app.load_models(paths), cfg, batcher_class=ServeBatcher,
                                       shared_styles=SharedStyles())
            app.state.sync_styles()  # the changes made before this replica started
            app.add_middleware(SyncStyles, sync=app.state.sync_styles, replica=serve.get_replica_context().replica_tag)
            self.styljax_app = app
            cli.warmup(self.styljax_app, warmup)

        def __serve_build_asgi_app__(self):
            return self.styljax_app

    return Styljax.bind(paths, cfg, warmup)


def run(args, paths: dict, cfg) -> int:
    """Start (or join, `--ray-address`) a Ray cluster, run the deployment on `--host`/`--port`, and
    serve until interrupted."""
    import ray

    if not ray.is_initialized():
        ray.init(address=args.ray_address, include_dashboard=False, logging_level="WARNING")
    serve.start(http_options={"host": args.host, "port": args.port, "keep_alive_timeout_s": max(1, round(args.keep_alive))})
    serve.run(deployment(paths, cfg, args.replicas, args.warmup), name="styljax",
              route_prefix="/")
    print(f"styljax serve (ray, {args.replicas} replica(s)): http://{args.host}:{args.port}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        serve.shutdown()
