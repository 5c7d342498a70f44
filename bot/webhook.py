"""The HTTP side: Telegram's webhook, /healthz and /metrics (aiohttp).

Webhook mode (`alliance-checkin run --webhook`) serves the path of WEBHOOK_URL. Each
request must carry WEBHOOK_SECRET_TOKEN in X-Telegram-Bot-Api-Secret-Token (Telegram
sends it, having been given it with setWebhook); anything else gets 403 and is never
parsed. An update is handled completely before the 200 goes back, so an update
Telegram considers delivered has had its effect; if the process dies first,
Telegram delivers it again (and the processed-update table keeps a second delivery
from acting twice).

Several workers can listen on the same port (SO_REUSEPORT: the kernel spreads
connections over them) or behind any load balancer: everything they share lives in
the database.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update

from bot import metrics
from bot.services import Services

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; anything much larger is not from Telegram.
MAX_BODY = 1024 * 1024


def webhook_path(url: str) -> str:
    """The path Telegram posts to, taken from the public URL ('/' if it has none)."""
    return urlsplit(url).path or "/"


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 when it does not (for load balancers)."""
    services: Services = request.app["services"]
    reachable = await metrics.database_reachable(services.db)
    body = {"status": "ok" if reachable else "unavailable", "database": reachable}
    return web.json_response(body, status=200 if reachable else 503)


async def metrics_page(request: web.Request) -> web.Response:
    """Prometheus text exposition of the process's counters and the outbox gauge."""
    services: Services = request.app["services"]
    body, content_type = await metrics.exposition(services.db)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def make_webhook_handler(application: Any, secret: str) -> Any:
    """The handler for Telegram's POSTs: check the secret, handle the update, answer."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook: request without the right secret token rejected")
            return web.Response(status=403)
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError):
            log.warning("webhook: body is not a Telegram update; rejected")
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        # Through the update processor, as polled updates go: one person's updates in
        # order, at most UPDATE_CONCURRENCY at once (Telegram posts several concurrently).
        await application.update_processor.process_update(
            update, application.process_update(update)
        )
        return web.Response(status=200)

    return receive


def make_app(
    services: Services,
    *,
    application: Any = None,
    path: str | None = None,
    secret: str | None = None,
) -> web.Application:
    """The aiohttp app: the webhook route (when given) plus /healthz and /metrics."""
    app = web.Application(client_max_size=MAX_BODY)
    app["services"] = services
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    if application is not None and path is not None and secret is not None:
        app.router.add_post(path, make_webhook_handler(application, secret))
    return app


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listen on host:port; other workers may listen on the same port (SO_REUSEPORT)."""
    # access_log=None: paths and query strings are nobody's business in our logs.
    # shutdown_timeout: on SIGTERM, requests in flight (updates being handled) may finish.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=30.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
