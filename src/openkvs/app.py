"""OpenKvs: the ASGI application that assembles settings, a backend and the HTTP views."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import secrets
import time
from bisect import bisect_left
from typing import Any

from openkvs.backends.failures import is_storage_full
from openkvs.config import Settings
from openkvs.core.errors import ApiError, storage_full
from openkvs.core.kept_bodies import KeptBodies
from openkvs.core.reading import RecordReader
from openkvs.core.retention import delete_unnamed_stores
from openkvs.core.schema_worker import SchemaWorkers
from openkvs.core.storage import Backend
from openkvs.core.stores import StoreAccess
from openkvs.http.access_log import AccessLog, RequestFacts
from openkvs.http.answer_memo import Answer, AnswerMemo, MemoKey, memo_key
from openkvs.http.authentication import authenticate
from openkvs.http.context import ClientDisconnected, Ctx
from openkvs.http.cors import preflight
from openkvs.http.graceful_stop import GracefulStop, shutting_down
from openkvs.http.metrics_export import MetricsExport, schema_worker_metrics
from openkvs.http.ops_views import HEALTH_ROUTES, OPS_VIEWS, Readiness
from openkvs.http.plain_get import plain_get
from openkvs.http.plain_put import answer_plain_put
from openkvs.http.rate_limits import RateLimit
from openkvs.http.request_metrics import LATENCY_BUCKETS, RequestMetrics
from openkvs.http.request_shape import check_request_shape
from openkvs.http.routes import RECORD_PATH, RECORD_ROUTE, build_router, record_endpoint

log = logging.getLogger("openkvs")


class OpenKvs:
    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.public_base = settings.public_base
        self.access = StoreAccess(backend, settings.default_general_access)
        kept = KeptBodies(settings.body_cache, backend.telemetry.cache["body"])
        backend.telemetry.kept_bytes = lambda: kept.size
        self.records = RecordReader(backend, kept)
        self.schema_workers = SchemaWorkers(
            settings.validation_workers, settings.validation_timeout
        )
        self.router = build_router(self)
        self.record_endpoint = record_endpoint(self)
        self.record_limit = RateLimit(settings.rate_limit_records)
        self.store_limit = RateLimit(settings.rate_limit_store)
        self._background: list[asyncio.Task[None]] = []
        # Request ids: unique across processes by the prefix, cheap per request by the counter.
        self._id_prefix = secrets.token_hex(4)
        self._id_counter = itertools.count(1)
        self.on_started: list[Any] = []
        self.memo: AnswerMemo | None = None
        self.access_log: AccessLog | None = None  # started with the app when configured
        self.readiness = Readiness()
        self.requests = RequestMetrics()
        self.stop = GracefulStop(settings.shutdown_timeout)
        self._answer_lookups = backend.telemetry.cache["answer"]  # [hits, misses]
        # A kept answer would skip the record rate limit, a plain GET or PUT its header: none
        # with it.
        self.plain_gets = not settings.rate_limit_records
        self.plain_puts = self.plain_gets
        # Bodies kept in memory answer plain GETs too, unless large records are redirected.
        self._plain_kept = self.records.kept if settings.redirect_large_records is None else None
        # Kept answers and plain GETs are all 200s to record GETs: their numbers fetched once.
        self._record_get_numbers = (
            self.requests.numbers(RECORD_ROUTE, "GET") if settings.metrics else None
        )
        self.metrics_export = (
            MetricsExport(
                backend,
                [
                    self.requests.collect,
                    functools.partial(schema_worker_metrics, self.schema_workers),
                ],
            )
            if settings.metrics
            else None
        )

    # ASGI
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self.settings.access_log:
            self.access_log = AccessLog(json=self.settings.log_format == "json")
        await self.backend.start()
        if self.plain_gets:
            memo = AnswerMemo()
            refresh = self.backend.watch_changes(memo)
            if refresh is not None:
                memo.refresh = refresh
                self.memo = memo
        for hook in self.on_started:
            await hook(self)
        retention = self.settings.unnamed_retention
        if retention:
            self._background.append(
                asyncio.create_task(delete_unnamed_stores(self.backend, retention))
            )

    async def shutdown(self) -> None:
        await self.stop.finish()
        for task in self._background:
            task.cancel()
        await self.schema_workers.close()
        await self.backend.close()
        if self.access_log is not None:
            self.access_log.close()

    def begin_stop(self) -> None:
        """A stop signal came (serving.py): see http/graceful_stop.py."""
        self.stop.begin()

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        requests = self.requests
        requests.in_flight += 1
        task = asyncio.current_task()
        if task is not None:
            self.stop.running.add(task)
        try:
            memo = self.memo
            mkey = None
            method = scope["method"]
            if method == "GET":
                if memo is not None:
                    mkey = memo_key(scope)
                    kept = memo.lookup(mkey)
                    if kept is not None:
                        await self._send_kept(scope, send, kept, started)
                        return
                    self._answer_lookups[1] += 1
                if self.plain_gets and await self._plain_get(scope, receive, send, mkey, started):
                    return
            elif method == "PUT" and self.plain_puts:
                receive = await answer_plain_put(self, scope, receive, send, started)
                if receive is None:
                    return
            await self._general(scope, receive, send, started, mkey)
        finally:
            requests.in_flight -= 1
            if task is not None:
                self.stop.running.discard(task)

    async def _general(
        self, scope: dict[str, Any], receive: Any, send: Any, started: float, mkey: MemoKey | None
    ) -> None:
        """Any request: parsed into a `Ctx`, routed to its view."""
        ctx = self.new_ctx(scope, receive, send)
        memo = self.memo
        if memo is not None and mkey is not None:
            ctx.memo_key = mkey
            ctx.memo_generation = memo.generation
        status = 500
        try:
            status = await self._handle(ctx)
        except ClientDisconnected:
            status = 499
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self.stop.stopping or task is None or ctx.started:
                raise
            status = await self._answer_stopped(ctx, task)
        finally:
            self.note(ctx, status, started)

    def new_ctx(self, scope: dict[str, Any], receive: Any, send: Any) -> Ctx:
        return Ctx(
            scope, receive, send, self.request_id(), self.backend, self.settings.body_timeout
        )

    async def _answer_stopped(self, ctx: Ctx, task: asyncio.Task[Any]) -> int:
        """A request cancelled by the stop before its answer began: 503, not propagated."""
        task.uncancel()
        with contextlib.suppress(Exception):
            await ctx.error(shutting_down())
        return 503

    def note(self, ctx: Ctx, status: int, started: float) -> None:
        """Count the answered request for /metrics and write its access-log line."""
        seconds = time.perf_counter() - started
        route = ctx.route
        if self.metrics_export is not None:
            self.requests.observe(route, ctx.method, status, seconds, ctx.bytes_in, ctx.bytes_out)
        log = self.access_log
        if log is not None and (route not in HEALTH_ROUTES or self.settings.log_health_checks):
            facts = None
            if log.json:
                user = ctx.user.id if ctx.user is not None else None
                facts = RequestFacts(route, ctx.bytes_in, ctx.bytes_out, user)
            log.request(ctx.scope, status, seconds * 1000, ctx.request_id, facts)

    async def _send_kept(
        self, scope: dict[str, Any], send: Any, kept: Answer, started: float
    ) -> None:
        """A repeated GET answered as before (http/answer_memo.py)."""
        await send(kept.start)
        await send(kept.body)
        self._answer_lookups[0] += 1
        self._note_record_read(scope, kept.store_id, kept.user_id, kept.size, started)

    async def _plain_get(
        self,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        mkey: MemoKey | None,
        started: float,
    ) -> bool:
        """Answer a plain GET (http/plain_get.py) and say so; False leaves it to the general
        path, which also answers any failure here in its own way."""
        memo = self.memo
        generation = memo.generation if memo is not None else 0
        try:
            plain = await plain_get(self.backend, self._plain_kept, scope)
        except asyncio.CancelledError as cancelled:
            await self.fast_path_stopped(self.new_ctx(scope, receive, send), started, cancelled)
            return True
        except Exception:
            return False
        if plain is None:
            return False
        body = plain.body
        await send({"type": "http.response.start", "status": 200, "headers": plain.headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        self._note_record_read(scope, plain.store_id, plain.user_id, len(body), started)
        if memo is not None and mkey is not None:
            memo.keep_sent(
                mkey, generation, plain.store_id, plain.key, plain.user_id, plain.headers, body
            )
        return True

    async def fast_path_stopped(
        self, ctx: Ctx, started: float, cancelled: asyncio.CancelledError
    ) -> None:
        """A fast path cancelled before its answer began: by the stop, answered 503 as the
        general path would; any other cancellation goes on."""
        task = asyncio.current_task()
        if not self.stop.stopping or task is None:
            raise cancelled
        self.note(ctx, await self._answer_stopped(ctx, task), started)

    def _note_record_read(
        self, scope: dict[str, Any], store_id: str, user_id: str | None, size: int, started: float
    ) -> None:
        """A record GET answered 200 without the general path: counted as a read of its store,
        in the metrics and in the log."""
        self.backend.stores.note_read(store_id)
        seconds = time.perf_counter() - started
        numbers = self._record_get_numbers
        if numbers is not None:  # what requests.observe does, for this one route and status
            numbers.statuses[2] += 1
            numbers.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            numbers.seconds += seconds
            numbers.bytes_out += size
        log = self.access_log
        if log is not None:
            facts = RequestFacts(RECORD_ROUTE, 0, size, user_id) if log.json else None
            log.request(scope, 200, seconds * 1000, self.request_id(), facts)

    def request_id(self) -> str:
        return f"{self._id_prefix}-{next(self._id_counter):x}"

    async def _handle(self, ctx: Ctx) -> int:
        scope = ctx.scope
        try:
            override = ctx.query.get("method")
            if override:
                ctx.method = override.upper()
            if ctx.method == "OPTIONS":
                await preflight(ctx)
                return 204
            ops = OPS_VIEWS.get(scope["path"])
            if ops is not None:  # for probes and scrapers: no user token involved
                ctx.route = scope["path"]
                await ops(self, ctx)
                return ctx.status
            await authenticate(ctx)
            check_request_shape(scope)
            path = scope["path"]
            # One literal trailing slash is tolerated; an encoded one (%2F) belongs to a key.
            if len(path) > 1 and scope.get("raw_path", b"").endswith(b"/"):
                scope = {**scope, "path": path[:-1]}
            record = RECORD_PATH.match(scope["path"])
            if record is not None:
                ctx.params = record.groupdict()
                ctx.route = RECORD_ROUTE
                await self.record_endpoint.dispatch(ctx)
                return ctx.status
            scope["openkvs.ctx"] = ctx
            await self.router(scope, ctx.receive, ctx.send)
            return ctx.status
        except ClientDisconnected:
            raise
        except Exception as exc:
            return await self.answer_failure(ctx, exc)

    async def answer_failure(self, ctx: Ctx, exc: Exception) -> int:
        """Answer a request whose handling raised `exc`: its error envelope, or a 507 or 500."""
        if isinstance(exc, ApiError):
            await ctx.answer_error(exc)
            return exc.status
        if is_storage_full(exc):
            log.warning("request %s: storage is full (%s)", ctx.request_id, exc)
            await ctx.answer_error(storage_full(ctx.request_id))
            return 507
        log.error("request %s failed", ctx.request_id, exc_info=exc)
        await ctx.answer_error(
            ApiError(
                500,
                "internal-server-error",
                f"Internal server error (request id {ctx.request_id}).",
            ),
        )
        return 500
