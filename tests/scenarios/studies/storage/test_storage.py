"""Opening storages: damaged, foreign, read-only and locked ones are refused untouched."""

from __future__ import annotations

import pytest
from services import POSTGRES_PASSWORD, create_database, refusal

from studies.storage import (
    open_storage,
)


def server_tables(url: str) -> set[str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_another_programs_postgresql_database_is_refused_before_optuna_adds_tables(postgres):
    import psycopg2

    url = create_database(postgres, "shop")
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text)")
        cursor.execute("INSERT INTO customers (name) VALUES ('Ada')")
    connection.close()

    for write in (True, False):
        message = refusal(open_storage, url, write=write)
        assert "belongs to another program" in message and "customers" in message
        assert POSTGRES_PASSWORD not in message
    assert server_tables(url) == {"customers"}


@pytest.mark.slow
def test_an_empty_postgresql_database_is_refused_for_reading_and_gains_no_tables(postgres):
    url = create_database(postgres, "empty")

    message = refusal(open_storage, url, write=False)
    assert "holds no Optuna study storage" in message and POSTGRES_PASSWORD not in message
    assert server_tables(url) == set()
