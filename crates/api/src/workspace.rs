//! Workspace objects (`/api/2.0/workspace/*`): [`ObjectInfo`], import/export bodies, formats
//! and languages.

use serde::{Deserialize, Serialize};

use crate::common::Extra;

crate::string_enum! {
    /// What a workspace object is.
    pub enum ObjectType {
        Notebook = "NOTEBOOK",
        Directory = "DIRECTORY",
        File = "FILE",
        Library = "LIBRARY",
        Repo = "REPO",
        Dashboard = "DASHBOARD",
    }
}

crate::string_enum! {
    /// A notebook language.
    pub enum Language { Python = "PYTHON", Scala = "SCALA", Sql = "SQL", R = "R" }
}

crate::string_enum! {
    /// An import or export format (case-sensitive on the wire).
    pub enum ExportFormat {
        Source = "SOURCE",
        Html = "HTML",
        Jupyter = "JUPYTER",
        RMarkdown = "R_MARKDOWN",
        Dbc = "DBC",
        Auto = "AUTO",
        Raw = "RAW",
    }
}

/// A workspace object as `list` and `get-status` describe it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<ObjectType>,
    /// The numeric id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<i64>,
    /// The resource id (a string form of the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The language (notebooks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Creation time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Modification time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<i64>,
    /// Size in bytes (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Fields this version does not model (`directory_info`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `workspace/import` (JSON form).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The absolute target path.
    pub path: String,
    /// The content, base64-encoded (≤ 10 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The format (default `SOURCE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ExportFormat>,
    /// The language (required for a single `SOURCE` notebook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Replace an existing object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

/// The answer of `workspace/export` without `direct_download`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExportResponse {
    /// The content, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The file extension of the export, e.g. `py`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `workspace/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListObjectsResponse {
    /// The objects (the key is absent for an empty directory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectInfo>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `workspace/delete`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// The path.
    pub path: String,
    /// Delete a non-empty directory (not atomic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
}

/// The body of `workspace/mkdirs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MkdirsRequest {
    /// The directory to create, with its parents.
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_info_round_trips() {
        let raw = serde_json::json!({
            "path": "/Users/a/nb", "object_type": "NOTEBOOK", "object_id": 42, "language": "PYTHON",
            "directory_info": {"is_git_folder": false}
        });
        let o: ObjectInfo = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(o.object_type, Some(ObjectType::Notebook));
        assert_eq!(serde_json::to_value(&o).unwrap(), raw);
    }
}
