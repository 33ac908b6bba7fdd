"""Unity Catalog through the official SDK: catalogs, schemas, tables and volumes.

Tables are made with SQL on a warehouse, so the Tables API and SQL are checked as one world.
"""

import uuid

import pytest
from databricks.sdk.errors import BadRequest, NotFound, ResourceConflict
from databricks.sdk.service.catalog import (
    ColumnInfo,
    ColumnTypeName,
    DataSourceFormat,
    TableType,
    VolumeType,
)


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_fresh_workspace_has_main_default_and_system(w):
    names = [c.name for c in w.catalogs.list()]
    assert "main" in names and "system" in names
    main = w.catalogs.get("main")
    assert main.full_name == "main"
    assert main.owner and main.created_at and main.metastore_id
    default = w.schemas.get("main.default")
    assert default.catalog_name == "main" and default.full_name == "main.default"
    assert "default" in [s.name for s in w.schemas.list(catalog_name="main")]


def test_catalog_lifecycle(w):
    name = unique("cat")
    created = w.catalogs.create(name=name, comment="first", properties={"team": "data"})
    assert created.name == name and created.comment == "first"
    assert created.properties == {"team": "data"}
    assert w.catalogs.get(name).comment == "first"

    with pytest.raises(ResourceConflict) as conflict:
        w.catalogs.create(name=name)
    assert conflict.value.error_code == "CATALOG_ALREADY_EXISTS"

    renamed = unique("cat")
    updated = w.catalogs.update(name, new_name=renamed, comment="second")
    assert updated.name == renamed and updated.comment == "second"
    with pytest.raises(NotFound):
        w.catalogs.get(name)

    w.schemas.create(name="s", catalog_name=renamed)
    with pytest.raises(BadRequest) as not_empty:
        w.catalogs.delete(renamed)
    assert not_empty.value.error_code == "CATALOG_NOT_EMPTY"
    w.catalogs.delete(renamed, force=True)
    with pytest.raises(NotFound) as missing:
        w.catalogs.get(renamed)
    assert missing.value.error_code == "CATALOG_DOES_NOT_EXIST"


def test_catalog_list_pages_with_max_results(w):
    made = [unique("page") for _ in range(3)]
    for n in made:
        w.catalogs.create(name=n)
    listed = [c.name for c in w.catalogs.list(max_results=1)]
    assert len(listed) == len(set(listed))
    assert set(made) <= set(listed)
    for n in made:
        w.catalogs.delete(n)


def test_lists_survive_empty_pages(w, emulator):
    emulator.admin("PATCH", "/settings", {"unity_catalog": {"empty_pages": True, "page_size": 1}})
    try:
        listed = [c.name for c in w.catalogs.list()]
        assert "main" in listed and "system" in listed
        assert [s.name for s in w.schemas.list(catalog_name="main")] == ["default"]
    finally:
        emulator.admin("PATCH", "/settings", {"unity_catalog": {"empty_pages": False, "page_size": 50}})


def test_schema_lifecycle(w):
    cat = unique("cat")
    w.catalogs.create(name=cat)
    schema = w.schemas.create(name="raw", catalog_name=cat, comment="landing")
    assert schema.full_name == f"{cat}.raw" and schema.comment == "landing"
    assert w.schemas.get(f"{cat}.raw").schema_id == schema.schema_id

    with pytest.raises(ResourceConflict) as conflict:
        w.schemas.create(name="raw", catalog_name=cat)
    assert conflict.value.error_code == "SCHEMA_ALREADY_EXISTS"
    with pytest.raises(NotFound) as missing_catalog:
        w.schemas.create(name="x", catalog_name=unique("nope"))
    assert missing_catalog.value.error_code == "CATALOG_DOES_NOT_EXIST"

    updated = w.schemas.update(f"{cat}.raw", new_name="bronze", comment="renamed", owner="team")
    assert updated.full_name == f"{cat}.bronze" and updated.owner == "team"
    assert [s.name for s in w.schemas.list(catalog_name=cat, max_results=1)] == ["bronze"]
    with pytest.raises(NotFound) as missing:
        w.schemas.get(f"{cat}.raw")
    assert missing.value.error_code == "SCHEMA_DOES_NOT_EXIST"

    w.volumes.create(catalog_name=cat, schema_name="bronze", name="v", volume_type=VolumeType.MANAGED)
    with pytest.raises(BadRequest) as not_empty:
        w.schemas.delete(f"{cat}.bronze")
    assert not_empty.value.error_code == "SCHEMA_NOT_EMPTY"
    w.schemas.delete(f"{cat}.bronze", force=True)
    with pytest.raises(NotFound):
        w.schemas.get(f"{cat}.bronze")
    w.catalogs.delete(cat)


def test_tables_api_on_the_default_schema(w):
    assert list(w.tables.list(catalog_name="main", schema_name="default")) == []
    assert list(w.tables.list_summaries(catalog_name="main", table_name_pattern="%")) == []
    assert w.tables.exists("main.default.nope").table_exists is False
    with pytest.raises(NotFound) as missing:
        w.tables.get("main.default.nope")
    assert missing.value.error_code == "TABLE_DOES_NOT_EXIST"
    with pytest.raises(NotFound):
        w.tables.delete("main.default.nope")
    with pytest.raises(NotFound) as no_schema:
        list(w.tables.list(catalog_name="main", schema_name="nope"))
    assert no_schema.value.error_code == "SCHEMA_DOES_NOT_EXIST"


def test_tables_api_with_an_external_table(w):
    schema = unique("s")
    w.schemas.create(name=schema, catalog_name="main")
    full = f"main.{schema}.events"
    created = w.tables.create(
        name="events",
        catalog_name="main",
        schema_name=schema,
        table_type=TableType.EXTERNAL,
        data_source_format=DataSourceFormat.DELTA,
        storage_location="s3://bucket/events",
        columns=[
            ColumnInfo(name="id", type_name=ColumnTypeName.LONG, type_text="bigint", position=0, nullable=False),
            ColumnInfo(name="amount", type_name=ColumnTypeName.DECIMAL, type_text="decimal(10,2)", position=1),
        ],
    )
    assert created.full_name == full and created.table_type == TableType.EXTERNAL
    with pytest.raises(ResourceConflict) as conflict:
        w.tables.create(
            name="events",
            catalog_name="main",
            schema_name=schema,
            table_type=TableType.EXTERNAL,
            data_source_format=DataSourceFormat.DELTA,
            storage_location="s3://bucket/events",
        )
    assert conflict.value.error_code == "TABLE_ALREADY_EXISTS"

    table = w.tables.get(full)
    assert [(c.name, c.type_name, c.type_text, c.position, c.nullable) for c in table.columns] == [
        ("id", ColumnTypeName.LONG, "bigint", 0, False),
        ("amount", ColumnTypeName.DECIMAL, "decimal(10,2)", 1, True),
    ]
    assert table.columns[1].type_precision == 10 and table.columns[1].type_scale == 2
    listed = list(w.tables.list(catalog_name="main", schema_name=schema, omit_columns=True))
    assert [t.name for t in listed] == ["events"] and not listed[0].columns
    summaries = list(w.tables.list_summaries(catalog_name="main", schema_name_pattern=schema, table_name_pattern="ev%"))
    assert [(t.full_name, t.table_type) for t in summaries] == [(full, TableType.EXTERNAL)]
    assert list(w.tables.list_summaries(catalog_name="main", schema_name_pattern=schema, table_name_pattern="ev")) == []
    assert w.tables.exists(full).table_exists is True

    w.tables.update(full, owner="data-team")
    assert w.tables.get(full).owner == "data-team"
    w.tables.delete(full)
    assert w.tables.exists(full).table_exists is False
    with pytest.raises(NotFound):
        w.tables.get(full)
    w.schemas.delete(f"main.{schema}")


@pytest.fixture
def sql_table(w, warehouse_id):
    """Creates main.default.<name> with SQL through the Statement Execution API, if present."""
    name = unique("t")
    resp = w.statement_execution.execute_statement(
        statement=f"CREATE TABLE main.default.{name} (id BIGINT NOT NULL, label STRING)",
        warehouse_id=warehouse_id,
        wait_timeout="30s",
    )
    assert resp.status.state.value == "SUCCEEDED", resp.status
    return name


def test_tables_made_with_sql(w, sql_table):
    full = f"main.default.{sql_table}"
    table = w.tables.get(full)
    assert table.full_name == full
    assert [(c.name, c.type_name.value, c.type_text, c.nullable) for c in table.columns] == [
        ("id", "LONG", "bigint", False),
        ("label", "STRING", "string", True),
    ]
    assert sql_table in [t.name for t in w.tables.list(catalog_name="main", schema_name="default")]
    assert [t.full_name for t in w.tables.list_summaries(catalog_name="main", table_name_pattern=sql_table[:3] + "%")] == [full]
    assert w.tables.exists(full).table_exists is True
    w.tables.delete(full)
    assert w.tables.exists(full).table_exists is False


def test_volume_lifecycle(w):
    with pytest.raises(BadRequest):
        w.volumes.create(
            catalog_name="main",
            schema_name="default",
            name="ext",
            volume_type=VolumeType.EXTERNAL,
        )
    name = unique("vol")
    created = w.volumes.create(
        catalog_name="main",
        schema_name="default",
        name=name,
        volume_type=VolumeType.MANAGED,
        comment="files",
    )
    full = f"main.default.{name}"
    assert created.full_name == full and created.volume_type == VolumeType.MANAGED
    assert created.storage_location
    with pytest.raises(ResourceConflict):
        w.volumes.create(catalog_name="main", schema_name="default", name=name, volume_type=VolumeType.MANAGED)
    assert w.volumes.read(full).comment == "files"
    assert name in [v.name for v in w.volumes.list(catalog_name="main", schema_name="default", max_results=1)]

    renamed = unique("vol")
    updated = w.volumes.update(full, new_name=renamed, comment="docs", owner="team")
    assert updated.full_name == f"main.default.{renamed}" and updated.owner == "team"
    with pytest.raises(NotFound):
        w.volumes.read(full)
    w.volumes.delete(f"main.default.{renamed}")
    with pytest.raises(NotFound):
        w.volumes.read(f"main.default.{renamed}")
