"""HTTP to the Bot API over aiohttp (python-telegram-bot's BaseRequest extension point).

python-telegram-bot's default transport (httpx) spends most of a request in its
connection pool's bookkeeping: on a small machine it tops out near 250 requests per
second, below what one worker must push at Telegram's paid-broadcast rate. aiohttp,
already used for the webhook server, does the same work several times faster.
Behaviour is python-telegram-bot's own: it builds the request, reads the answer and
maps Telegram's errors; this class only moves bytes and maps network failures to
TimedOut / NetworkError as HTTPXRequest does.

Only python-telegram-bot's public API is used: BaseRequest and RequestData from
telegram.request, the errors from telegram.error. A timeout argument is either a
number, None (no timeout) or PTB's "not given" marker (BaseRequest.DEFAULT_NONE, whose
class is private), so anything that is not a number or None means "use the default".
tests/unit/test_transport.py pins this: the abstract methods of BaseRequest, and a round
trip through the stand-in with text, files and a timeout.
"""

from __future__ import annotations

from typing import Any, Final

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# Where the Application keeps its getUpdates transport (bot.app), for the polling inbox.
UPDATES_REQUEST_KEY: Final = "updates_request"


class AiohttpRequest(BaseRequest):
    """A BaseRequest on one aiohttp ClientSession with a bounded connection pool."""

    __slots__ = ("_connect_timeout", "_pool_size", "_read_timeout", "_session")

    def __init__(
        self,
        *,
        connection_pool_size: int = 32,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout (python-telegram-bot adds it to getUpdates' long-poll time)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return the HTTP status and body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        body: Any = None
        if request_data is not None:
            files = request_data.multipart_data
            fields = request_data.json_parameters
            if files:
                form = aiohttp.FormData()
                for name, value in fields.items():
                    form.add_field(name, value)
                for name, part in files.items():
                    filename, content, mime = _file_part(part)
                    form.add_field(name, content, filename=filename, content_type=mime)
                body = form
            else:
                body = aiohttp.FormData(fields)
        try:
            async with self._session.request(method, url, data=body, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from exc


class UpdatesRequest(AiohttpRequest):
    """The getUpdates transport, which also keeps the latest batch as Telegram sent it.

    The polling inbox (bot.inbox) stores every update before handling it; turning the
    parsed ``Update`` back into JSON (``Update.to_dict``) walks every object of it in
    Python and was the largest single cost of storing a tap. The updates as they arrived
    are already at hand here: ``parse_json_payload`` is python-telegram-bot's documented
    hook for reading the answer's JSON, and python-telegram-bot parses copies of these
    dicts, never the dicts themselves.
    """

    __slots__ = ("_received",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._received: dict[int, dict[str, Any]] = {}

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]
        """The answer's JSON (as python-telegram-bot reads it), its updates kept by id."""
        data = BaseRequest.parse_json_payload(payload)
        result = data.get("result")
        if isinstance(result, list):
            self._received = {
                item["update_id"]: item
                for item in result
                if isinstance(item, dict) and isinstance(item.get("update_id"), int)
            }
        return data

    def received(self, update_id: int) -> dict[str, Any] | None:
        """The update with this id from the latest batch, as Telegram sent it (None if not
        in it)."""
        return self._received.get(update_id)


def _seconds(given: object, default: float | None) -> float | None:
    """A timeout PTB passed: a number or None as given, its "not given" marker as the default."""
    if given is None:
        return None
    if isinstance(given, int | float) and not isinstance(given, bool):
        return float(given)
    return default


def _file_part(part: Any) -> tuple[str | None, Any, str | None]:
    """(filename, content, mime type) from python-telegram-bot's multipart tuple."""
    if isinstance(part, tuple):
        filename = part[0] if len(part) > 0 else None
        content = part[1] if len(part) > 1 else b""
        mime = part[2] if len(part) > 2 else None
        if hasattr(content, "read"):
            content = content.read()
        return filename, content, mime
    return None, part, None
