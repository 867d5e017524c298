"""The service's transport hardening (issue #23): what a hostile client can do before the app runs.

`BodyGuard` (ASGI middleware) counts each request body's bytes as they stream in and stops at the
cap with 413, whatever the headers say, and gives the body a deadline (408). `guarded_h11` is
uvicorn's h11 protocol with a deadline for each request's headers (408, connection closed) and
malformed requests answered as JSON. `uvicorn_config` puts the service's settings together.
"""

import asyncio
import json
import logging

log = logging.getLogger("styljax.serve")

CLOSE = {"Connection": "close"}


class BodyGuard:
    """ASGI middleware: counts a request's body bytes as they stream in and stops at `cap` with 413,
    whatever Content-Length or Transfer-Encoding say (a declared length over the cap is refused
    before reading), and gives the whole body `timeout_s` to arrive (408). `reject(scope, status,
    message)` makes the JSON answer. The HTTP exceptions raised inside `receive` reach the app's
    handlers through FastAPI's body parsing; whatever escapes is answered here."""

    def __init__(self, app, cap: int, timeout_s: float, reject):
        self.app, self.cap, self.timeout_s, self.reject = app, cap, timeout_s, reject

    async def __call__(self, scope, receive, send):
        from starlette.exceptions import HTTPException

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = [v for k, v in scope["headers"] if k == b"content-length"]
        if declared and not all(v.strip().isdigit() for v in declared):
            return await self.reject(scope, 400, "bad Content-Length", CLOSE)(scope, receive, send)
        if declared and max(int(v) for v in declared) > self.cap:
            return await self.reject(scope, 413, f"upload larger than {self.cap} bytes", CLOSE)(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        seen, done, started = 0, False, False
        has_body = any(k == b"transfer-encoding" or k == b"content-length" and v.strip() != b"0"
                       for k, v in scope["headers"])

        async def guarded_receive():
            nonlocal seen, done
            if done:  # the body is in: later calls wait for a disconnect, untimed
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.timeout_s:g} s") from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.cap:
                    raise HTTPException(413, f"upload larger than {self.cap} bytes")
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if has_body and not done:  # answered before the body was read: do not read the rest
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except HTTPException as e:
            if started or e.status_code not in (408, 413):
                raise
            await self.reject(scope, e.status_code, str(e.detail), CLOSE)(scope, receive, send)


def guarded_h11(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol with a deadline for each request's headers: uvicorn times out idle
    keep-alive connections but not a client sending its headers a byte at a time (or nothing after
    connecting). Past the deadline the connection gets a 408 JSON answer and is closed. Malformed
    requests get uvicorn's 400 as JSON."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    def raw(status: int, reason: str, message: str) -> bytes:
        body = json.dumps({"error": message}).encode()
        return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode() + body

    class GuardedH11(H11Protocol):
        _header_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # a new request's headers start arriving
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # headers complete: the app's body timeout takes over

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def _arm(self):
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_timed_out)

        def _disarm(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self):
            self._header_timer = None
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            client = self.client[0] if self.client else "-"
            log.warning("%s - - -> 408 request headers did not arrive within %g s", client, header_timeout_s)
            self.transport.write(raw(408, "Request Timeout", f"request headers did not arrive within {header_timeout_s:g} s"))
            self.transport.close()

        def send_400_response(self, msg: str) -> None:
            log.warning("%s - - -> 400 %s", self.client[0] if self.client else "-", msg)
            self.transport.write(raw(400, "Bad Request", msg))
            self.transport.close()

    return GuardedH11


def uvicorn_config(app, cfg, host: str = "127.0.0.1", port: int = 8000, **kw):
    """uvicorn settings of the service: the guarded h11 protocol (header deadline), keep-alive timeout."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, http=guarded_h11(cfg.header_timeout_s),
                          timeout_keep_alive=cfg.keep_alive_s, log_level="warning", **kw)

