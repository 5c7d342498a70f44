"""A local stand-in for Telegram's Bot API HTTP server, for end-to-end tests and demos.

The real python-telegram-bot ``Application``/``Bot`` talks to it over HTTP through
``base_url`` (``http://127.0.0.1:PORT/bot``); only the HTTP boundary is faked. It runs in
the caller's asyncio loop (``async with BotAPIStandIn() as tg: ...``) or standalone
(``python -m bot.offline.standin --port 8081``).

Bot API (``/bot<token>/<method>``, GET or POST; query string, urlencoded, multipart or JSON):
    getMe, getUpdates (long polling), setWebhook, deleteWebhook, getWebhookInfo,
    sendMessage, editMessageText, editMessageCaption, editMessageReplyMarkup, deleteMessage,
    answerCallbackQuery, sendPhoto, sendDocument, sendMediaGroup, sendChatAction,
    setMyCommands, getMyCommands, deleteMyCommands, setChatMenuButton, getChatMenuButton,
    getChat, getFile (+ ``/file/bot<token>/<path>`` downloads), close, logOut.
    Anything else answers 404 "Not Found", a wrong token 401 "Unauthorized" (404 if malformed).

Control API (JSON; for the standalone mode and for bots/benchmarks in another process):
    POST /control/users/{id}/text     {"text", "first_name"?, "username"?, "chat_id"?}
    POST /control/users/{id}/command  {"command", "args"?}
    POST /control/users/{id}/press    {"message_id", "callback_data" | "button_text"}
    GET  /control/chats/{id}/messages   messages as the user sees them (file bytes as sizes)
    GET  /control/calls?since=N         recorded Bot API calls from index N
    POST /control/faults   {"method", "error_code", "description"?, "retry_after"?,
                            "chat_id"?, "count"?}
                         | {"drop": N, "method"?} | {"block"|"unblock"|"deactivate": id}
    POST /control/limits   {"global_rate", "per_chat_rate", "per_chat_burst"?, "group_per_minute"?}
    GET  /control/stats    counts per method and error code, 429s sent, update counters
    The control API has no authentication: bind to 127.0.0.1 (the default).

Deliberate differences from Telegram (all documented at the relevant code):
    * webhooks may use http:// (Telegram requires https on ports 443/80/88/8443);
    * HTML parse mode rejects a bare ``&`` (see ``formatting.py``; switch off with
      ``strict_html_entities = False``); Markdown/MarkdownV2 are refused with a clear 400;
    * message length is counted in Unicode code points.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from aiohttp import web

from bot.offline.standin.models import (
    ApiCall,
    CallbackAnswer,
    ChatMessage,
    FakeChat,
    FakeUser,
    WebhookDelivery,
)
from bot.offline.standin.params import ApiError, Params, read_request_params
from bot.offline.standin.ratelimit import FloodControl
from bot.offline.standin.world import ChatState, World

__all__ = ["BotAPIStandIn"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Update types Telegram sends when allowed_updates is empty or was never set.
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Sends count against the ~30 messages/second overall limit; edits only against the chat's.
_GLOBALLY_COUNTED = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup"})
_CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_MAX_BODY = 60 * 1024 * 1024
# A token of the real shape (digits:35 characters) that Telegram never issued: the bot
# checks tokens as in production, with no carve-out for tests.
STANDIN_TOKEN = "123456789:AA-local-stand-in-token-not-real"


@dataclass
class _Fault:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    chat_id: int | None
    remaining: int


@dataclass
class _Disruption:
    method: str
    remaining: int
    after_processing: bool = False
    seconds: float | None = None
    chat_id: int | None = None  # only requests to this chat (stalls)


@dataclass
class _Poll:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    terminated: str | None = None


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    retry_now: asyncio.Event = field(default_factory=asyncio.Event)
    last_error_date: int | None = None
    last_error_message: str | None = None
    task: asyncio.Task[None] | None = None


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


class BotAPIStandIn:
    """Fake Telegram Bot API server with simulated users, fault injection and observation."""

    def __init__(
        self,
        *,
        token: str = STANDIN_TOKEN,
        bot_username: str = "alliance_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        clock: Callable[[], float] | None = None,
        per_chat_burst: int = 1,
        group_per_minute: float | None = None,
        wall_clock: Callable[[], float] | None = None,
        bot_first_name: str = "Alliance Check-in",
    ) -> None:
        if not _TOKEN_RE.match(token):
            raise ValueError("token must look like '<digits>:<letters, digits, _ or ->'")
        self._token = token
        self._host = host
        self._port = port
        self._clock = clock or time.monotonic
        self._world = World(
            bot_id=int(token.split(":", 1)[0]),
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            clock=self._clock,
            wall_clock=wall_clock or time.time,
        )
        self._world.gate = self._flood_gate
        self._world.on_update = self._on_update
        self._flood = FloodControl(self._clock)
        self._flood.configure(
            global_rate=global_rate,
            per_chat_rate=per_chat_rate,
            per_chat_burst=per_chat_burst,
            group_per_minute=group_per_minute,
        )
        #: Seconds (real time) before an undelivered webhook update is retried.
        self.webhook_retry_delay = 1.0
        #: Seconds (real time) the stand-in waits for the webhook to answer.
        self.webhook_timeout = 10.0
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._calls: list[ApiCall] = []
        self._faults: list[_Fault] = []
        self._drops: list[_Disruption] = []
        self._stalls: list[_Disruption] = []
        self._release = asyncio.Event()
        self._held = 0
        self._change = asyncio.Event()
        self._poll: _Poll | None = None
        self._polls_waiting = 0
        self._allowed_updates: list[str] | None = None
        self._webhook: _Webhook | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = False
        self._injected = 0
        self._fetched = 0
        self._internal_errors: list[str] = []
        self._methods: dict[str, tuple[str, Callable[[Params], Any]]] = {}
        for name, handler in self._sync_methods().items():
            self._methods[name.lower()] = (name, handler)
        self._async_methods: dict[str, Callable[[Params], Awaitable[Any]]] = {
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "close": self._close_or_log_out,
            "logOut": self._close_or_log_out,
        }
        for name in self._async_methods:
            self._methods[name.lower()] = (name, self._unreachable)

    def _sync_methods(self) -> dict[str, Callable[[Params], Any]]:
        world = self._world
        return {
            "getMe": world.get_me,
            "sendMessage": world.send_message,
            "editMessageText": world.edit_message_text,
            "editMessageCaption": world.edit_message_caption,
            "editMessageReplyMarkup": world.edit_message_reply_markup,
            "deleteMessage": world.delete_message,
            "answerCallbackQuery": world.answer_callback_query,
            "sendPhoto": world.send_photo,
            "sendDocument": world.send_document,
            "sendMediaGroup": world.send_media_group,
            "sendChatAction": world.send_chat_action,
            "setMyCommands": world.set_my_commands,
            "getMyCommands": world.get_my_commands,
            "deleteMyCommands": world.delete_my_commands,
            "setChatMenuButton": world.set_chat_menu_button,
            "getChatMenuButton": world.get_chat_menu_button,
            "getChat": world.get_chat,
            "getFile": world.get_file,
        }

    @staticmethod
    def _unreachable(params: Params) -> Any:
        raise AssertionError("async Bot API methods are dispatched separately")

    # ================================================================= lifecycle

    async def start(self) -> None:
        """Start serving on ``host:port`` in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the stand-in is already running")
        self._stopping = False
        # asyncio primitives bind to the loop that first waits on them: start afresh here.
        self._change = asyncio.Event()
        self._release = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._add_control_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        # access_log=None: request paths contain the bot token, which must never be logged.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        self._session = aiohttp.ClientSession()
        if self._webhook is not None:
            self._start_webhook_task(self._webhook)

    async def stop(self) -> None:
        """Stop serving; held getUpdates calls return, webhook delivery stops."""
        self._stopping = True
        if self._poll is not None:
            self._poll.wake.set()
        self._release.set()
        if self._webhook is not None and self._webhook.task is not None:
            await self._cancel_task(self._webhook.task)
            self._webhook.task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._bump()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @staticmethod
    async def _cancel_task(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ================================================================= identity

    @property
    def token(self) -> str:
        """The bot token the stand-in accepts."""
        return self._token

    @property
    def bot_id(self) -> int:
        """The bot's user id (the token's numeric prefix)."""
        return self._world.bot_id

    @property
    def bot_username(self) -> str:
        """The bot's username (without '@')."""
        return self._world.bot_username

    @property
    def port(self) -> int:
        """The TCP port (known after ``start`` when constructed with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:8081``."""
        if self._runner is None and self._port == 0:
            raise RuntimeError("start() the stand-in first: the port is chosen on start")
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url`` (PTB appends ``<token>/<method>``)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for PTB's ``base_file_url`` (file downloads after getFile)."""
        return f"{self.url}/file/bot"

    @property
    def strict_html_entities(self) -> bool:
        """Whether a bare '&' in HTML text is refused (default True; Telegram shows it)."""
        return self._world.strict_html_entities

    @strict_html_entities.setter
    def strict_html_entities(self, value: bool) -> None:
        self._world.strict_html_entities = value

    @property
    def callback_query_timeout(self) -> float:
        """Seconds on ``clock`` within which a callback query can be answered (default 15)."""
        return self._world.callback_query_timeout

    @callback_query_timeout.setter
    def callback_query_timeout(self, value: float) -> None:
        self._world.callback_query_timeout = value

    # ================================================================= HTTP: Bot API

    def _error_body(self, error: ApiError) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": error.error_code,
            "description": error.description,
        }
        if error.retry_after is not None:
            body["parameters"] = {"retry_after": error.retry_after}
        return body

    def _record(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        result: Any = None,
        error: ApiError | None = None,
        http_method: str = "POST",
    ) -> ApiCall:
        call = ApiCall(
            index=len(self._calls),
            method=method,
            params=dict(params),
            ok=error is None,
            error_code=error.error_code if error else None,
            description=error.description if error else None,
            at=self._clock(),
            result=copy.deepcopy(result),
            retry_after=error.retry_after if error else None,
            http_method=http_method,
        )
        self._calls.append(call)
        if error is not None:
            _LOGGER.debug("stand-in %s -> %s", method, error.error_code)
        self._bump()
        return call

    async def _handle_not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._error_body(ApiError(404, "Not Found")), status=404)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        requested = request.match_info["method"]
        entry = self._methods.get(requested.lower())
        method = entry[0] if entry else requested
        if token != self._token:
            # Telegram: 401 for a well-formed but wrong token, 404 for a malformed one.
            error = (
                ApiError(401, "Unauthorized")
                if _TOKEN_RE.match(token)
                else ApiError(404, "Not Found")
            )
            self._record(method, {}, error=error, http_method=request.method)
            return web.json_response(self._error_body(error), status=error.error_code)
        try:
            params = await read_request_params(request)
        except ApiError as error:
            self._record(method, {}, error=error, http_method=request.method)
            return web.json_response(self._error_body(error), status=error.error_code)

        drop = self._take_disruption(self._drops, method)
        if drop is not None and not drop.after_processing:
            self._record(method, params.recorded(), error=ApiError(0, "connection dropped"))
            return self._abort(request)
        stall = self._take_disruption(self._stalls, method, params.values.get("chat_id"))
        if stall is not None:
            await self._stall(stall.seconds)

        fault = self._take_fault(method, params)
        if fault is not None:
            self._record(method, params.recorded(), error=fault, http_method=request.method)
            return web.json_response(self._error_body(fault), status=fault.error_code)

        try:
            if entry is None:
                raise ApiError(404, "Not Found")
            if method in self._async_methods:
                result = await self._async_methods[method](params)
            else:
                result = entry[1](params)
        except ApiError as error:
            self._record(method, params.recorded(), error=error, http_method=request.method)
            return web.json_response(self._error_body(error), status=error.error_code)
        except Exception as exc:
            # A stand-in bug must fail the test loudly, not look like a Telegram answer.
            # Frames and type, not the message: it may quote request values (message texts).
            _LOGGER.error(
                "stand-in internal error in %s: %s\n%s",
                method,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            self._internal_errors.append(f"{method}: {type(exc).__name__}")
            internal = ApiError(500, "Internal Server Error")
            self._record(method, params.recorded(), error=internal, http_method=request.method)
            return web.json_response(self._error_body(internal), status=500)

        self._record(method, params.recorded(), result=result, http_method=request.method)
        if drop is not None:
            return self._abort(request)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _abort(request: web.Request) -> web.StreamResponse:
        # Closing the socket without an answer looks like a network failure to the client.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    async def _stall(self, seconds: float | None) -> None:
        if self._stopping:
            return
        self._held += 1
        self._bump()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), seconds)
        finally:
            self._held -= 1

    def _take_disruption(
        self, items: list[_Disruption], method: str, chat_id: Any = None
    ) -> _Disruption | None:
        for item in items:
            if item.chat_id is not None and str(item.chat_id) != str(chat_id):
                continue
            if item.method in ("*", method) or item.method.lower() == method.lower():
                item.remaining -= 1
                if item.remaining <= 0:
                    items.remove(item)
                return item
        return None

    def _take_fault(self, method: str, params: Params) -> ApiError | None:
        chat_id = params.values.get("chat_id")
        for fault in self._faults:
            if fault.method not in ("*", method) and fault.method.lower() != method.lower():
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return ApiError(fault.error_code, fault.description, retry_after=fault.retry_after)
        return None

    def _flood_gate(self, chat: ChatState, method: str, cost: int) -> None:
        retry_after = self._flood.check(
            chat.info.id,
            is_group=chat.info.is_group,
            cost=cost,
            counts_globally=method in _GLOBALLY_COUNTED,
        )
        if retry_after is not None:
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._token:
            return web.json_response(self._error_body(ApiError(404, "Not Found")), status=404)
        stored = self._world.file_by_path(request.match_info["path"])
        if stored is None or stored.data is None:
            return web.json_response(self._error_body(ApiError(404, "Not Found")), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # ================================================================= updates

    def _on_update(self) -> None:
        self._injected += 1
        if self._poll is not None:
            self._poll.wake.set()
        if self._webhook is not None:
            self._webhook.wake.set()
        self._bump()

    def _allowed(self, update: Mapping[str, Any]) -> bool:
        kind = _update_type(update)
        if not self._allowed_updates:
            return kind not in _NOT_DEFAULT_UPDATES
        return kind in self._allowed_updates

    def _deliverable(self) -> list[dict[str, Any]]:
        """Pending updates the bot asked for; others are dropped, as Telegram never keeps them."""
        kept = [u for u in self._world.updates if self._allowed(u)]
        if len(kept) != len(self._world.updates):
            self._world.updates = kept
            self._bump()
        return kept

    def _set_allowed_updates(self, value: Any) -> None:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            self._allowed_updates = list(value)

    def _terminate_poll(self, reason: str) -> None:
        if self._poll is not None:
            self._poll.terminated = reason
            self._poll.wake.set()
            self._poll = None

    async def _get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset = params.get_int("offset")
        limit = params.get_int("limit")
        timeout = params.get_float("timeout") or 0.0
        if params.has("allowed_updates"):
            self._set_allowed_updates(params.get_json("allowed_updates"))
        limit = 100 if limit is None or limit <= 0 else min(limit, 100)
        if offset is not None:
            if offset < 0:
                self._world.keep_last(-offset)
            elif offset > 0:
                self._world.confirm_before(offset)
            self._bump()
        # Telegram answers the older of two overlapping polls with 409 Conflict.
        self._terminate_poll(_CONFLICT_OTHER_POLL)
        poll = _Poll()
        self._poll = poll
        self._polls_waiting += 1
        self._bump()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(timeout, 0.0), 3600.0)
        try:
            while True:
                if poll.terminated is not None:
                    raise ApiError(409, poll.terminated)
                ready = self._deliverable()
                remaining = deadline - loop.time()
                if ready or self._stopping or remaining <= 0:
                    break
                poll.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.wake.wait(), remaining)
        finally:
            self._polls_waiting -= 1
            if self._poll is poll:
                self._poll = None
        batch = copy.deepcopy(ready[:limit])
        self._fetched += len(batch)
        return batch

    # ================================================================= webhook

    async def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        if not url:
            return await self._delete_webhook(params)
        # Telegram insists on https; local tests need plain http, so both are accepted.
        if not url.lower().startswith(("https://", "http://")):
            raise ApiError.bad_request("bad webhook: HTTPS url must be provided for webhook")
        secret = params.get_str("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise ApiError.bad_request("secret token contains unallowed characters")
        max_connections = params.get_int("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise ApiError.bad_request("bad webhook: max_connections must be between 1 and 100")
        if params.has("allowed_updates"):
            self._set_allowed_updates(params.get_json("allowed_updates"))
        if params.get_bool("drop_pending_updates"):
            self._world.updates.clear()
        self._terminate_poll("Conflict: terminated by setWebhook request")
        await self._stop_webhook()
        hook = _Webhook(url=url, secret_token=secret, max_connections=max_connections)
        self._webhook = hook
        if self._runner is not None:
            self._start_webhook_task(hook)
        return True

    async def _delete_webhook(self, params: Params) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._world.updates.clear()
            self._bump()
        await self._stop_webhook()
        return True

    async def _stop_webhook(self) -> None:
        hook = self._webhook
        self._webhook = None
        if hook is not None and hook.task is not None and hook.task is not asyncio.current_task():
            await self._cancel_task(hook.task)

    async def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._world.updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
        return info

    async def _close_or_log_out(self, params: Params) -> bool:
        return True

    def _start_webhook_task(self, hook: _Webhook) -> None:
        hook.task = asyncio.create_task(self._webhook_loop(hook), name="standin-webhook")

    async def _webhook_loop(self, hook: _Webhook) -> None:
        """Deliver pending updates one at a time, in order, retrying until a 2xx answer."""
        while self._webhook is hook and not self._stopping:
            ready = self._deliverable()
            if not ready:
                hook.wake.clear()
                await hook.wake.wait()
                continue
            update = ready[0]
            status, error = await self._post_update(hook, update)
            update_id = int(update["update_id"])
            self.webhook_deliveries.append(
                WebhookDelivery(update_id=update_id, status=status, error=error, at=self._clock())
            )
            if status is not None and 200 <= status < 300:
                self._world.updates = [u for u in self._world.updates if u is not update]
                self._fetched += 1
                self._bump()
                continue
            hook.last_error_date = self._world.now()
            hook.last_error_message = error
            self._bump()
            hook.retry_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hook.retry_now.wait(), self.webhook_retry_delay)

    async def _post_update(self, hook: _Webhook, update: dict[str, Any]) -> tuple[int | None, str]:
        if self._session is None:
            return None, "Stand-in is not running"
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with self._session.post(
                hook.url,
                data=json.dumps(update),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                await response.read()
                return response.status, (
                    f"Wrong response from the webhook: {response.status} {response.reason}"
                )
        except TimeoutError:
            return None, "Read timeout expired"
        except aiohttp.ClientConnectionError:
            return None, "Connection refused"
        except aiohttp.ClientError as exc:
            return None, f"Webhook request failed: {type(exc).__name__}"

    def retry_webhook_now(self) -> None:
        """Retry a failed webhook delivery immediately instead of after ``webhook_retry_delay``."""
        if self._webhook is not None:
            self._webhook.retry_now.set()

    # ================================================================= simulated people

    def register_user(self, user: FakeUser) -> None:
        """Make the user's private chat known, as if they had started the bot earlier."""
        self._world.register_user(user)

    def add_chat(self, chat: FakeChat) -> None:
        """Make a group/supergroup/channel known, as if the bot had been added to it."""
        self._world.add_chat(chat)

    def send_text(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: FakeChat | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user writes ``text`` (private chat unless ``chat``); returns the update."""
        return self._world.user_text(user, text, chat, reply_to_message_id)

    def send_command(
        self,
        user: FakeUser,
        command: str,
        args: str | None = None,
        *,
        chat: FakeChat | None = None,
        mention: bool = False,
    ) -> dict[str, Any]:
        """The user sends ``/command [args]``; ``mention`` uses the ``/cmd@botusername`` form."""
        name = command.lstrip("/")
        text = f"/{name}"
        if mention:
            text += f"@{self.bot_username}"
        if args:
            text += f" {args}"
        return self._world.user_text(user, text, chat, None)

    def send_sticker(
        self, user: FakeUser, *, emoji: str = "🙂", chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """The user sends a sticker."""
        stored = self._world.user_file("sticker", None)
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._world.user_message(
            user, chat, "sticker", file=None, extra={"sticker": sticker}
        )

    def send_photo(
        self,
        user: FakeUser,
        *,
        caption: str | None = None,
        data: bytes | None = None,
        chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (``data`` becomes downloadable via getFile)."""
        stored = self._world.user_file(
            "photo", data, width=1280, height=960, mime_type="image/jpeg"
        )
        return self._world.user_message(user, chat, "photo", file=stored, caption=caption)

    def send_document(
        self,
        user: FakeUser,
        *,
        filename: str = "document.pdf",
        data: bytes = b"%PDF-1.4\n",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """The user sends a file."""
        stored = self._world.user_file("document", data, filename=filename, mime_type=mime_type)
        return self._world.user_message(user, chat, "document", file=stored, caption=caption)

    def send_voice(
        self, user: FakeUser, *, duration: int = 3, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """The user sends a voice message."""
        stored = self._world.user_file("voice", b"OggS", mime_type="audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
        }
        return self._world.user_message(user, chat, "voice", extra={"voice": voice})

    def send_contact(
        self, user: FakeUser, phone_number: str = "+15555550100", *, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """The user shares their own contact."""
        contact = {"phone_number": phone_number, "first_name": user.first_name, "user_id": user.id}
        return self._world.user_message(user, chat, "contact", extra={"contact": contact})

    def send_location(
        self, user: FakeUser, latitude: float, longitude: float, *, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """The user shares a location."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._world.user_message(user, chat, "location", extra={"location": location})

    def edit_text(
        self, user: FakeUser, message_id: int, new_text: str, *, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """The user edits one of their text messages (an ``edited_message`` update)."""
        return self._world.user_edit(user, message_id, new_text, chat)

    def press_button(
        self,
        user: FakeUser,
        message_id: int,
        callback_data: str,
        *,
        chat: FakeChat | None = None,
        strict: bool = True,
    ) -> str:
        """The user taps a button of a bot message; returns the callback query id.

        With ``strict`` the message must currently show a button with that callback_data
        (a real user cannot press anything else); use ``strict=False`` for stale/forged data.
        """
        query_id, _update = self._world.user_press(
            user, message_id, callback_data, chat, strict=strict
        )
        return query_id

    def press(
        self,
        user: FakeUser,
        message_id: int,
        callback_data: str,
        *,
        chat: FakeChat | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """Like ``press_button`` but returns the whole update (``callback_query.id`` inside)."""
        _query_id, update = self._world.user_press(
            user, message_id, callback_data, chat, strict=strict
        )
        return update

    def find_button(self, chat_id: int, message_id: int, text_startswith: str) -> str:
        """The callback_data of the button whose text equals or uniquely starts with this."""
        return self._world.find_button(chat_id, message_id, text_startswith)

    def press_button_text(
        self,
        user: FakeUser,
        message_id: int,
        text_startswith: str,
        *,
        chat: FakeChat | None = None,
    ) -> str:
        """Tap the button whose text equals or uniquely starts with ``text_startswith``."""
        chat_id = chat.id if chat is not None else user.id
        data = self._world.find_button(chat_id, message_id, text_startswith)
        return self.press_button(user, message_id, data, chat=chat)

    def inject_update(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Queue an arbitrary (possibly hostile) update; update_id is assigned if missing."""
        return self._world.enqueue(raw)

    # ================================================================= faults

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` ("*" = any) with this error."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
        self._faults.append(
            _Fault(method, error_code, description, retry_after, chat_id, max(1, count))
        )

    def drop_next(
        self, count: int = 1, *, method: str = "*", after_processing: bool = False
    ) -> None:
        """Close the connection without an answer for the next ``count`` requests.

        With ``after_processing`` the request takes effect first (the message is sent) and
        only the answer is lost, which is what makes naive retries send duplicates.
        """
        self._drops.append(_Disruption(method, max(1, count), after_processing=after_processing))

    def stall_next(
        self,
        count: int = 1,
        *,
        method: str = "*",
        seconds: float | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Hold the next requests (to ``chat_id`` if given) for ``seconds``, or until
        ``release_stalled``, then process them.

        The client's read timeout fires meanwhile (PTB raises TimedOut) although the request
        still takes effect afterwards, as with a slow Telegram.
        """
        self._release.clear()
        self._stalls.append(_Disruption(method, max(1, count), seconds=seconds, chat_id=chat_id))

    def release_stalled(self) -> None:
        """Let all stalled requests proceed."""
        self._release.set()

    def clear_faults(self) -> None:
        """Forget pending fail/drop/stall instructions."""
        self._faults.clear()
        self._drops.clear()
        self._stalls.clear()
        self._release.set()

    def block_user(self, chat_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends answer 403 "Forbidden: bot was blocked by the user".

        With ``notify`` the bot gets the ``my_chat_member`` update Telegram sends. The user
        writing again (``send_text``...) unblocks it, like Telegram's "Restart" button.
        """
        self._world.set_blocked(chat_id, True, notify=notify)

    def unblock_user(self, chat_id: int, *, notify: bool = True) -> None:
        """The user unblocks the bot."""
        self._world.set_blocked(chat_id, False, notify=notify)

    def deactivate_user(self, chat_id: int) -> None:
        """The user deletes their account: sends answer 403 "Forbidden: user is deactivated"."""
        state = self._world.chats.get(chat_id)
        if state is None or state.info.type != "private":
            raise ValueError(f"no private chat {chat_id}; the user must exist first")
        state.deactivated = True

    def set_limits(
        self,
        *,
        global_rate: float | None,
        per_chat_rate: float | None,
        per_chat_burst: int | None = None,
        group_per_minute: float | None = None,
    ) -> None:
        """Change flood limits (None switches one off); accounting restarts."""
        self._flood.configure(
            global_rate=global_rate,
            per_chat_rate=per_chat_rate,
            per_chat_burst=per_chat_burst,
            group_per_minute=group_per_minute,
        )

    # ================================================================= observation

    @property
    def calls(self) -> list[ApiCall]:
        """Every Bot API request so far, oldest first (a copy)."""
        return list(self._calls)

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        """Answers to callback queries, by query id."""
        return dict(self._world.callback_answers)

    @property
    def internal_errors(self) -> list[str]:
        """Exceptions inside the stand-in (a test should fail if this is not empty)."""
        return list(self._internal_errors)

    @property
    def polls_waiting(self) -> int:
        """How many getUpdates requests are currently being held (long polling)."""
        return self._polls_waiting

    def mark(self) -> int:
        """The current number of recorded calls, for ``wait_for_call(after=...)``."""
        return len(self._calls)

    def messages(self, chat_id: int) -> list[ChatMessage]:
        """The chat's messages (user and bot, deleted ones flagged), oldest first."""
        return self._world.messages(chat_id)

    def sent_to(self, chat_id: int) -> list[ChatMessage]:
        """The bot's messages in the chat (including deleted ones, flagged)."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> ChatMessage | None:
        """The newest bot message in the chat that is not deleted, or None."""
        visible = [m for m in self.sent_to(chat_id) if not m.deleted]
        return visible[-1] if visible else None

    @property
    def stalled_requests(self) -> int:
        """Requests being held by ``stall_next`` right now."""
        return self._held

    @property
    def last_update_id(self) -> int | None:
        """The id of the newest update queued for the bot, if any."""
        newest = self._world.next_update_id - 1
        return newest if newest > 0 else None

    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by the bot (getUpdates offset or webhook 2xx)."""
        return len(self._world.updates)

    def commands(
        self, *, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands set with setMyCommands for that scope/language."""
        key = (
            json.dumps(scope or {"type": "default"}, sort_keys=True, separators=(",", ":")),
            language_code,
        )
        return copy.deepcopy(self._world.commands.get(key, []))

    def menu_for(self, chat_id: int, language_code: str = "") -> list[str]:
        """The command names a person sees in their private chat's "/" menu.

        Telegram's order for a private chat: the chat's own scope, then all private
        chats, then the default scope; within each, the user's language before none.
        The first list that is set wins.
        """
        scopes = (
            {"type": "chat", "chat_id": chat_id},
            {"type": "all_private_chats"},
            {"type": "default"},
        )
        for scope in scopes:
            languages = (language_code, "") if language_code else ("",)
            for language in languages:
                found = self.commands(scope=scope, language_code=language)
                if found:
                    return [command["command"] for command in found]
        return []

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any] | None:
        """Menu button set with setChatMenuButton for the chat (None = the default one)."""
        button = self._world.menu_buttons.get(chat_id)
        return copy.deepcopy(button) if button else None

    def stats(self) -> dict[str, Any]:
        """Counters for benchmarks and the control API."""
        by_method = Counter(call.method for call in self._calls)
        by_error = Counter(str(call.error_code) for call in self._calls if not call.ok)
        return {
            "calls": len(self._calls),
            "by_method": dict(by_method),
            "errors": dict(by_error),
            "rate_limited": self._flood.rejections,
            "too_many_requests_sent": by_error.get("429", 0),
            "updates_injected": self._injected,
            "updates_fetched": self._fetched,
            "updates_pending": len(self._world.updates),
            "webhook_deliveries": len(self.webhook_deliveries),
            "polls_waiting": self._polls_waiting,
            "internal_errors": len(self._internal_errors),
        }

    def _bump(self) -> None:
        # Wake every waiter; a fresh Event per change works like Condition.notify_all but can
        # also be triggered from synchronous code (user actions, update injection).
        self._change.set()
        self._change = asyncio.Event()

    # The timeout parameters below are the agreed test-facing API (an assertion deadline),
    # hence noqa ASYNC109 rather than asking every caller to wrap in asyncio.timeout().
    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> T:
        """Wait until ``predicate()`` returns something other than None/False; return it.

        Re-evaluated after every recorded call and state change (no polling). On timeout an
        AssertionError summarises the recent calls (methods and errors, never texts).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._change
            value = predicate()
            if value is not None and value is not False:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(timeout))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _timeout_report(self, timeout: float) -> str:
        recent = self._calls[-15:]
        lines = [f"condition not met within {timeout:g}s; last {len(recent)} of "]
        lines[0] += f"{len(self._calls)} calls:"
        lines += [f"  {call.summary()}" for call in recent] or ["  (no calls at all)"]
        lines.append(
            f"pending updates: {len(self._world.updates)}, getUpdates held: {self._polls_waiting}, "
            f"webhook: {'set' if self._webhook else 'none'}"
        )
        if self._internal_errors:
            lines.append(f"stand-in internal errors: {self._internal_errors[-3:]}")
        return "\n".join(lines)

    async def wait_for_call(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> ApiCall:
        """The first call of ``method`` (to ``chat_id``) with index >= ``after``."""

        def find() -> ApiCall | None:
            for call in self._calls[after:]:
                if call.method == method and (chat_id is None or call.chat_id == chat_id):
                    return call
            return None

        return await self.wait_for(find, timeout)

    async def wait_until_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has fetched and confirmed every queued update."""
        await self.wait_for(lambda: not self._world.updates, timeout)

    # ================================================================= HTTP: control API

    def _add_control_routes(self, app: web.Application) -> None:
        app.router.add_post("/control/users/{id}/text", self._control_text)
        app.router.add_post("/control/users/{id}/command", self._control_command)
        app.router.add_post("/control/users/{id}/press", self._control_press)
        app.router.add_get("/control/chats/{id}/messages", self._control_messages)
        app.router.add_get("/control/calls", self._control_calls)
        app.router.add_post("/control/faults", self._control_faults)
        app.router.add_post("/control/limits", self._control_limits)
        app.router.add_get("/control/stats", self._control_stats)

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError as exc:
            raise web.HTTPBadRequest(text="body must be a JSON object") from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return body

    def _control_user(self, request: web.Request, body: Mapping[str, Any]) -> FakeUser:
        try:
            user_id = int(request.match_info["id"])
        except ValueError as exc:
            raise web.HTTPBadRequest(text="user id must be an integer") from exc
        known = self._world.users.get(user_id)
        if known is not None and "first_name" not in body and "username" not in body:
            return known
        return FakeUser(
            id=user_id,
            first_name=str(
                body.get("first_name") or (known.first_name if known else f"User{user_id}")
            ),
            username=body.get("username") or (known.username if known else None),
        )

    def _control_chat(self, body: Mapping[str, Any]) -> FakeChat | None:
        chat_id = body.get("chat_id")
        if chat_id is None:
            return None
        state = self._world.chats.get(int(chat_id))
        if state is None:
            raise web.HTTPBadRequest(text="unknown chat_id; groups must be added first")
        return state.info

    @staticmethod
    def _control_ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _control_error(exc: Exception) -> web.Response:
        return web.json_response({"ok": False, "description": str(exc)}, status=400)

    async def _control_text(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        user = self._control_user(request, body)
        text = body.get("text")
        if not isinstance(text, str):
            return self._control_error(ValueError("text must be a string"))
        try:
            return self._control_ok(self.send_text(user, text, chat=self._control_chat(body)))
        except ValueError as exc:
            return self._control_error(exc)

    async def _control_command(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        user = self._control_user(request, body)
        try:
            update = self.send_command(
                user,
                str(body.get("command", "start")),
                body.get("args"),
                chat=self._control_chat(body),
            )
        except ValueError as exc:
            return self._control_error(exc)
        return self._control_ok(update)

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        user = self._control_user(request, body)
        chat = self._control_chat(body)
        try:
            message_id = int(body["message_id"])
            if "button_text" in body:
                query_id = self.press_button_text(
                    user, message_id, str(body["button_text"]), chat=chat
                )
            else:
                query_id = self.press_button(
                    user, message_id, str(body["callback_data"]), chat=chat
                )
        except (KeyError, ValueError) as exc:
            return self._control_error(exc)
        return self._control_ok({"callback_query_id": query_id})

    async def _control_messages(self, request: web.Request) -> web.Response:
        try:
            chat_id = int(request.match_info["id"])
        except ValueError:
            return self._control_error(ValueError("chat id must be an integer"))
        return self._control_ok([_message_json(m) for m in self.messages(chat_id)])

    async def _control_calls(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return self._control_error(ValueError("since must be an integer"))
        return self._control_ok([_call_json(call) for call in self._calls[since:]])

    async def _control_faults(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        try:
            if "drop" in body:
                self.drop_next(int(body["drop"]), method=str(body.get("method", "*")))
            elif "block" in body:
                self.block_user(int(body["block"]))
            elif "unblock" in body:
                self.unblock_user(int(body["unblock"]))
            elif "deactivate" in body:
                self.deactivate_user(int(body["deactivate"]))
            else:
                self.fail_next(
                    str(body["method"]),
                    error_code=int(body["error_code"]),
                    description=body.get("description"),
                    retry_after=body.get("retry_after"),
                    chat_id=body.get("chat_id"),
                    count=int(body.get("count", 1)),
                )
        except (KeyError, ValueError, TypeError) as exc:
            return self._control_error(exc)
        return self._control_ok(True)

    async def _control_limits(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        try:
            self.set_limits(
                global_rate=body.get("global_rate"),
                per_chat_rate=body.get("per_chat_rate"),
                per_chat_burst=body.get("per_chat_burst"),
                group_per_minute=body.get("group_per_minute"),
            )
        except (ValueError, TypeError) as exc:
            return self._control_error(exc)
        return self._control_ok(True)

    async def _control_stats(self, request: web.Request) -> web.Response:
        return self._control_ok(self.stats())


def _jsonable(value: Any) -> Any:
    """Make recorded values JSON-safe (uploaded files become descriptions)."""
    describe = getattr(value, "describe", None)
    if callable(describe):
        return describe()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return {"size": len(value)}
    return value


def _call_json(call: ApiCall) -> dict[str, Any]:
    return {
        "index": call.index,
        "method": call.method,
        "params": _jsonable(dict(call.params)),
        "ok": call.ok,
        "error_code": call.error_code,
        "description": call.description,
        "retry_after": call.retry_after,
        "at": call.at,
    }


def _message_json(message: ChatMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "from_bot": message.from_bot,
        "sender_id": message.sender_id,
        "date": message.date,
        "kind": message.kind,
        "text": message.text,
        "html": message.html,
        "caption": message.caption,
        "reply_markup": [[list(b) for b in row] for row in message.reply_markup or []] or None,
        "reply_keyboard": message.reply_keyboard,
        "photo_size": len(message.photo) if message.photo is not None else None,
        "document_size": len(message.document) if message.document is not None else None,
        "filename": message.filename,
        "edit_count": message.edit_count,
        "deleted": message.deleted,
        "reply_to_message_id": message.reply_to_message_id,
    }
