"""The `alliance-checkin` command line: run, therapist-invite, db upgrade, generate-key."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.clock import SystemClock
from bot.settings import ConfigError, Settings, load_settings
from storage.crypto import Cipher, KeyConfigError, generate_key

log = logging.getLogger("alliance_checkin")


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, what: str
) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary is also the first line of its --help page."""
    return sub.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")


def version() -> str:
    """The installed version of the package (the source tree's when run uninstalled)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("alliance-checkin")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alliance-checkin",
        description="Alliance Check-in: after-session alliance check-ins over Telegram.",
    )
    parser.add_argument("--version", action="version", version=f"alliance-checkin {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = _command(sub, "run", "apply pending migrations, then run the bot (long polling)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates by webhook (WEBHOOK_URL, WEBHOOK_SECRET_TOKEN, WEBHOOK_LISTEN, "
        "WEBHOOK_PORT) instead of long polling; several workers may share the port",
    )
    invite = _command(sub, "therapist-invite", "print a single-use therapist invitation link")
    invite.add_argument("--name", required=True, help="the therapist's name, shown to clients")
    _therapist_commands(sub)
    db = _command(sub, "db", "database maintenance: migrations up and down, where it stands")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    _command(db_sub, "upgrade", "apply every pending migration")
    _command(db_sub, "current", "print the database's schema revision and whether it is current")
    _command(db_sub, "history", "list every migration this version ships, marking the current")
    downgrade = _command(
        db_sub,
        "downgrade",
        "revert migrations down to REVISION (before installing an older version; back up first)",
    )
    downgrade.add_argument(
        "revision", help="the revision to go back to (from `db history`), or -1 for one step"
    )
    _command(sub, "generate-key", "print a new encryption key for ENCRYPTION_KEYS")
    rotate = _command(
        sub,
        "rotate-keys",
        "re-encrypt all stored text under the newest key in ENCRYPTION_KEYS (idempotent)",
    )
    rotate.add_argument(
        "--batch-size", type=int, default=500, help="rows per transaction (default 500)"
    )
    audit_log = _command(
        sub, "audit", "print the audit log: reads, exports and erasures (never content)"
    )
    audit_log.add_argument("--days", type=int, default=30, help="how far back (default 30)")
    instrument = _command(sub, "instrument", "questionnaire files (docs/instruments.md)")
    instrument_sub = instrument.add_subparsers(
        dest="instrument_command", required=True, metavar="ACTION"
    )
    instrument_check = _command(
        instrument_sub, "check", "check an instrument file; print every finding, exit 1 on errors"
    )
    instrument_check.add_argument("path", help="the .toml file, e.g. prompts/instruments/x.toml")
    _command(
        sub, "doctor", "check settings, database, keys, templates and the token; one line each"
    )
    demo = _command(
        sub, "demo", "play eight weeks of an invented practice offline and print the digest"
    )
    demo.add_argument("--fast", action="store_true", help="fewer weeks (for CI)")
    demo.add_argument("--keep", action="store_true", help="keep the demo database")
    demo.add_argument(
        "--out",
        default="alliance-demo-charts",
        help="folder for the digest's chart images (default: ./alliance-demo-charts)",
    )
    return parser


def _therapist_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    therapist = _command(sub, "therapist", "list, deactivate or reactivate therapists")
    actions = therapist.add_subparsers(dest="therapist_command", required=True, metavar="ACTION")
    _command(actions, "list", "list every therapist: id, name, state and clients taking part")
    deactivate = _command(
        actions,
        "deactivate",
        "stop a therapist's check-ins and digests; their clients are told kindly, data is kept",
    )
    deactivate.add_argument("id", type=int, help="the therapist's id (from `therapist list`)")
    reactivate = _command(
        actions, "reactivate", "let a deactivated therapist's check-ins and digests resume"
    )
    reactivate.add_argument("id", type=int, help="the therapist's id (from `therapist list`)")


class _AlembicChatter(logging.Filter):
    """Drops Alembic's start-up notes on every run; keeps "Running upgrade …" lines."""

    NOISE = ("Context impl ", "Will assume ")

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the two notes Alembic logs each time it connects."""
        return not str(record.msg).startswith(self.NOISE)


def quiet_alembic() -> None:
    """Keep Alembic's INFO to what an admin needs: the migrations it applies."""
    # Seven "setup plugin …" lines on every start say nothing an admin can act on.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _AlembicChatter) for f in migration.filters):
        migration.addFilter(_AlembicChatter())


def configure_logging(settings: Settings) -> None:
    """Plain, content-free log lines on stderr."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL, and a Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    quiet_alembic()
    from bot.ops import apply_log_format

    apply_log_format(settings)


def _cipher(settings: Settings) -> Cipher:
    try:
        return Cipher.from_setting(settings.require_encryption_keys())
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None


def cmd_run(settings: Settings, webhook: bool = False) -> int:
    """Migrate, then take updates (polling or webhook) until SIGTERM/SIGINT."""
    from bot import ops
    from bot.services import Services
    from storage.db import Database
    from storage.migrate import upgrade

    token = settings.require_token()
    cipher = _cipher(settings)
    if webhook:
        settings.require_webhook()
    upgrade(settings.database_url)
    services = Services(
        settings=settings, db=Database(settings.database_url), clock=SystemClock(), cipher=cipher
    )
    # Signals, the outbox sender and graceful shutdown live in bot.ops.
    return ops.run(services, token=token, webhook=webhook)


async def _invite(settings: Settings, name: str) -> str:
    from telegram import Bot

    from bot.practice.enrolment import create_therapist_invitation
    from bot.practice.tokens import deep_link
    from bot.services import Services
    from storage.db import Database
    from storage.migrate import upgrade_async

    token = settings.require_token()
    cipher = _cipher(settings)
    # The token is asked about first: a wrong one must not leave a new database behind.
    async with Bot(token, base_url=settings.telegram_api_base_url) as bot:
        me = await bot.get_me()
    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        services = Services(settings=settings, db=db, clock=SystemClock(), cipher=cipher)
        invitation = await create_therapist_invitation(services, name)
    finally:
        await db.dispose()
    return deep_link(me.username or "", invitation)


def cmd_therapist_invite(settings: Settings, name: str) -> int:
    """Print a therapist's single-use deep link."""
    from telegram.error import InvalidToken, NetworkError

    if not name.strip():
        raise ConfigError("--name must not be empty")
    try:
        link = asyncio.run(_invite(settings, name))
    except InvalidToken:
        raise ConfigError("TELEGRAM_BOT_TOKEN was rejected by Telegram") from None
    except NetworkError as exc:
        raise ConfigError(
            f"could not reach the Bot API at TELEGRAM_API_BASE_URL ({type(exc).__name__})"
        ) from None
    print(link)
    return 0


def cmd_doctor() -> int:
    """Run every installation check and print one line per check."""
    from bot.doctor import diagnose, report

    subcommands = next(
        action.choices
        for action in _parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    checks = asyncio.run(diagnose(rotate_command="rotate-keys" in subcommands))
    lines, code = report(checks)
    print(lines)
    return code


def cmd_instrument_check(path: str) -> int:
    """Print every finding about an instrument file; 1 if any is an error."""
    from pathlib import Path

    from bot.core.instrument_check import check_instrument_file

    findings = check_instrument_file(Path(path))
    for finding in findings:
        print(finding)
    errors = sum(1 for finding in findings if finding.level == "error")
    warnings = sum(1 for finding in findings if finding.level == "warning")
    print(f"{path}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


def _db(settings: Settings, args: argparse.Namespace) -> int:
    """`db upgrade|current|history|downgrade`."""
    from bot import admin_cli

    if args.db_command == "upgrade":
        from storage.migrate import upgrade

        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.db_command == "current":
        return admin_cli.cmd_db_current(settings)
    if args.db_command == "history":
        return admin_cli.cmd_db_history(settings)
    return admin_cli.cmd_db_downgrade(settings, args.revision)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "generate-key":
        print(generate_key())
        return 0
    if args.command == "doctor":
        # The doctor reports bad settings itself, as one of its checks.
        return cmd_doctor()
    if args.command == "instrument":
        # Checking a file needs no settings: a practice checks it before configuring it.
        return cmd_instrument_check(args.path)
    if args.command == "demo":
        # The demo needs no settings: it brings its own stand-in, database and key.
        from pathlib import Path

        from bot.offline import demo as demo_module

        return demo_module.main(
            demo_module.Options(
                weeks=demo_module.FAST_WEEKS if args.fast else demo_module.WEEKS,
                keep=args.keep,
                out=Path(args.out),
            )
        )
    try:
        settings = load_settings()
        configure_logging(settings)
        if args.command == "run":
            return cmd_run(settings, webhook=args.webhook)
        if args.command == "therapist-invite":
            return cmd_therapist_invite(settings, args.name)
        if args.command == "rotate-keys":
            from bot.privacy.keys import cmd_rotate_keys

            return cmd_rotate_keys(settings, args.batch_size)
        if args.command == "audit":
            from bot.admin_cli import require_database
            from bot.privacy.rights import cmd_audit

            require_database(settings, need_current=False)
            return cmd_audit(settings, args.days)
        if args.command == "db":
            return _db(settings, args)
        if args.command == "therapist":
            from bot import admin_cli

            if args.therapist_command == "list":
                return admin_cli.cmd_therapist_list(settings)
            return admin_cli.cmd_therapist_set(settings, args.therapist_command, args.id)
    except ConfigError as exc:
        print(f"alliance-checkin: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
