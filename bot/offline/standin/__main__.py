"""Run the Bot API stand-in standalone: ``python -m bot.offline.standin --port 8081``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from bot.offline.standin.server import STANDIN_TOKEN, BotAPIStandIn


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.offline.standin",
        description="Serve a local stand-in for Telegram's Bot API until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="TCP port (default 8081)")
    parser.add_argument("--token", default=STANDIN_TOKEN, help="bot token to accept")
    parser.add_argument("--bot-username", default="alliance_test_bot", help="bot username")
    parser.add_argument("--global-rate", type=float, default=None, help="messages/s overall")
    parser.add_argument("--per-chat-rate", type=float, default=None, help="messages/s per chat")
    parser.add_argument(
        "--group-per-minute", type=float, default=None, help="messages/minute per group"
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    standin = BotAPIStandIn(
        token=args.token,
        bot_username=args.bot_username,
        host=args.host,
        port=args.port,
        global_rate=args.global_rate,
        per_chat_rate=args.per_chat_rate,
        group_per_minute=args.group_per_minute,
    )
    async with standin:
        # The token is deliberately not printed: whoever started us passed it in.
        print(f"Bot API stand-in: base_url {standin.base_url}", flush=True)
        print(f"control API: {standin.url}/control/ (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m bot.offline.standin``."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
