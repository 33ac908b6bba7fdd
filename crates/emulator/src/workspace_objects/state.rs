//! The workspace tree with no HTTP: directories, notebooks and files keyed by absolute path,
//! and the import/export/list/get-status/delete/mkdirs rules over it.
//!
//! Paths are normalized once ([`normalize`]): absolute, no trailing `/`, and an optional
//! `/Workspace` prefix dropped, so `/Workspace/Shared/x` and `/Shared/x` name the same object.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::notebook::{self, Language};
use super::zip;
use crate::error::{ApiError, ErrorCode};

/// The user the emulator acts as; its home folder `/Users/<user>` exists from the start.
pub const EMULATOR_USER: &str = crate::state::EMULATOR_USER;

/// Settings of the workspace objects service, changeable through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Largest decoded import content in bytes; above it imports fail with
    /// `MAX_NOTEBOOK_SIZE_EXCEEDED` (Databricks: 10 MB).
    pub max_content_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_content_bytes: 10 * 1024 * 1024,
        }
    }
}

/// What a workspace object holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// A folder.
    Directory,
    /// A notebook: its language, its source body (no header), and the `.ipynb` it was imported
    /// from, if any (returned as is by a `JUPYTER` export).
    Notebook {
        /// Notebook language.
        language: Language,
        /// Source body without the `Databricks notebook source` header.
        source: String,
        /// The imported Jupyter document, kept verbatim.
        ipynb: Option<String>,
    },
    /// A workspace file.
    File {
        /// Raw bytes.
        #[serde(with = "base64_bytes")]
        content: Vec<u8>,
    },
}

/// One object of the tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    /// Numeric id, unique in the workspace.
    pub object_id: i64,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last modification time, epoch ms.
    pub modified_at: i64,
    /// The content.
    pub body: Body,
}

/// `ObjectInfo` as `list` and `get-status` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Absolute path.
    pub path: String,
    /// `DIRECTORY`, `NOTEBOOK` or `FILE`.
    pub object_type: String,
    /// Numeric id.
    pub object_id: i64,
    /// The id as a string, consistent across APIs.
    pub resource_id: String,
    /// Notebook language (notebooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Creation time, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Last modification time, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<i64>,
    /// Size in bytes (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// `{is_git_folder: false}` (directories only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_info: Option<serde_json::Value>,
}

/// An import request, already decoded from JSON (base64) or multipart.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// Target path as sent.
    pub path: String,
    /// Decoded content.
    pub content: Vec<u8>,
    /// `format`; `None` means `SOURCE`.
    pub format: Option<String>,
    /// `language`.
    pub language: Option<String>,
    /// Replace an existing object.
    pub overwrite: bool,
}

/// An export result.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The exported bytes.
    pub content: Vec<u8>,
    /// The `file_type` (an extension such as `py` or `ipynb`), if any.
    pub file_type: Option<String>,
}

/// The workspace tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    objects: BTreeMap<String, Object>,
    next_object_id: i64,
}

impl Default for State {
    fn default() -> Self {
        let now = crate::state::now_ms();
        let mut state = Self {
            objects: BTreeMap::new(),
            next_object_id: 1,
        };
        state.objects.insert(
            "/".to_owned(),
            Object {
                object_id: 0,
                created_at: now,
                modified_at: now,
                body: Body::Directory,
            },
        );
        for dir in ["/Users", &format!("/Users/{EMULATOR_USER}"), "/Shared"] {
            state.mkdirs(dir, now).expect("seed folders");
        }
        state
    }
}

/// `Path (/x) doesn't exist.`, the workspace's 404.
pub fn path_not_found(path: &str) -> ApiError {
    ApiError::not_found(format!("Path ({path}) doesn't exist."))
}

fn already_exists(message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::ResourceAlreadyExists,
        message,
    )
}

fn unsupported_format(format: &str) -> ApiError {
    ApiError::invalid_parameter(format!(
        "The {format} format is not supported by the emulator; use SOURCE, JUPYTER, AUTO or RAW."
    ))
}

/// Normalizes an API path: absolute, no trailing slash, no `/Workspace` prefix, no `.`/`..`.
pub fn normalize(path: &str) -> Result<String, ApiError> {
    if path.is_empty() {
        return Err(ApiError::missing_field("path"));
    }
    if !path.starts_with('/') {
        return Err(ApiError::invalid_parameter(format!(
            "Path ({path}) is not absolute; workspace paths start with /."
        )));
    }
    let path = match path.strip_prefix("/Workspace") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(ApiError::invalid_parameter(format!(
                "Path ({path}) must not contain `.` or `..` segments."
            )));
        }
        parts.push(part);
    }
    Ok(format!("/{}", parts.join("/")))
}

fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn split_extension(path: &str) -> Option<(&str, &str)> {
    let name = name_of(path);
    let dot = name.rfind('.')?;
    if dot == 0 {
        return None;
    }
    let cut = path.len() - name.len() + dot;
    Some((&path[..cut], &path[cut + 1..]))
}

impl State {
    fn info(&self, path: &str, object: &Object) -> ObjectInfo {
        let (object_type, language, size, directory_info) = match &object.body {
            Body::Directory => (
                "DIRECTORY",
                None,
                None,
                Some(serde_json::json!({"is_git_folder": false})),
            ),
            Body::Notebook { language, .. } => ("NOTEBOOK", Some(*language), None, None),
            Body::File { content } => ("FILE", None, Some(content.len() as i64), None),
        };
        let timestamps = !matches!(object.body, Body::Directory);
        ObjectInfo {
            path: path.to_owned(),
            object_type: object_type.to_owned(),
            object_id: object.object_id,
            resource_id: object.object_id.to_string(),
            language,
            created_at: timestamps.then_some(object.created_at),
            modified_at: timestamps.then_some(object.modified_at),
            size,
            directory_info,
        }
    }

    fn children(&self, dir: &str) -> Vec<(&String, &Object)> {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        self.objects
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .collect()
    }

    fn descendants(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.objects
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn new_id(&mut self) -> i64 {
        let id = self.next_object_id;
        self.next_object_id += 1;
        // Real object ids are large; keep ours distinct from small test counters.
        1_000_000_000 + id
    }

    /// Whether a notebook exists at `path` (a `/Workspace/...` prefix is accepted).
    pub fn notebook_exists(&self, path: &str) -> bool {
        normalize(path)
            .ok()
            .and_then(|p| self.objects.get(&p))
            .is_some_and(|o| matches!(o.body, Body::Notebook { .. }))
    }

    /// `mkdirs`: creates the folder and its parents; fine if it exists; an error if any prefix
    /// is a notebook or file.
    pub fn mkdirs(&mut self, path: &str, now: i64) -> Result<(), ApiError> {
        let path = normalize(path)?;
        let mut current = String::new();
        let mut to_create = Vec::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            current.push('/');
            current.push_str(part);
            match self.objects.get(&current) {
                Some(Object {
                    body: Body::Directory,
                    ..
                }) => {}
                Some(_) => {
                    return Err(already_exists(format!(
                        "Path ({current}) already exists and it is not a folder."
                    )));
                }
                None => to_create.push(current.clone()),
            }
        }
        for dir in to_create {
            let object_id = self.new_id();
            self.objects.insert(
                dir,
                Object {
                    object_id,
                    created_at: now,
                    modified_at: now,
                    body: Body::Directory,
                },
            );
        }
        Ok(())
    }

    /// `import`: stores a notebook or file as its format says.
    pub fn import(&mut self, req: Import, max_bytes: usize, now: i64) -> Result<(), ApiError> {
        let path = normalize(&req.path)?;
        if req.content.len() > max_bytes {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MaxNotebookSizeExceeded,
                format!(
                    "File size imported is ({} bytes), exceeded max size ({max_bytes} bytes)",
                    req.content.len()
                ),
            ));
        }
        let language = match req.language.as_deref() {
            None | Some("") => None,
            Some(l) => Some(Language::parse(l).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "Invalid language ({l}); expected one of PYTHON, SCALA, SQL, R."
                ))
            })?),
        };
        let format = req.format.as_deref().unwrap_or("SOURCE");
        let (target, body) = match format {
            "SOURCE" => {
                let Some(language) = language else {
                    if zip::is_zip(&req.content) {
                        return self.import_folder(&path, &req.content, now);
                    }
                    return Err(ApiError::invalid_parameter(
                        "A SOURCE import without `language` must be a zip archive of a folder; \
                         set `language` for a notebook, or use format AUTO or RAW for a file.",
                    ));
                };
                (path, source_notebook(language, &req.content)?)
            }
            "JUPYTER" => (path, jupyter_notebook(&req.content)?),
            "AUTO" => auto_detect(&path, &req.content)?,
            "RAW" => (
                path,
                Body::File {
                    content: req.content,
                },
            ),
            "HTML" | "DBC" | "R_MARKDOWN" => return Err(unsupported_format(format)),
            other => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid format ({other}); expected one of SOURCE, HTML, JUPYTER, DBC, \
                     R_MARKDOWN, AUTO, RAW."
                )));
            }
        };
        if target == "/" {
            return Err(already_exists("Path (/) already exists.".to_owned()));
        }
        let parent = parent_of(&target).unwrap_or("/");
        match self.objects.get(parent) {
            Some(Object {
                body: Body::Directory,
                ..
            }) => {}
            Some(_) => {
                return Err(ApiError::invalid_parameter(format!(
                    "The parent path ({parent}) is not a folder."
                )));
            }
            None => {
                return Err(ApiError::not_found(format!(
                    "The parent folder ({parent}) does not exist."
                )));
            }
        }
        let (object_id, created_at) = match self.objects.get(&target) {
            Some(Object {
                body: Body::Directory,
                ..
            }) => {
                return Err(already_exists(format!(
                    "Path ({target}) already exists and it is a folder."
                )));
            }
            Some(existing) if req.overwrite => (existing.object_id, existing.created_at),
            Some(_) => return Err(already_exists(format!("Path ({target}) already exists."))),
            None => (self.new_id(), now),
        };
        self.objects.insert(
            target,
            Object {
                object_id,
                created_at,
                modified_at: now,
                body,
            },
        );
        Ok(())
    }

    /// `export`: the object's content in `format` (default `SOURCE`).
    pub fn export(&self, path: &str, format: Option<&str>) -> Result<Exported, ApiError> {
        let path = normalize(path)?;
        let object = self
            .objects
            .get(&path)
            .ok_or_else(|| path_not_found(&path))?;
        let format = format.unwrap_or("SOURCE");
        match format {
            "SOURCE" | "JUPYTER" | "AUTO" | "RAW" => {}
            "HTML" | "DBC" | "R_MARKDOWN" => return Err(unsupported_format(format)),
            other => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid format ({other}); expected one of SOURCE, HTML, JUPYTER, DBC, \
                     R_MARKDOWN, AUTO, RAW."
                )));
            }
        }
        match &object.body {
            Body::Directory => self.export_folder(&path, format),
            Body::File { content } => {
                if format == "JUPYTER" {
                    return Err(ApiError::invalid_parameter(format!(
                        "Path ({path}) is a file, not a notebook; export it as SOURCE, AUTO or RAW."
                    )));
                }
                Ok(Exported {
                    content: content.clone(),
                    file_type: split_extension(&path).map(|(_, ext)| ext.to_lowercase()),
                })
            }
            Body::Notebook {
                language,
                source,
                ipynb,
            } => {
                let as_jupyter = format == "JUPYTER" || (format == "AUTO" && ipynb.is_some());
                if as_jupyter {
                    let doc = match ipynb {
                        Some(doc) => doc.clone(),
                        None => notebook::source_to_jupyter(*language, name_of(&path), source),
                    };
                    Ok(Exported {
                        content: doc.into_bytes(),
                        file_type: Some("ipynb".to_owned()),
                    })
                } else {
                    Ok(Exported {
                        content: notebook::to_source(*language, source).into_bytes(),
                        file_type: Some(language.extension().to_owned()),
                    })
                }
            }
        }
    }

    /// A folder as a zip archive rooted at the folder's name: notebooks as source files (or
    /// `.ipynb` under `AUTO` when imported so), and under `AUTO` also workspace files.
    fn export_folder(&self, path: &str, format: &str) -> Result<Exported, ApiError> {
        if !matches!(format, "SOURCE" | "AUTO") {
            return Err(ApiError::invalid_parameter(format!(
                "The folder ({path}) can be exported only as SOURCE or AUTO (DBC is not \
                 supported by the emulator)."
            )));
        }
        let root = if path == "/" { "root" } else { name_of(path) };
        let mut entries = vec![zip::Entry {
            name: format!("{root}/"),
            data: Vec::new(),
        }];
        let strip = if path == "/" { 1 } else { path.len() + 1 };
        for child in self.descendants(path) {
            let rel = format!("{root}/{}", &child[strip..]);
            match &self.objects[&child].body {
                Body::Directory => entries.push(zip::Entry {
                    name: format!("{rel}/"),
                    data: Vec::new(),
                }),
                Body::Notebook {
                    ipynb: Some(doc), ..
                } if format == "AUTO" => entries.push(zip::Entry {
                    name: format!("{rel}.ipynb"),
                    data: doc.clone().into_bytes(),
                }),
                Body::Notebook {
                    language, source, ..
                } => entries.push(zip::Entry {
                    name: format!("{rel}.{}", language.extension()),
                    data: notebook::to_source(*language, source).into_bytes(),
                }),
                Body::File { content } if format == "AUTO" => entries.push(zip::Entry {
                    name: rel,
                    data: content.clone(),
                }),
                Body::File { .. } => {}
            }
        }
        Ok(Exported {
            content: zip::write(&entries),
            file_type: Some("zip".to_owned()),
        })
    }

    /// A `SOURCE` zip import: creates folder `path` with the archive's content (a single
    /// top-level folder in the archive is taken as `path` itself). Entries are detected like
    /// `AUTO` imports: notebooks by extension and header, everything else as files.
    fn import_folder(&mut self, path: &str, archive: &[u8], now: i64) -> Result<(), ApiError> {
        let entries = zip::read(archive).map_err(|e| {
            ApiError::invalid_parameter(format!("Unable to import the folder: {e}"))
        })?;
        if self.objects.contains_key(path) {
            return Err(already_exists(format!("Path ({path}) already exists.")));
        }
        let parent = parent_of(path).unwrap_or("/");
        if !matches!(
            self.objects.get(parent).map(|o| &o.body),
            Some(Body::Directory)
        ) {
            return Err(ApiError::not_found(format!(
                "The parent folder ({parent}) does not exist."
            )));
        }
        let top = |name: &str| name.split('/').next().unwrap_or_default().to_owned();
        let common = entries.first().map(|e| top(&e.name)).filter(|first| {
            entries
                .iter()
                .all(|e| top(&e.name) == *first && e.name.len() > first.len())
        });
        let mut plan = Vec::new();
        for entry in &entries {
            let rel = match &common {
                Some(root) => &entry.name[root.len() + 1..],
                None => entry.name.as_str(),
            };
            let rel = rel.trim_end_matches('/');
            if rel.split('/').any(|p| p == ".." || p == ".") || entry.name.starts_with('/') {
                return Err(ApiError::invalid_parameter(format!(
                    "Unable to import the folder: the zip entry {} leaves the folder.",
                    entry.name
                )));
            }
            if rel.is_empty() {
                continue;
            }
            let full = normalize(&format!("{path}/{rel}"))?;
            if entry.name.ends_with('/') {
                plan.push((full, None));
            } else {
                plan.push(auto_detect(&full, &entry.data).map(|(p, b)| (p, Some(b)))?);
            }
        }
        self.mkdirs(path, now)?;
        for (target, body) in plan {
            match body {
                None => self.mkdirs(&target, now)?,
                Some(body) => {
                    self.mkdirs(parent_of(&target).unwrap_or("/"), now)?;
                    let object_id = self.new_id();
                    self.objects.insert(
                        target,
                        Object {
                            object_id,
                            created_at: now,
                            modified_at: now,
                            body,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// `get-status`.
    pub fn get_status(&self, path: &str) -> Result<ObjectInfo, ApiError> {
        let path = normalize(path)?;
        let object = self
            .objects
            .get(&path)
            .ok_or_else(|| path_not_found(&path))?;
        Ok(self.info(&path, object))
    }

    /// `list`: a folder's children (sorted by path), or the object itself for a non-folder.
    /// `notebooks_modified_after` drops notebooks modified at or before that time.
    pub fn list(
        &self,
        path: &str,
        notebooks_modified_after: Option<i64>,
    ) -> Result<Vec<ObjectInfo>, ApiError> {
        let path = normalize(path)?;
        let object = self
            .objects
            .get(&path)
            .ok_or_else(|| path_not_found(&path))?;
        let keep = |o: &Object| match (&o.body, notebooks_modified_after) {
            (Body::Notebook { .. }, Some(after)) => o.modified_at > after,
            _ => true,
        };
        if !matches!(object.body, Body::Directory) {
            return Ok(if keep(object) {
                vec![self.info(&path, object)]
            } else {
                Vec::new()
            });
        }
        Ok(self
            .children(&path)
            .into_iter()
            .filter(|(_, o)| keep(o))
            .map(|(p, o)| self.info(p, o))
            .collect())
    }

    /// `delete`: an object, or a folder with everything under it when `recursive`.
    pub fn delete(&mut self, path: &str, recursive: bool) -> Result<(), ApiError> {
        let path = normalize(path)?;
        if path == "/" {
            return Err(ApiError::invalid_parameter(
                "The root folder (/) cannot be deleted.",
            ));
        }
        let object = self
            .objects
            .get(&path)
            .ok_or_else(|| path_not_found(&path))?;
        if matches!(object.body, Body::Directory) {
            let below = self.descendants(&path);
            if !below.is_empty() && !recursive {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::DirectoryNotEmpty,
                    format!("Folder ({path}) is not empty"),
                ));
            }
            for p in below {
                self.objects.remove(&p);
            }
        }
        self.objects.remove(&path);
        Ok(())
    }
}

fn utf8(content: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(content)
        .map_err(|_| ApiError::invalid_parameter("Notebook source must be UTF-8 text."))
}

fn source_notebook(language: Language, content: &[u8]) -> Result<Body, ApiError> {
    Ok(Body::Notebook {
        language,
        source: notebook::strip_header(language, utf8(content)?),
        ipynb: None,
    })
}

fn jupyter_notebook(content: &[u8]) -> Result<Body, ApiError> {
    let source = notebook::jupyter_to_source(content)
        .map_err(|e| ApiError::invalid_parameter(format!("Unable to import notebook: {e}")))?;
    Ok(Body::Notebook {
        language: Language::Python,
        source,
        ipynb: Some(utf8(content)?.to_owned()),
    })
}

/// `AUTO`: `.ipynb` is a Jupyter notebook; a source extension whose content starts with the
/// notebook header is a notebook; both lose their extension. Anything else is a file.
fn auto_detect(path: &str, content: &[u8]) -> Result<(String, Body), ApiError> {
    if let Some((stem, ext)) = split_extension(path) {
        if ext == "ipynb" {
            return Ok((stem.to_owned(), jupyter_notebook(content)?));
        }
        if let Some(language) = Language::from_extension(ext)
            && let Ok(text) = std::str::from_utf8(content)
            && notebook::has_header(language, text)
        {
            return Ok((stem.to_owned(), source_notebook(language, content)?));
        }
    }
    Ok((
        path.to_owned(),
        Body::File {
            content: content.to_vec(),
        },
    ))
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(state: &mut State, path: &str, content: &[u8], format: &str, lang: Option<&str>) {
        state
            .import(
                Import {
                    path: path.to_owned(),
                    content: content.to_vec(),
                    format: Some(format.to_owned()),
                    language: lang.map(str::to_owned),
                    overwrite: false,
                },
                1 << 20,
                10,
            )
            .unwrap();
    }

    #[test]
    fn seeded_folders_exist() {
        let s = State::default();
        for p in ["/", "/Users", "/Shared", &format!("/Users/{EMULATOR_USER}")] {
            assert_eq!(s.get_status(p).unwrap().object_type, "DIRECTORY", "{p}");
        }
        assert_eq!(s.get_status("/").unwrap().object_id, 0);
    }

    #[test]
    fn normalize_drops_workspace_prefix_and_trailing_slash() {
        assert_eq!(normalize("/Workspace/Shared/x/").unwrap(), "/Shared/x");
        assert_eq!(normalize("/Workspaces/x").unwrap(), "/Workspaces/x");
        assert_eq!(normalize("/").unwrap(), "/");
        assert!(normalize("Shared").is_err());
        assert!(normalize("/a/../b").is_err());
    }

    #[test]
    fn auto_strips_notebook_extension_only_with_header() {
        let mut s = State::default();
        import(
            &mut s,
            "/Shared/nb.py",
            b"# Databricks notebook source\nx = 1",
            "AUTO",
            None,
        );
        import(&mut s, "/Shared/plain.py", b"x = 1", "AUTO", None);
        assert!(s.notebook_exists("/Shared/nb"));
        assert!(s.notebook_exists("/Workspace/Shared/nb"));
        assert_eq!(
            s.get_status("/Shared/plain.py").unwrap().object_type,
            "FILE"
        );
        assert!(s.get_status("/Shared/nb.py").is_err());
    }

    #[test]
    fn state_survives_a_json_snapshot() {
        let mut s = State::default();
        import(&mut s, "/Shared/f.bin", &[0, 159, 255], "RAW", None);
        import(&mut s, "/Shared/nb", b"x = 1", "SOURCE", Some("SCALA"));
        let copy: State = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        for path in ["/Shared/f.bin", "/Shared/nb"] {
            assert_eq!(
                copy.export(path, None).unwrap(),
                s.export(path, None).unwrap()
            );
            assert_eq!(copy.get_status(path).unwrap(), s.get_status(path).unwrap());
        }
    }

    #[test]
    fn list_filters_notebooks_by_modification_time() {
        let mut s = State::default();
        import(&mut s, "/Shared/nb", b"1", "SOURCE", Some("PYTHON"));
        import(&mut s, "/Shared/f.txt", b"1", "RAW", None);
        let all = s.list("/Shared", None).unwrap();
        assert_eq!(all.len(), 2);
        let after = s.list("/Shared", Some(10)).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].path, "/Shared/f.txt");
    }
}
