"""PostgreSQL helpers for tests marked `postgres` (the server is TEST_POSTGRES_URL).

`shop_database()` makes a throwaway database owned by a fresh, non-superuser OWNER role
and a READER role that may only SELECT; `checksum()` fingerprints everything a write
could change, so a test can show that nothing did.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


def url_for(server_url: str, *, database: str, user: str | None = None, password: str = "") -> str:
    """`server_url` pointed at another database, optionally as another role."""
    parts = urlsplit(server_url)
    netloc = parts.hostname or "localhost"
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if user is None:
        credentials = parts.netloc.rpartition("@")[0]
    else:
        credentials = quote(user) + (f":{quote(password)}" if password else "")
    if credentials:
        netloc = f"{credentials}@{netloc}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


@dataclass(frozen=True)
class ShopDatabase:
    name: str
    admin_url: str  # the superuser, for checks
    owner_url: str  # owns every table: only the READ ONLY transaction stops its writes
    reader_url: str  # may only SELECT


@contextmanager
def shop_database(
    server_url: str, load: Callable[[psycopg.Connection], None]
) -> Iterator[ShopDatabase]:
    """A new database, loaded by `load(connection)` as its OWNER, dropped afterwards."""
    token = secrets.token_hex(5)
    name, owner, reader = f"test_shop_{token}", f"shop_owner_{token}", f"shop_reader_{token}"
    # Passwords, so the roles work on servers that do not trust local connections.
    owner_password, reader_password = secrets.token_hex(12), secrets.token_hex(12)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(owner_password)
            )
        )
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(reader), sql.Literal(reader_password)
            )
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    database = ShopDatabase(
        name=name,
        admin_url=url_for(server_url, database=name),
        owner_url=url_for(server_url, database=name, user=owner, password=owner_password),
        reader_url=url_for(server_url, database=name, user=reader, password=reader_password),
    )
    try:
        with psycopg.connect(database.admin_url, autocommit=True) as admin:
            # PostgreSQL 15 lets only the database owner create in public; make it explicit
            # for older servers, where PUBLIC could.
            admin.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        with psycopg.connect(database.owner_url) as connection:
            load(connection)
            connection.execute(
                sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(reader))
            )
            connection.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                    sql.Identifier(reader)
                )
            )
            connection.commit()
        yield database
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            for role in (owner, reader):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


TABLE_DIGEST_SQL = (
    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t"
)
CHECKSUM_SQL = """
SELECT c.oid::regclass::text
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1
"""


def checksum(admin_url: str) -> dict[str, str]:
    """md5 of every table's rows, sequence states, the catalogue of relations and
    functions, large objects and database-level settings: whatever a write could touch."""
    fingerprint: dict[str, str] = {}
    with psycopg.connect(admin_url, autocommit=True) as connection:
        for (table,) in connection.execute(CHECKSUM_SQL).fetchall():
            # `table` is a regclass name PostgreSQL quoted itself.
            query = sql.SQL(TABLE_DIGEST_SQL).format(sql.SQL(table))
            (digest,) = connection.execute(query).fetchone()
            fingerprint[f"table {table}"] = digest
        for name, state in connection.execute(
            "SELECT sequencename, coalesce(last_value, 0)::text FROM pg_sequences ORDER BY 1"
        ).fetchall():
            fingerprint[f"sequence {name}"] = state
        fingerprint["relations"] = connection.execute(
            "SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) "
            "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'"
        ).fetchone()[0]
        fingerprint["functions"] = str(
            connection.execute(
                "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc AS p "
                "JOIN pg_namespace AS n ON n.oid = p.pronamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            ).fetchone()[0]
        )
        fingerprint["large objects"] = str(
            connection.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]
        )
        fingerprint["settings"] = str(
            connection.execute(
                "SELECT string_agg(array_to_string(setconfig, ';'), ',') FROM pg_db_role_setting"
            ).fetchone()[0]
        )
    return fingerprint
