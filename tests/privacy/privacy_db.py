"""Database inspection for privacy tests: every table, every row, decrypted where possible."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlmodel import SQLModel

from storage.crypto import Cipher, DecryptionError, outbox_payload_context
from storage.db import Database

# Tables that change on every update without being state anyone acts on.
BOOKKEEPING = frozenset({"processed_update", "audit_event"})


def tables() -> list[Table]:
    """Every table of the schema, parents first."""
    return [t for t in SQLModel.metadata.sorted_tables if isinstance(t, Table)]


async def snapshot(
    db: Database, *, skip: frozenset[str] = BOOKKEEPING
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (except bookkeeping), for before/after comparisons."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as connection:
        for table in tables():
            if table.name in skip:
                continue
            rows = await connection.execute(select(table).order_by(*table.primary_key.columns))
            result[table.name] = [tuple(row) for row in rows]
    return result


async def references_to_client(db: Database, client_id: int) -> dict[str, int]:
    """Rows in any table that still point at a client: by foreign key or a client_id column."""
    found: dict[str, int] = {}
    async with db.engine.connect() as connection:
        for table in tables():
            columns = [
                c
                for c in table.columns
                if c.name == "client_id"
                or any(fk.column.table.name == "client" for fk in c.foreign_keys)
            ]
            if table.name == "client":
                columns = [table.c.id]
            for column in columns:
                rows = (await connection.execute(select(table).where(column == client_id))).all()
                if rows:
                    found[f"{table.name}.{column.name}"] = len(rows)
    return found


async def decrypted_outbox_texts(db: Database, cipher: Cipher) -> list[str]:
    """Plain text of every outbox payload that still has one."""
    texts = []
    async with db.engine.connect() as connection:
        table = SQLModel.metadata.tables["outbox"]
        for row in await connection.execute(select(table.c.dedupe_key, table.c.payload_ciphertext)):
            if row.payload_ciphertext:
                try:
                    texts.append(
                        cipher.decrypt(
                            bytes(row.payload_ciphertext),
                            context=outbox_payload_context(row.dedupe_key),
                        )
                    )
                except DecryptionError:
                    texts.append("<unreadable>")
    return texts
