"""Workspace objects through the official SDK: mkdirs, import_/export, upload/download,
list, get_status, delete, and the SDK's exception classes for the emulator's errors."""

import base64
import io
import json
import zipfile

import pytest
from databricks.sdk.errors import BadRequest, DatabricksError, NotFound, ResourceAlreadyExists
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

BASE = "/Shared/sdk-workspace"


@pytest.fixture(scope="module", autouse=True)
def base_dir(w):
    w.workspace.mkdirs(BASE)
    return BASE


def test_mkdirs_creates_parents_and_is_idempotent(w):
    w.workspace.mkdirs(f"{BASE}/a/b/c")
    w.workspace.mkdirs(f"{BASE}/a/b")
    info = w.workspace.get_status(f"{BASE}/a/b")
    assert info.object_type == ObjectType.DIRECTORY
    assert info.object_id > 0


def test_mkdirs_over_a_file_is_resource_already_exists(w):
    w.workspace.upload(f"{BASE}/plain.txt", io.BytesIO(b"x"), format=ImportFormat.AUTO)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs(f"{BASE}/plain.txt/sub")


def test_import_and_export_source_notebook(w):
    path = f"{BASE}/nb"
    w.workspace.import_(
        path,
        content=base64.b64encode(b"print(1)").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )
    info = w.workspace.get_status(path)
    assert info.object_type == ObjectType.NOTEBOOK
    assert info.language == Language.PYTHON
    exported = w.workspace.export(path, format=ExportFormat.SOURCE)
    assert base64.b64decode(exported.content) == b"# Databricks notebook source\nprint(1)"
    assert exported.file_type == "py"


def test_import_existing_without_overwrite_fails_and_overwrite_replaces(w):
    path = f"{BASE}/again"
    content = base64.b64encode(b"1").decode()
    w.workspace.import_(path, content=content, format=ImportFormat.SOURCE, language=Language.SQL)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.import_(path, content=content, format=ImportFormat.SOURCE, language=Language.SQL)
    w.workspace.import_(
        path, content=content, format=ImportFormat.SOURCE, language=Language.SCALA, overwrite=True
    )
    assert w.workspace.get_status(path).language == Language.SCALA


def test_jupyter_round_trip(w):
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": ["x = 1"]}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    raw = json.dumps(notebook).encode()
    path = f"{BASE}/jupyter"
    w.workspace.import_(path, content=base64.b64encode(raw).decode(), format=ImportFormat.JUPYTER)
    assert w.workspace.get_status(path).language == Language.PYTHON
    exported = w.workspace.export(path, format=ExportFormat.JUPYTER)
    assert base64.b64decode(exported.content) == raw
    with w.workspace.download(path) as f:
        assert f.read() == b"# Databricks notebook source\nx = 1"


def test_upload_download_notebook_keeps_the_py_path(w):
    path = f"{BASE}/upload-nb.py"
    w.workspace.upload(path, io.BytesIO(b"print(1)"))
    assert w.workspace.get_status(path).object_type == ObjectType.NOTEBOOK
    with w.workspace.download(path) as f:
        assert f.read() == b"# Databricks notebook source\nprint(1)"


def test_upload_auto_detects_notebooks_and_files(w):
    w.workspace.upload(
        f"{BASE}/auto-nb.py",
        io.BytesIO(b"# Databricks notebook source\nprint(2)"),
        format=ImportFormat.AUTO,
    )
    assert w.workspace.get_status(f"{BASE}/auto-nb").object_type == ObjectType.NOTEBOOK
    w.workspace.upload(f"{BASE}/auto-file.py", io.BytesIO(b"print(2)"), format=ImportFormat.AUTO)
    info = w.workspace.get_status(f"{BASE}/auto-file.py")
    assert info.object_type == ObjectType.FILE
    assert info.size == 8
    with w.workspace.download(f"{BASE}/auto-file.py") as f:
        assert f.read() == b"print(2)"


def test_upload_without_language_or_format_hints_at_auto(w):
    # The SDK re-raises INVALID_PARAMETER_VALUE from upload as a plain DatabricksError with a hint.
    with pytest.raises(DatabricksError) as err:
        w.workspace.upload(f"{BASE}/data.bin", io.BytesIO(b"\x00\x01"))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "ImportFormat.AUTO" in str(err.value)


def test_upload_overwrite(w):
    path = f"{BASE}/over.txt"
    w.workspace.upload(path, io.BytesIO(b"one"), format=ImportFormat.AUTO)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(path, io.BytesIO(b"two"), format=ImportFormat.AUTO)
    w.workspace.upload(path, io.BytesIO(b"two"), format=ImportFormat.AUTO, overwrite=True)
    with w.workspace.download(path) as f:
        assert f.read() == b"two"


def test_unsupported_formats_are_bad_requests(w):
    with pytest.raises(BadRequest, match="not supported by the emulator"):
        w.workspace.import_(f"{BASE}/h", content="", format=ImportFormat.HTML)
    with pytest.raises(BadRequest, match="not supported by the emulator"):
        w.workspace.export(f"{BASE}/nb", format=ExportFormat.DBC)


def test_list_and_recursive_list(w):
    w.workspace.mkdirs(f"{BASE}/tree/sub")
    w.workspace.upload(f"{BASE}/tree/f.txt", io.BytesIO(b"f"), format=ImportFormat.AUTO)
    w.workspace.upload(f"{BASE}/tree/sub/g.txt", io.BytesIO(b"g"), format=ImportFormat.AUTO)
    top = sorted(o.path for o in w.workspace.list(f"{BASE}/tree"))
    assert top == [f"{BASE}/tree/f.txt", f"{BASE}/tree/sub"]
    everything = sorted(o.path for o in w.workspace.list(f"{BASE}/tree", recursive=True))
    assert everything == [f"{BASE}/tree/f.txt", f"{BASE}/tree/sub/g.txt"]
    w.workspace.mkdirs(f"{BASE}/empty")
    assert list(w.workspace.list(f"{BASE}/empty")) == []
    single = list(w.workspace.list(f"{BASE}/tree/f.txt"))
    assert [o.object_type for o in single] == [ObjectType.FILE]


def test_missing_paths_raise_not_found(w):
    with pytest.raises(NotFound, match=r"Path \(/Shared/nope\) doesn't exist."):
        w.workspace.get_status("/Shared/nope")
    with pytest.raises(NotFound):
        list(w.workspace.list("/Shared/nope"))
    with pytest.raises(NotFound):
        w.workspace.export("/Shared/nope")
    with pytest.raises(NotFound):
        w.workspace.delete("/Shared/nope")
    with pytest.raises(NotFound):
        w.workspace.upload("/Shared/no/parent.txt", io.BytesIO(b"x"), format=ImportFormat.AUTO)


def test_delete_needs_recursive_for_a_non_empty_folder(w):
    w.workspace.mkdirs(f"{BASE}/del/inner")
    with pytest.raises(BadRequest) as err:
        w.workspace.delete(f"{BASE}/del")
    assert err.value.error_code == "DIRECTORY_NOT_EMPTY"
    w.workspace.delete(f"{BASE}/del", recursive=True)
    with pytest.raises(NotFound):
        w.workspace.get_status(f"{BASE}/del/inner")


def test_folder_export_and_import_as_zip(w):
    w.workspace.mkdirs(f"{BASE}/proj/sub")
    w.workspace.upload(f"{BASE}/proj/main.py", io.BytesIO(b"# Databricks notebook source\nprint(1)"), format=ImportFormat.AUTO)
    w.workspace.upload(f"{BASE}/proj/sub/notes.txt", io.BytesIO(b"n"), format=ImportFormat.AUTO)
    exported = w.workspace.export(f"{BASE}/proj", format=ExportFormat.AUTO)
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(exported.content)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == ["proj/", "proj/main.py", "proj/sub/", "proj/sub/notes.txt"]
    assert archive.read("proj/main.py") == b"# Databricks notebook source\nprint(1)"

    # A zip written by Python's zipfile (stored entries) imports as a folder.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lib/job.py", "# Databricks notebook source\nprint(2)")
        z.writestr("lib/conf/settings.json", "{}")
    w.workspace.import_(f"{BASE}/lib", content=base64.b64encode(buf.getvalue()).decode(), format=ImportFormat.SOURCE)
    assert w.workspace.get_status(f"{BASE}/lib/job").object_type == ObjectType.NOTEBOOK
    assert w.workspace.get_status(f"{BASE}/lib/conf/settings.json").object_type == ObjectType.FILE
