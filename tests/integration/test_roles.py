"""The README's least-privilege database roles: each can do its job and nothing more.

Runs the SQL block of the README (Security) itself, so the documentation cannot drift.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from processors.config import Settings
from processors.playbooks.loader import default_playbook
from processors.stack.postgres_server import PgPaths, _superuser_connection, running_server
from projections.direct import DirectProjection
from projections.migrate import MigrationPrivilegeError, apply_migrations
from tests.helpers import unavailable
from tests.integration.support import sample_backtest_outputs

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_grants(database: str, suffix: str) -> list[str]:
    block = re.search(r"```sql\n(.*?)```", README.read_text().split("Least-privilege database roles")[1], re.S)
    assert block, "the README's Security section lost its SQL block"
    sql = block.group(1).replace("DATABASE dealflow ", f"DATABASE {database} ")
    sql = re.sub(r"(dealflow_projector|dealflow_analyst)", rf"\g<1>{suffix}", sql)
    sql = sql.replace("'...'", "'role-secret'")
    sql = re.sub(r"--[^\n]*", "", sql)
    statements = [s.strip() for s in sql.split(";")]
    return [s for s in statements if s]


@pytest.fixture()
def roles(base_settings: Settings) -> Iterator[tuple[str, str, str]]:
    """A fresh database migrated by its owner, plus the README's two roles; yields their URLs."""
    if running_server(PgPaths.of(base_settings)) is None:
        unavailable("needs the PostgreSQL server started by `dealflow stack up` (to create roles)")
    port = int(base_settings.database_url.rsplit(":", 1)[1].split("/")[0])
    suffix = uuid.uuid4().hex[:6]
    database = f"dealflow_roles_{suffix}"
    owner_url = base_settings.database_url.rsplit("/", 1)[0] + f"/{database}"
    admin = _superuser_connection(port)
    admin.autocommit = True
    admin.execute(f"CREATE DATABASE {database} OWNER dealflow")
    creates = [s for s in _readme_grants(database, suffix) if s.startswith("CREATE ROLE")]
    grants = [s for s in _readme_grants(database, suffix) if not s.startswith("CREATE ROLE")]
    try:
        for statement in creates:
            admin.execute(statement)  # type: ignore[arg-type]
        apply_migrations(owner_url)
        with psycopg.connect(owner_url, autocommit=True) as owner:
            for statement in grants:
                owner.execute(statement)  # type: ignore[arg-type]
        host = base_settings.database_url.split("@", 1)[1].rsplit("/", 1)[0]
        yield (owner_url, f"postgresql://dealflow_projector{suffix}:role-secret@{host}/{database}",
               f"postgresql://dealflow_analyst{suffix}:role-secret@{host}/{database}")
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.execute(f"DROP ROLE IF EXISTS dealflow_projector{suffix}")
        admin.execute(f"DROP ROLE IF EXISTS dealflow_analyst{suffix}")
        admin.close()


def test_the_projector_role_projects_and_the_analyst_role_only_reads(roles: tuple[str, str, str]) -> None:
    _, projector_url, analyst_url = roles
    projection = DirectProjection(projector_url, default_playbook())  # runs the (empty) migration step too
    for kind, payload in sample_backtest_outputs(2):
        projection.add(kind, payload)
    projection.close()
    with psycopg.connect(projector_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE not_ours (x int)")
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM deals").fetchone()[0] > 0  # type: ignore[index]
        conn.execute("SELECT * FROM stage_conversion").fetchall()
        conn.execute("SELECT * FROM review_quarterly_sample(0.5, 2)").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM deals")


def test_pending_migrations_with_a_role_that_cannot_apply_them_fail_clearly(roles: tuple[str, str, str]) -> None:
    owner_url, projector_url, _ = roles
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute("DELETE FROM schema_migrations WHERE version = '0003_analytics'")
    with pytest.raises(MigrationPrivilegeError, match="dealflow migrate"):
        apply_migrations(projector_url)
