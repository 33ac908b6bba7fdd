//! `/api/2.0/workspace/*` over HTTP: every operation, its error codes, and import/export round
//! trips in the SOURCE, JUPYTER, AUTO and RAW formats, as JSON and as multipart.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Api {
    emu: Emulator,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
        Self {
            emu,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/2.0/workspace/{path}", self.emu.base_url())
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(self.emu.token())
            .query(query)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn raw(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Vec<u8>) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(self.emu.token())
            .query(query)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.bytes().await.unwrap().to_vec())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(self.emu.token())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn import(&self, path: &str, content: &[u8], format: &str, language: Option<&str>) {
        let mut body = json!({"path": path, "content": STANDARD.encode(content), "format": format});
        if let Some(l) = language {
            body["language"] = json!(l);
        }
        let (status, body) = self.post("import", body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn export(&self, path: &str, format: &str) -> (Vec<u8>, Value) {
        let (status, body) = self
            .get("export", &[("path", path), ("format", format)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let content = STANDARD.decode(body["content"].as_str().unwrap()).unwrap();
        (content, body["file_type"].clone())
    }

    async fn status_of(&self, path: &str) -> Value {
        let (status, body) = self.get("get-status", &[("path", path)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn assert_error(actual: (StatusCode, Value), status: StatusCode, code: &str) -> String {
    assert_eq!(actual.0, status, "{}", actual.1);
    assert_eq!(actual.1["error_code"], code, "{}", actual.1);
    actual.1["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn seeded_folders_exist() {
    let api = Api::start().await;
    let root = api.status_of("/").await;
    assert_eq!(root["object_type"], "DIRECTORY");
    assert_eq!(root["object_id"], 0);
    let home = format!(
        "/Users/{}",
        brickwire_emulator::workspace_objects::EMULATOR_USER
    );
    for path in ["/Shared", "/Users", home.as_str()] {
        assert_eq!(
            api.status_of(path).await["object_type"],
            "DIRECTORY",
            "{path}"
        );
    }
}

#[tokio::test]
async fn mkdirs_creates_parents_and_rejects_a_file_prefix() {
    let api = Api::start().await;
    assert_eq!(
        api.post("mkdirs", json!({"path": "/Shared/a/b/c"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.status_of("/Shared/a/b").await["object_type"],
        "DIRECTORY"
    );
    // Existing folder: still fine.
    assert_eq!(
        api.post("mkdirs", json!({"path": "/Shared/a"})).await.0,
        StatusCode::OK
    );
    api.import("/Shared/a/f.txt", b"x", "RAW", None).await;
    let msg = assert_error(
        api.post("mkdirs", json!({"path": "/Shared/a/f.txt/sub"}))
            .await,
        StatusCode::BAD_REQUEST,
        "RESOURCE_ALREADY_EXISTS",
    );
    assert_eq!(
        msg,
        "Path (/Shared/a/f.txt) already exists and it is not a folder."
    );
    assert_error(
        api.post("mkdirs", json!({"path": "relative/path"})).await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
}

#[tokio::test]
async fn source_notebook_round_trip_adds_the_header() {
    let api = Api::start().await;
    api.import("/Shared/nb", b"print(1)", "SOURCE", Some("PYTHON"))
        .await;
    let info = api.status_of("/Shared/nb").await;
    assert_eq!(info["object_type"], "NOTEBOOK");
    assert_eq!(info["language"], "PYTHON");
    assert!(info["object_id"].as_i64().unwrap() > 0);
    assert_eq!(info["resource_id"], info["object_id"].to_string());
    assert!(info["created_at"].as_i64().unwrap() > 0);
    let (content, file_type) = api.export("/Shared/nb", "SOURCE").await;
    assert_eq!(content, b"# Databricks notebook source\nprint(1)");
    assert_eq!(file_type, "py");
    // Importing the exported text again does not double the header.
    api.import("/Shared/nb2", &content, "SOURCE", Some("PYTHON"))
        .await;
    assert_eq!(api.export("/Shared/nb2", "SOURCE").await.0, content);
    // Default export format is SOURCE; direct_download returns the bytes themselves.
    let (status, bytes) = api
        .raw(
            "export",
            &[("path", "/Shared/nb"), ("direct_download", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, content);
    // SQL uses its own comment marker.
    api.import("/Shared/q", b"SELECT 1", "SOURCE", Some("SQL"))
        .await;
    let (content, file_type) = api.export("/Shared/q", "SOURCE").await;
    assert_eq!(content, b"-- Databricks notebook source\nSELECT 1");
    assert_eq!(file_type, "sql");
}

#[tokio::test]
async fn source_without_language_or_with_a_bad_one_is_rejected() {
    let api = Api::start().await;
    let msg = assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/x", "content": STANDARD.encode("1"), "format": "SOURCE"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(msg.contains("language"), "{msg}");
    assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/x", "content": "", "language": "COBOL"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
    assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/x", "content": "!!notbase64", "format": "RAW"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
}

const IPYNB: &str = r##"{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Title"]}, {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ["x = 1\n", "print(x)"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"##;

#[tokio::test]
async fn jupyter_import_exports_back_unchanged_and_as_source() {
    let api = Api::start().await;
    api.import("/Shared/jnb", IPYNB.as_bytes(), "JUPYTER", None)
        .await;
    let info = api.status_of("/Shared/jnb").await;
    assert_eq!(
        (info["object_type"].as_str(), info["language"].as_str()),
        (Some("NOTEBOOK"), Some("PYTHON"))
    );
    let (content, file_type) = api.export("/Shared/jnb", "JUPYTER").await;
    assert_eq!(content, IPYNB.as_bytes());
    assert_eq!(file_type, "ipynb");
    let (source, _) = api.export("/Shared/jnb", "SOURCE").await;
    assert_eq!(
        String::from_utf8(source).unwrap(),
        "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Title\n\n# COMMAND ----------\n\nx = 1\nprint(x)"
    );
    // A SOURCE notebook exports as a generated Jupyter document.
    api.import(
        "/Shared/src",
        b"a = 1\n\n# COMMAND ----------\n\nb = 2",
        "SOURCE",
        Some("PYTHON"),
    )
    .await;
    let (doc, _) = api.export("/Shared/src", "JUPYTER").await;
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(doc["nbformat"], 4);
    assert_eq!(doc["cells"].as_array().unwrap().len(), 2);
    assert_eq!(doc["cells"][1]["source"], json!(["b = 2"]));
    assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/bad", "content": STANDARD.encode("nope"), "format": "JUPYTER"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
}

#[tokio::test]
async fn auto_detects_notebooks_and_files() {
    let api = Api::start().await;
    api.import(
        "/Shared/job.py",
        b"# Databricks notebook source\nprint(2)",
        "AUTO",
        None,
    )
    .await;
    api.import("/Shared/util.py", b"def f(): pass", "AUTO", None)
        .await;
    api.import("/Shared/data.csv", b"a,b\n1,2\n", "AUTO", None)
        .await;
    api.import("/Shared/book.ipynb", IPYNB.as_bytes(), "AUTO", None)
        .await;
    let nb = api.status_of("/Shared/job").await;
    assert_eq!(
        (nb["object_type"].as_str(), nb["language"].as_str()),
        (Some("NOTEBOOK"), Some("PYTHON"))
    );
    assert_error(
        api.get("get-status", &[("path", "/Shared/job.py")]).await,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    );
    let file = api.status_of("/Shared/util.py").await;
    assert_eq!(file["object_type"], "FILE");
    assert_eq!(file["size"], 13);
    assert!(file.get("language").is_none());
    assert_eq!(
        api.status_of("/Shared/book").await["object_type"],
        "NOTEBOOK"
    );
    // AUTO export: files as they are, notebooks in the format they came in.
    assert_eq!(
        api.export("/Shared/data.csv", "AUTO").await.0,
        b"a,b\n1,2\n"
    );
    assert_eq!(
        api.export("/Shared/book", "AUTO").await,
        (IPYNB.as_bytes().to_vec(), json!("ipynb"))
    );
    assert_eq!(
        api.export("/Shared/job", "AUTO").await.0,
        b"# Databricks notebook source\nprint(2)"
    );
    // RAW export of a file; JUPYTER export of a file is an error.
    assert_eq!(
        api.export("/Shared/util.py", "RAW").await.0,
        b"def f(): pass"
    );
    assert_error(
        api.get(
            "export",
            &[("path", "/Shared/util.py"), ("format", "JUPYTER")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
}

#[tokio::test]
async fn multipart_import_as_the_sdk_upload_sends_it() {
    let api = Api::start().await;
    let form = reqwest::multipart::Form::new()
        .text("path", "/Shared/up.py")
        .text("format", "SOURCE")
        .text("language", "PYTHON")
        .part(
            "content",
            reqwest::multipart::Part::bytes(b"print(3)".to_vec()).file_name("content"),
        );
    let resp = api
        .http
        .post(api.url("import"))
        .bearer_auth(api.emu.token())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        api.status_of("/Shared/up.py").await["object_type"],
        "NOTEBOOK"
    );
    assert_eq!(
        api.export("/Shared/up.py", "SOURCE").await.0,
        b"# Databricks notebook source\nprint(3)"
    );
    // Same path again without overwrite fails; with overwrite=true it replaces.
    let again = |overwrite: bool| {
        let mut form = reqwest::multipart::Form::new()
            .text("path", "/Shared/up.py")
            .text("format", "AUTO")
            .part(
                "content",
                reqwest::multipart::Part::bytes(b"raw text".to_vec()).file_name("content"),
            );
        if overwrite {
            form = form.text("overwrite", "true");
        }
        api.http
            .post(api.url("import"))
            .bearer_auth(api.emu.token())
            .multipart(form)
            .send()
    };
    let resp = again(false).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error_code"],
        "RESOURCE_ALREADY_EXISTS"
    );
    assert_eq!(again(true).await.unwrap().status(), StatusCode::OK);
    let info = api.status_of("/Shared/up.py").await;
    assert_eq!(info["object_type"], "FILE");
    assert_eq!(api.export("/Shared/up.py", "AUTO").await.0, b"raw text");
}

#[tokio::test]
async fn import_conflicts_overwrite_and_missing_parent() {
    let api = Api::start().await;
    api.import("/Shared/x", b"1", "SOURCE", Some("PYTHON"))
        .await;
    let created = api.status_of("/Shared/x").await;
    let msg = assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/x", "content": STANDARD.encode("2"), "language": "PYTHON"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "RESOURCE_ALREADY_EXISTS",
    );
    assert_eq!(msg, "Path (/Shared/x) already exists.");
    let (status, _) = api
        .post("import", json!({"path": "/Shared/x", "content": STANDARD.encode("2"), "language": "SCALA", "overwrite": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let replaced = api.status_of("/Shared/x").await;
    assert_eq!(replaced["language"], "SCALA");
    assert_eq!(replaced["object_id"], created["object_id"]);
    assert_eq!(
        api.export("/Shared/x", "SOURCE").await.0,
        b"// Databricks notebook source\n2"
    );
    let msg = assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/no/such/x", "content": "", "format": "RAW"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert!(msg.contains("/Shared/no/such"), "{msg}");
    // A folder is never overwritten by an import.
    assert_error(
        api.post(
            "import",
            json!({"path": "/Shared", "content": "", "format": "RAW", "overwrite": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "RESOURCE_ALREADY_EXISTS",
    );
}

#[tokio::test]
async fn unsupported_formats_say_so() {
    let api = Api::start().await;
    api.import("/Shared/nb", b"1", "SOURCE", Some("PYTHON"))
        .await;
    for format in ["HTML", "DBC", "R_MARKDOWN"] {
        let msg = assert_error(
            api.post(
                "import",
                json!({"path": "/Shared/y", "content": "", "format": format}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
        );
        assert!(msg.contains("not supported by the emulator"), "{msg}");
        let msg = assert_error(
            api.get("export", &[("path", "/Shared/nb"), ("format", format)])
                .await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
        );
        assert!(msg.contains(format), "{msg}");
    }
    let msg = assert_error(
        api.get("export", &[("path", "/Shared"), ("format", "JUPYTER")])
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(msg.contains("only as SOURCE or AUTO"), "{msg}");
}

#[tokio::test]
async fn folders_export_as_zip_and_import_back() {
    use brickwire_emulator::workspace_objects::zip;
    let api = Api::start().await;
    api.post("mkdirs", json!({"path": "/Shared/proj/sub"}))
        .await;
    api.import("/Shared/proj/main", b"print(1)", "SOURCE", Some("PYTHON"))
        .await;
    api.import("/Shared/proj/sub/q", b"SELECT 1", "SOURCE", Some("SQL"))
        .await;
    api.import("/Shared/proj/book.ipynb", IPYNB.as_bytes(), "AUTO", None)
        .await;
    api.import("/Shared/proj/data.csv", b"a\n1\n", "RAW", None)
        .await;

    let (source, file_type) = api.export("/Shared/proj", "SOURCE").await;
    assert_eq!(file_type, "zip");
    let names: Vec<String> = zip::read(&source)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        vec![
            "proj/",
            "proj/book.py",
            "proj/main.py",
            "proj/sub/",
            "proj/sub/q.sql"
        ]
    );

    let (auto, _) = api.export("/Shared/proj", "AUTO").await;
    let entries = zip::read(&auto).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "proj/",
            "proj/book.ipynb",
            "proj/data.csv",
            "proj/main.py",
            "proj/sub/",
            "proj/sub/q.sql"
        ]
    );
    assert_eq!(entries[3].data, b"# Databricks notebook source\nprint(1)");

    // A SOURCE import without language takes a zip and recreates the folder elsewhere.
    let body =
        json!({"path": "/Shared/copy", "content": STANDARD.encode(&auto), "format": "SOURCE"});
    let (status, body) = api.post("import", body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        api.status_of("/Shared/copy/main").await["language"],
        "PYTHON"
    );
    assert_eq!(api.status_of("/Shared/copy/sub/q").await["language"], "SQL");
    assert_eq!(
        api.status_of("/Shared/copy/data.csv").await["object_type"],
        "FILE"
    );
    assert_eq!(
        api.export("/Shared/copy/book", "JUPYTER").await.0,
        IPYNB.as_bytes()
    );
    // Importing over an existing path is refused.
    let again =
        json!({"path": "/Shared/copy", "content": STANDARD.encode(&auto), "format": "SOURCE"});
    assert_error(
        api.post("import", again).await,
        StatusCode::BAD_REQUEST,
        "RESOURCE_ALREADY_EXISTS",
    );
}

#[tokio::test]
async fn content_over_the_limit_is_max_notebook_size_exceeded() {
    let api = Api::start().await;
    // The real 10 MB limit, sent as multipart like the SDK's upload.
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let form = reqwest::multipart::Form::new()
        .text("path", "/Shared/big.txt")
        .text("format", "AUTO")
        .part(
            "content",
            reqwest::multipart::Part::bytes(big).file_name("content"),
        );
    let resp = api
        .http
        .post(api.url("import"))
        .bearer_auth(api.emu.token())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error_code"],
        "MAX_NOTEBOOK_SIZE_EXCEEDED"
    );
    // The limit is a setting.
    api.emu
        .state()
        .settings
        .write()
        .unwrap()
        .workspace_objects
        .max_content_bytes = 4;
    assert_error(
        api.post(
            "import",
            json!({"path": "/Shared/s", "content": STANDARD.encode("12345"), "format": "RAW"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "MAX_NOTEBOOK_SIZE_EXCEEDED",
    );
    api.import("/Shared/s", b"1234", "RAW", None).await;
}

#[tokio::test]
async fn list_children_single_objects_empty_folders_and_modified_after() {
    let api = Api::start().await;
    api.post("mkdirs", json!({"path": "/Shared/l/sub/deeper"}))
        .await;
    api.post("mkdirs", json!({"path": "/Shared/empty"})).await;
    api.import("/Shared/l/nb", b"1", "SOURCE", Some("PYTHON"))
        .await;
    api.import("/Shared/l/f.txt", b"abc", "RAW", None).await;
    let (status, body) = api.get("list", &[("path", "/Shared/l")]).await;
    assert_eq!(status, StatusCode::OK);
    let paths: Vec<&str> = body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["/Shared/l/f.txt", "/Shared/l/nb", "/Shared/l/sub"]
    );
    let (_, one) = api.get("list", &[("path", "/Shared/l/f.txt")]).await;
    assert_eq!(one["objects"][0]["object_type"], "FILE");
    assert_eq!(one["objects"][0]["size"], 3);
    let (status, empty) = api.get("list", &[("path", "/Shared/empty")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({}));
    let modified = api.status_of("/Shared/l/nb").await["modified_at"]
        .as_i64()
        .unwrap();
    let (_, after) = api
        .get(
            "list",
            &[
                ("path", "/Shared/l"),
                ("notebooks_modified_after", &modified.to_string()),
            ],
        )
        .await;
    assert_eq!(after["objects"].as_array().unwrap().len(), 2, "{after}");
    let (_, before) = api
        .get(
            "list",
            &[
                ("path", "/Shared/l"),
                ("notebooks_modified_after", &(modified - 1).to_string()),
            ],
        )
        .await;
    assert_eq!(before["objects"].as_array().unwrap().len(), 3);
    // The /Workspace prefix names the same tree.
    let (_, prefixed) = api.get("list", &[("path", "/Workspace/Shared/l")]).await;
    assert_eq!(prefixed["objects"].as_array().unwrap().len(), 3);
    let msg = assert_error(
        api.get("list", &[("path", "/nope")]).await,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert_eq!(msg, "Path (/nope) doesn't exist.");
}

#[tokio::test]
async fn missing_paths_are_404_everywhere() {
    let api = Api::start().await;
    let msg = assert_error(
        api.get("get-status", &[("path", "/x")]).await,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert_eq!(msg, "Path (/x) doesn't exist.");
    assert_error(
        api.get("export", &[("path", "/x")]).await,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert_error(
        api.post("delete", json!({"path": "/x"})).await,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    );
}

#[tokio::test]
async fn delete_files_and_folders() {
    let api = Api::start().await;
    api.post("mkdirs", json!({"path": "/Shared/d/e"})).await;
    api.import("/Shared/d/e/nb", b"1", "SOURCE", Some("R"))
        .await;
    api.import("/Shared/d/f", b"1", "RAW", None).await;
    assert_eq!(
        api.post("delete", json!({"path": "/Shared/d/f"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.get("get-status", &[("path", "/Shared/d/f")]).await.0,
        StatusCode::NOT_FOUND
    );
    let msg = assert_error(
        api.post("delete", json!({"path": "/Shared/d"})).await,
        StatusCode::BAD_REQUEST,
        "DIRECTORY_NOT_EMPTY",
    );
    assert!(msg.contains("/Shared/d"), "{msg}");
    assert_eq!(
        api.post("delete", json!({"path": "/Shared/d", "recursive": true}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        api.get("get-status", &[("path", "/Shared/d/e/nb")]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("get-status", &[("path", "/Shared/d")]).await.0,
        StatusCode::NOT_FOUND
    );
    // An empty folder goes without `recursive`.
    api.post("mkdirs", json!({"path": "/Shared/g"})).await;
    assert_eq!(
        api.post("delete", json!({"path": "/Shared/g"})).await.0,
        StatusCode::OK
    );
    assert_error(
        api.post("delete", json!({"path": "/"})).await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
}

#[tokio::test]
async fn malformed_json_gets_a_databricks_error_body() {
    let api = Api::start().await;
    let resp = api
        .http
        .post(api.url("mkdirs"))
        .bearer_auth(api.emu.token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error_code"],
        "MALFORMED_REQUEST"
    );
}
