"""The admin's database and therapist subcommands: `db current|history|downgrade`,
`therapist list|deactivate|reactivate`, and the one-line check that a database is there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from bot.clock import SystemClock
from bot.settings import ConfigError, Settings

if TYPE_CHECKING:
    from bot.services import Services

TherapistAction = Literal["deactivate", "reactivate"]
T = TypeVar("T")


def require_database(settings: Settings, *, need_current: bool = True) -> None:
    """A ConfigError (one line, what to do) unless the database exists with its schema."""
    from bot.doctor import database_problem

    problem = asyncio.run(database_problem(settings, need_current=need_current))
    if problem is not None:
        raise ConfigError(problem)


def cmd_db_current(settings: Settings) -> int:
    """Print the database's revision and whether migrations are pending."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, current_revision, head_revisions

    require_database(settings, need_current=False)
    url = settings.database_url
    current = asyncio.run(current_revision(url))
    heads = head_revisions(url)
    if current in heads:
        print(f"{current} (current: the newest this version ships)")
        return 0
    script = ScriptDirectory.from_config(alembic_config(url))
    if current not in {r.revision for r in script.walk_revisions()}:
        print(f"{current} (unknown to this version: written by a newer one)")
        return 1
    pending = list(script.iterate_revisions(heads[0], current))
    print(f"{current} ({len(pending)} migration(s) pending: `alliance-checkin db upgrade`)")
    return 1


def cmd_db_history(settings: Settings) -> int:
    """List the shipped migrations, oldest first, marking where the database stands."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, current_revision

    url = settings.database_url
    script = ScriptDirectory.from_config(alembic_config(url))
    current: str | None = None
    from bot.doctor import database_problem

    if asyncio.run(database_problem(settings, need_current=False)) is None:
        current = asyncio.run(current_revision(url))
    revisions = list(script.walk_revisions())[::-1]
    for revision in revisions:
        mark = "  <- the database is here" if revision.revision == current else ""
        summary = (revision.doc or "").splitlines()[0] if revision.doc else ""
        print(f"{revision.revision:<28} {summary}{mark}")
    if current is None:
        print("(no database with a schema at DATABASE_URL yet)")
    return 0


def cmd_db_downgrade(settings: Settings, target: str) -> int:
    """Revert migrations down to a revision (or -1 for one step); print where it ended."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from storage.migrate import alembic_config, current_revision, downgrade

    require_database(settings, need_current=False)
    url = settings.database_url
    before = asyncio.run(current_revision(url))
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {r.revision for r in script.walk_revisions()}
    if target not in known and target not in ("-1", "base"):
        raise ConfigError(f"no revision '{target}': `alliance-checkin db history` lists them")
    try:
        downgrade(url, target)
    except CommandError as exc:
        raise ConfigError(f"cannot downgrade to {target}: {exc}") from None
    after = asyncio.run(current_revision(url))
    if after == before:
        print(f"nothing to do: the database is at {before}")
    else:
        print(f"database downgraded from {before} to {after or 'an empty schema (base)'}")
    return 0


async def _run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run one piece of work with the bot's services on the configured database."""
    from bot.cli import _cipher
    from bot.services import Services
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        services = Services(settings=settings, db=db, clock=SystemClock(), cipher=_cipher(settings))
        return await work(services)
    finally:
        await db.dispose()


def cmd_therapist_list(settings: Settings) -> int:
    """Print every therapist, one a line."""
    from bot.practice.therapists import list_therapists

    require_database(settings)
    lines = asyncio.run(_run(settings, list_therapists))
    if not lines:
        print("no therapists yet: `alliance-checkin therapist-invite --name NAME` invites one")
        return 0
    print(f"{'id':>4}  {'state':<11}  {'clients':>7}  {'registered':<10}  name")
    for line in lines:
        state = "active" if line.active else "deactivated"
        print(
            f"{line.id:>4}  {state:<11}  {line.clients_taking_part:>7}  "
            f"{line.registered.date().isoformat():<10}  {line.name}"
        )
    return 0


def cmd_therapist_set(settings: Settings, action: TherapistAction, therapist_id: int) -> int:
    """Deactivate or reactivate one therapist; print what happened."""
    from bot.practice.therapists import set_active

    require_database(settings)
    active = action == "reactivate"
    outcome = asyncio.run(
        _run(settings, lambda services: set_active(services, therapist_id, active))
    )
    if outcome == "unknown":
        raise ConfigError(f"no therapist with id {therapist_id}: `alliance-checkin therapist list`")
    if outcome == "unchanged":
        print(f"therapist {therapist_id} is already {'active' if active else 'deactivated'}")
        return 0
    if active:
        print(
            f"therapist {therapist_id} reactivated: check-ins and digests resume; the therapist "
            "and their clients will be told when the bot next runs its queue"
        )
    else:
        print(
            f"therapist {therapist_id} deactivated: no check-ins or digests until "
            "`alliance-checkin therapist reactivate`; the therapist and their clients will be "
            "told when the bot next runs its queue; nothing stored was removed"
        )
    return 0
