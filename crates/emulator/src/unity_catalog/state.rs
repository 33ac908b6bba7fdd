//! Unity Catalog's metastore with no HTTP: catalogs, schemas, tables (with their data) and volumes.
//!
//! The SQL engine ([`crate::sql`]) and the REST routes both read and change this one state, so a
//! table made with `CREATE TABLE` shows in `GET /tables` and a table deleted through the API is
//! gone from SQL. Names are case-insensitive in Unity Catalog; keys are stored lowercased.
//! Start reading at [`State`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use brickwire_api::unity_catalog::VolumeType;
use datafusion::catalog::MemTable;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ErrorCode;
use crate::state::now_ms;

/// The user every object is owned and changed by: the emulator has one caller identity.
pub const EMULATOR_USER: &str = crate::state::EMULATOR_USER;

/// Settings of Unity Catalog, changeable through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The page length used when a list asks for `max_results=0` (or omits it on the lists that
    /// are paginated by default: table summaries and volumes).
    pub page_size: usize,
    /// When true, every paginated list answers an empty page carrying a `next_page_token` before
    /// each page with items, as Databricks may; clients must keep going until the token is gone.
    pub empty_pages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            page_size: 50,
            empty_pages: false,
        }
    }
}

/// Why a Unity Catalog operation failed. Routes turn it into an HTTP error, the SQL engine into
/// a statement error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UcError {
    /// No catalog has this name.
    #[error("Catalog '{0}' does not exist.")]
    CatalogNotFound(String),
    /// No schema has this full name.
    #[error("Schema '{0}' does not exist.")]
    SchemaNotFound(String),
    /// No table has this full name.
    #[error("Table '{0}' does not exist.")]
    TableNotFound(String),
    /// No volume has this full name.
    #[error("Volume '{0}' does not exist.")]
    VolumeNotFound(String),
    /// An object of this kind (`Catalog`, `Schema`, `Table`, `Volume`) already has the name.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists {
        /// `Catalog`, `Schema`, `Table` or `Volume`.
        kind: &'static str,
        /// The full name.
        name: String,
    },
    /// A catalog or schema still holds objects and `force` was not given.
    #[error("{kind} '{name}' is not empty. {detail}")]
    NotEmpty {
        /// `Catalog` or `Schema`.
        kind: &'static str,
        /// The full name.
        name: String,
        /// What it still holds.
        detail: String,
    },
    /// A request field is missing or invalid.
    #[error("{0}")]
    InvalidParameter(String),
}

impl UcError {
    /// The Databricks `error_code` of this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::CatalogNotFound(_) => ErrorCode::CatalogDoesNotExist,
            Self::SchemaNotFound(_) => ErrorCode::SchemaDoesNotExist,
            Self::TableNotFound(_) => ErrorCode::TableDoesNotExist,
            Self::VolumeNotFound(_) => ErrorCode::ResourceDoesNotExist,
            Self::AlreadyExists { kind, .. } => match *kind {
                "Catalog" => ErrorCode::CatalogAlreadyExists,
                "Schema" => ErrorCode::SchemaAlreadyExists,
                "Volume" => ErrorCode::VolumeAlreadyExists,
                _ => ErrorCode::TableAlreadyExists,
            },
            Self::NotEmpty { kind, .. } => match *kind {
                "Catalog" => ErrorCode::CatalogNotEmpty,
                _ => ErrorCode::SchemaNotEmpty,
            },
            Self::InvalidParameter(_) => ErrorCode::InvalidParameterValue,
        }
    }
}

impl From<UcError> for crate::ApiError {
    fn from(e: UcError) -> Self {
        use axum::http::StatusCode;
        let status = match &e {
            UcError::CatalogNotFound(_)
            | UcError::SchemaNotFound(_)
            | UcError::TableNotFound(_)
            | UcError::VolumeNotFound(_) => StatusCode::NOT_FOUND,
            UcError::AlreadyExists { .. } => StatusCode::CONFLICT,
            UcError::NotEmpty { .. } | UcError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
        };
        crate::ApiError::new(status, e.error_code(), e.to_string())
    }
}

/// Who made and last changed an object, and when (epoch milliseconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Audit {
    /// Owner of the object.
    pub owner: String,
    /// Creation time.
    pub created_at: i64,
    /// Creator.
    pub created_by: String,
    /// Last change time.
    pub updated_at: i64,
    /// Last changer.
    pub updated_by: String,
}

impl Audit {
    fn new() -> Self {
        let now = now_ms();
        Self {
            owner: EMULATOR_USER.into(),
            created_at: now,
            created_by: EMULATOR_USER.into(),
            updated_at: now,
            updated_by: EMULATOR_USER.into(),
        }
    }

    fn touch(&mut self) {
        // Strictly increasing so a client can tell an update happened even within one millisecond.
        self.updated_at = now_ms().max(self.updated_at + 1);
        self.updated_by = EMULATOR_USER.into();
    }
}

/// A catalog (`CatalogInfo`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogInfo {
    /// Name, also its full name.
    pub name: String,
    /// `MANAGED_CATALOG` or `SYSTEM_CATALOG`.
    pub catalog_type: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// User properties.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// `storage_root` given at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// Where managed data lives.
    pub storage_location: String,
    /// Unique id.
    pub id: String,
    /// `OPEN` or `ISOLATED`.
    pub isolation_mode: String,
    /// Owner and change history.
    #[serde(flatten)]
    pub audit: Audit,
    /// Fields the emulator does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A schema (`SchemaInfo`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaInfo {
    /// Name within the catalog.
    pub name: String,
    /// Parent catalog.
    pub catalog_name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// User properties.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// `storage_root` given at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// Where managed data lives.
    pub storage_location: String,
    /// Unique id.
    pub schema_id: String,
    /// Owner and change history.
    #[serde(flatten)]
    pub audit: Audit,
    /// Fields the emulator does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One column of a table (`ColumnInfo`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Databricks type name, e.g. `INT`, `STRING`, `DECIMAL`.
    pub type_name: String,
    /// Type as SQL text, e.g. `int`, `decimal(10,2)`.
    pub type_text: String,
    /// Type as Spark JSON, e.g. `{"name":"a","type":"integer","nullable":true,"metadata":{}}`.
    pub type_json: String,
    /// Precision for decimals, else 0.
    pub type_precision: i64,
    /// Scale for decimals, else 0.
    pub type_scale: i64,
    /// 0-based position.
    pub position: i64,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A table (`TableInfo`) without its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableInfo {
    /// Name within the schema.
    pub name: String,
    /// Parent catalog.
    pub catalog_name: String,
    /// Parent schema.
    pub schema_name: String,
    /// `MANAGED` for tables made through SQL.
    pub table_type: String,
    /// `DELTA` unless the statement said otherwise.
    pub data_source_format: String,
    /// Columns in order.
    pub columns: Vec<ColumnInfo>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Table properties.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// Where the data lives.
    pub storage_location: String,
    /// Unique id.
    pub table_id: String,
    /// Owner and change history.
    #[serde(flatten)]
    pub audit: Audit,
}

/// A volume (`VolumeInfo`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// Name within the schema.
    pub name: String,
    /// Parent catalog.
    pub catalog_name: String,
    /// Parent schema.
    pub schema_name: String,
    /// `MANAGED` or `EXTERNAL`.
    pub volume_type: VolumeType,
    /// Where the files live.
    pub storage_location: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Unique id.
    pub volume_id: String,
    /// Owner and change history.
    #[serde(flatten)]
    pub audit: Audit,
    /// Fields the emulator does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The rows of a table: a DataFusion [`MemTable`] that SQL reads and appends to in place.
///
/// It serializes as base64 Arrow IPC stream bytes so a state snapshot can carry the data.
#[derive(Debug, Clone)]
pub struct TableData {
    /// Arrow schema of the rows.
    pub schema: SchemaRef,
    /// The table registered in every SQL session.
    pub table: Arc<MemTable>,
}

impl TableData {
    /// A table holding `batches` (one partition).
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> datafusion::error::Result<Self> {
        let table = Arc::new(MemTable::try_new(schema.clone(), vec![batches])?);
        Ok(Self { schema, table })
    }

    /// The rows as they are now, or `None` while a writer holds the table.
    pub fn batches(&self) -> Option<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for partition in &self.table.batches {
            out.extend(partition.try_read().ok()?.iter().cloned());
        }
        Some(out)
    }

    /// The rows as Arrow IPC stream bytes.
    pub fn to_ipc(&self) -> Result<Vec<u8>, String> {
        let batches = self
            .batches()
            .ok_or_else(|| "the table is being written".to_owned())?;
        let mut buf = Vec::new();
        let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &self.schema)
            .map_err(|e| e.to_string())?;
        for b in &batches {
            writer.write(b).map_err(|e| e.to_string())?;
        }
        writer.finish().map_err(|e| e.to_string())?;
        drop(writer);
        Ok(buf)
    }

    /// Reads rows written by [`TableData::to_ipc`].
    pub fn from_ipc(bytes: &[u8]) -> Result<Self, String> {
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| e.to_string())?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Self::new(schema, batches).map_err(|e| e.to_string())
    }
}

impl Serialize for TableData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        let bytes = self.to_ipc().map_err(serde::ser::Error::custom)?;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for TableData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)?;
        Self::from_ipc(&bytes).map_err(serde::de::Error::custom)
    }
}

/// A table and its rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// Metadata.
    pub info: TableInfo,
    /// Rows.
    pub data: TableData,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Schema {
    info: SchemaInfo,
    tables: BTreeMap<String, Table>,
    volumes: BTreeMap<String, VolumeInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Catalog {
    info: CatalogInfo,
    schemas: BTreeMap<String, Schema>,
}

/// What a new catalog may carry.
#[derive(Debug, Clone, Default)]
pub struct NewCatalog {
    /// Name (required).
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
    /// User properties.
    pub properties: Map<String, Value>,
    /// Managed storage root.
    pub storage_root: Option<String>,
    /// Other fields, kept as sent.
    pub extra: Map<String, Value>,
}

/// What a catalog or schema update may change; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ContainerUpdate {
    /// Rename to this.
    pub new_name: Option<String>,
    /// New comment.
    pub comment: Option<String>,
    /// New owner.
    pub owner: Option<String>,
    /// Replaces the properties.
    pub properties: Option<Map<String, Value>>,
    /// Other fields, merged into the kept ones.
    pub extra: Map<String, Value>,
}

/// The Unity Catalog metastore of the workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The metastore's id, shown on every object.
    pub metastore_id: String,
    catalogs: BTreeMap<String, Catalog>,
}

impl Default for State {
    /// A metastore with a `main` catalog holding a `default` schema, and the `system` catalog
    /// with `information_schema`, as a fresh workspace has.
    fn default() -> Self {
        let mut state = Self {
            metastore_id: new_id(),
            catalogs: BTreeMap::new(),
        };
        let main = NewCatalog {
            name: "main".into(),
            comment: Some("Main catalog (auto-created)".into()),
            ..NewCatalog::default()
        };
        state.create_catalog(main).expect("fresh metastore");
        state
            .create_schema(
                "main",
                "default",
                Some("Default schema (auto-created)".into()),
                Map::new(),
                None,
                Map::new(),
            )
            .expect("fresh metastore");
        let system = NewCatalog {
            name: "system".into(),
            comment: Some("System catalog (auto-created)".into()),
            ..NewCatalog::default()
        };
        state.create_catalog(system).expect("fresh metastore");
        if let Some(c) = state.catalogs.get_mut("system") {
            c.info.catalog_type = "SYSTEM_CATALOG".into();
            c.info.audit.owner = "System user".into();
        }
        state
            .create_schema(
                "system",
                "information_schema",
                Some("Information schema (auto-created)".into()),
                Map::new(),
                None,
                Map::new(),
            )
            .expect("fresh metastore");
        state
    }
}

/// A uuid-shaped random id.
pub fn new_id() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Checks a Unity Catalog object name: non-empty, no dots, slashes or spaces.
fn check_name(field: &str, name: &str) -> Result<String, UcError> {
    if name.is_empty() {
        return Err(UcError::InvalidParameter(format!(
            "Missing required field: {field}"
        )));
    }
    if name.contains(['.', '/', ' ']) || name.chars().any(char::is_control) {
        return Err(UcError::InvalidParameter(format!(
            "Invalid {field} '{name}': names cannot contain '.', '/', spaces or control characters"
        )));
    }
    Ok(name.to_lowercase())
}

/// Splits `a.b.c` into exactly `n` lowercased parts.
pub fn split_full_name(full_name: &str, n: usize, what: &str) -> Result<Vec<String>, UcError> {
    let parts: Vec<String> = full_name.split('.').map(str::to_lowercase).collect();
    if parts.len() != n || parts.iter().any(String::is_empty) {
        return Err(UcError::InvalidParameter(format!(
            "Invalid {what} full name '{full_name}': expected {n} dot-separated parts"
        )));
    }
    Ok(parts)
}

impl State {
    fn storage_base(&self) -> String {
        format!("s3://brickwire-emulator/metastore/{}", self.metastore_id)
    }

    fn catalog(&self, name: &str) -> Result<&Catalog, UcError> {
        self.catalogs
            .get(&name.to_lowercase())
            .ok_or_else(|| UcError::CatalogNotFound(name.to_owned()))
    }

    fn catalog_mut(&mut self, name: &str) -> Result<&mut Catalog, UcError> {
        self.catalogs
            .get_mut(&name.to_lowercase())
            .ok_or_else(|| UcError::CatalogNotFound(name.to_owned()))
    }

    fn schema(&self, catalog: &str, schema: &str) -> Result<&Schema, UcError> {
        self.catalog(catalog)?
            .schemas
            .get(&schema.to_lowercase())
            .ok_or_else(|| UcError::SchemaNotFound(format!("{catalog}.{schema}")))
    }

    fn schema_mut(&mut self, catalog: &str, schema: &str) -> Result<&mut Schema, UcError> {
        self.catalog_mut(catalog)?
            .schemas
            .get_mut(&schema.to_lowercase())
            .ok_or_else(|| UcError::SchemaNotFound(format!("{catalog}.{schema}")))
    }

    // ---- catalogs ----

    /// Creates a managed catalog.
    pub fn create_catalog(&mut self, new: NewCatalog) -> Result<CatalogInfo, UcError> {
        let key = check_name("name", &new.name)?;
        if self.catalogs.contains_key(&key) {
            return Err(UcError::AlreadyExists {
                kind: "Catalog",
                name: key,
            });
        }
        let id = new_id();
        let storage_location = match &new.storage_root {
            Some(root) => format!(
                "{}/__unitystorage/catalogs/{id}",
                root.trim_end_matches('/')
            ),
            None => format!("{}/catalogs/{id}", self.storage_base()),
        };
        let info = CatalogInfo {
            name: key.clone(),
            catalog_type: "MANAGED_CATALOG".into(),
            comment: new.comment,
            properties: new.properties,
            storage_root: new.storage_root,
            storage_location,
            id,
            isolation_mode: "OPEN".into(),
            audit: Audit::new(),
            extra: new.extra,
        };
        self.catalogs.insert(
            key,
            Catalog {
                info: info.clone(),
                schemas: BTreeMap::new(),
            },
        );
        Ok(info)
    }

    /// Every catalog, by name.
    pub fn list_catalogs(&self) -> Vec<CatalogInfo> {
        self.catalogs.values().map(|c| c.info.clone()).collect()
    }

    /// One catalog.
    pub fn get_catalog(&self, name: &str) -> Result<CatalogInfo, UcError> {
        Ok(self.catalog(name)?.info.clone())
    }

    /// Changes a catalog; a rename carries its schemas, tables and volumes along.
    pub fn update_catalog(
        &mut self,
        name: &str,
        update: ContainerUpdate,
    ) -> Result<CatalogInfo, UcError> {
        let key = self.catalog(name)?.info.name.clone();
        let new_key = match &update.new_name {
            Some(n) => Some(check_name("new_name", n)?),
            None => None,
        };
        if let Some(n) = &new_key
            && *n != key
            && self.catalogs.contains_key(n)
        {
            return Err(UcError::AlreadyExists {
                kind: "Catalog",
                name: n.clone(),
            });
        }
        let mut catalog = self.catalogs.remove(&key).expect("checked above");
        let c = &mut catalog.info;
        if let Some(comment) = update.comment {
            c.comment = Some(comment);
        }
        if let Some(owner) = update.owner {
            c.audit.owner = owner;
        }
        if let Some(p) = update.properties {
            c.properties = p;
        }
        c.extra.extend(update.extra);
        c.audit.touch();
        let final_key = new_key.unwrap_or(key);
        if c.name != final_key {
            c.name = final_key.clone();
            for s in catalog.schemas.values_mut() {
                s.info.catalog_name = final_key.clone();
                for t in s.tables.values_mut() {
                    t.info.catalog_name = final_key.clone();
                }
                for v in s.volumes.values_mut() {
                    v.catalog_name = final_key.clone();
                }
            }
        }
        let info = catalog.info.clone();
        self.catalogs.insert(final_key, catalog);
        Ok(info)
    }

    /// Deletes a catalog; without `force` it must hold no schema but `information_schema`.
    pub fn delete_catalog(&mut self, name: &str, force: bool) -> Result<(), UcError> {
        let catalog = self.catalog(name)?;
        let key = catalog.info.name.clone();
        let held: Vec<&String> = catalog
            .schemas
            .keys()
            .filter(|s| s.as_str() != "information_schema")
            .collect();
        if !force && !held.is_empty() {
            return Err(UcError::NotEmpty {
                kind: "Catalog",
                name: key,
                detail: format!(
                    "It contains {} schema(s); delete them first or use force.",
                    held.len()
                ),
            });
        }
        self.catalogs.remove(&key);
        Ok(())
    }

    // ---- schemas ----

    /// Creates a schema in `catalog`.
    pub fn create_schema(
        &mut self,
        catalog: &str,
        name: &str,
        comment: Option<String>,
        properties: Map<String, Value>,
        storage_root: Option<String>,
        extra: Map<String, Value>,
    ) -> Result<SchemaInfo, UcError> {
        let key = check_name("name", name)?;
        let base = self.storage_base();
        let c = self.catalog_mut(catalog)?;
        if c.schemas.contains_key(&key) {
            return Err(UcError::AlreadyExists {
                kind: "Schema",
                name: format!("{}.{key}", c.info.name),
            });
        }
        let schema_id = new_id();
        let storage_location = match &storage_root {
            Some(root) => format!(
                "{}/__unitystorage/schemas/{schema_id}",
                root.trim_end_matches('/')
            ),
            None => format!("{base}/schemas/{schema_id}"),
        };
        let info = SchemaInfo {
            name: key.clone(),
            catalog_name: c.info.name.clone(),
            comment,
            properties,
            storage_root,
            storage_location,
            schema_id,
            audit: Audit::new(),
            extra,
        };
        c.schemas.insert(
            key,
            Schema {
                info: info.clone(),
                tables: BTreeMap::new(),
                volumes: BTreeMap::new(),
            },
        );
        Ok(info)
    }

    /// The schemas of a catalog, by name.
    pub fn list_schemas(&self, catalog: &str) -> Result<Vec<SchemaInfo>, UcError> {
        Ok(self
            .catalog(catalog)?
            .schemas
            .values()
            .map(|s| s.info.clone())
            .collect())
    }

    /// One schema.
    pub fn get_schema(&self, catalog: &str, schema: &str) -> Result<SchemaInfo, UcError> {
        Ok(self.schema(catalog, schema)?.info.clone())
    }

    /// Changes a schema; a rename carries its tables and volumes along.
    pub fn update_schema(
        &mut self,
        catalog: &str,
        schema: &str,
        update: ContainerUpdate,
    ) -> Result<SchemaInfo, UcError> {
        let key = self.schema(catalog, schema)?.info.name.clone();
        let new_key = match &update.new_name {
            Some(n) => Some(check_name("new_name", n)?),
            None => None,
        };
        let c = self.catalog_mut(catalog)?;
        if let Some(n) = &new_key
            && *n != key
            && c.schemas.contains_key(n)
        {
            return Err(UcError::AlreadyExists {
                kind: "Schema",
                name: format!("{}.{n}", c.info.name),
            });
        }
        let mut s = c.schemas.remove(&key).expect("checked above");
        if let Some(comment) = update.comment {
            s.info.comment = Some(comment);
        }
        if let Some(owner) = update.owner {
            s.info.audit.owner = owner;
        }
        if let Some(p) = update.properties {
            s.info.properties = p;
        }
        s.info.extra.extend(update.extra);
        s.info.audit.touch();
        let final_key = new_key.unwrap_or(key);
        if s.info.name != final_key {
            s.info.name = final_key.clone();
            for t in s.tables.values_mut() {
                t.info.schema_name = final_key.clone();
            }
            for v in s.volumes.values_mut() {
                v.schema_name = final_key.clone();
            }
        }
        let info = s.info.clone();
        c.schemas.insert(final_key, s);
        Ok(info)
    }

    /// Deletes a schema; without `force` it must hold no table or volume.
    pub fn delete_schema(
        &mut self,
        catalog: &str,
        schema: &str,
        force: bool,
    ) -> Result<(), UcError> {
        let s = self.schema(catalog, schema)?;
        let key = s.info.name.clone();
        if !force && (!s.tables.is_empty() || !s.volumes.is_empty()) {
            return Err(UcError::NotEmpty {
                kind: "Schema",
                name: format!("{}.{key}", s.info.catalog_name),
                detail: format!(
                    "It contains {} table(s) and {} volume(s); delete them first or use force.",
                    s.tables.len(),
                    s.volumes.len()
                ),
            });
        }
        self.catalog_mut(catalog)?.schemas.remove(&key);
        Ok(())
    }

    // ---- tables ----

    /// Creates a managed table with `data` as its rows; its columns come from the data's schema.
    ///
    /// `replace` drops an existing table of that name first (`CREATE OR REPLACE TABLE`).
    #[allow(clippy::too_many_arguments)]
    pub fn create_table(
        &mut self,
        catalog: &str,
        schema: &str,
        name: &str,
        data_source_format: &str,
        comment: Option<String>,
        column_comments: &BTreeMap<String, String>,
        data: TableData,
        replace: bool,
    ) -> Result<TableInfo, UcError> {
        let key = check_name("name", name)?;
        let base = self.storage_base();
        let s = self.schema_mut(catalog, schema)?;
        if s.tables.contains_key(&key) && !replace {
            return Err(UcError::AlreadyExists {
                kind: "Table",
                name: format!("{}.{}.{key}", s.info.catalog_name, s.info.name),
            });
        }
        if s.volumes.contains_key(&key) {
            return Err(UcError::AlreadyExists {
                kind: "Table",
                name: format!("{}.{}.{key}", s.info.catalog_name, s.info.name),
            });
        }
        let columns = data
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| column_info(i, f, column_comments.get(f.name()).cloned()))
            .collect();
        let table_id = new_id();
        let info = TableInfo {
            name: key.clone(),
            catalog_name: s.info.catalog_name.clone(),
            schema_name: s.info.name.clone(),
            table_type: "MANAGED".into(),
            data_source_format: data_source_format.to_uppercase(),
            columns,
            comment,
            properties: Map::new(),
            storage_location: format!("{base}/tables/{table_id}"),
            table_id,
            audit: Audit::new(),
        };
        s.tables.insert(
            key,
            Table {
                info: info.clone(),
                data,
            },
        );
        Ok(info)
    }

    /// Registers an external Delta table at `storage_location` (`POST /tables`), with no rows.
    #[allow(clippy::too_many_arguments)]
    pub fn create_external_table(
        &mut self,
        catalog: &str,
        schema: &str,
        name: &str,
        storage_location: String,
        data: TableData,
        column_comments: &BTreeMap<String, String>,
        properties: Map<String, Value>,
    ) -> Result<TableInfo, UcError> {
        let info = self.create_table(
            catalog,
            schema,
            name,
            "DELTA",
            None,
            column_comments,
            data,
            false,
        )?;
        let t = self
            .schema_mut(catalog, schema)?
            .tables
            .get_mut(&info.name)
            .expect("just created");
        t.info.table_type = "EXTERNAL".into();
        t.info.storage_location = storage_location;
        t.info.properties = properties;
        Ok(t.info.clone())
    }

    /// The tables of a schema, by name.
    pub fn list_tables(&self, catalog: &str, schema: &str) -> Result<Vec<TableInfo>, UcError> {
        Ok(self
            .schema(catalog, schema)?
            .tables
            .values()
            .map(|t| t.info.clone())
            .collect())
    }

    /// One table with its rows.
    pub fn get_table(&self, catalog: &str, schema: &str, table: &str) -> Result<Table, UcError> {
        self.schema(catalog, schema)?
            .tables
            .get(&table.to_lowercase())
            .cloned()
            .ok_or_else(|| UcError::TableNotFound(format!("{catalog}.{schema}.{table}")))
    }

    /// Whether a table exists (a missing catalog or schema means no).
    pub fn table_exists(&self, catalog: &str, schema: &str, table: &str) -> bool {
        self.get_table(catalog, schema, table).is_ok()
    }

    /// Sets a table's owner.
    pub fn update_table_owner(
        &mut self,
        catalog: &str,
        schema: &str,
        table: &str,
        owner: Option<String>,
    ) -> Result<TableInfo, UcError> {
        let t = self
            .schema_mut(catalog, schema)?
            .tables
            .get_mut(&table.to_lowercase())
            .ok_or_else(|| UcError::TableNotFound(format!("{catalog}.{schema}.{table}")))?;
        if let Some(owner) = owner {
            t.info.audit.owner = owner;
        }
        t.info.audit.touch();
        Ok(t.info.clone())
    }

    /// Replaces a table's properties (`TBLPROPERTIES`).
    pub fn set_table_properties(
        &mut self,
        catalog: &str,
        schema: &str,
        table: &str,
        properties: Map<String, Value>,
    ) -> Result<(), UcError> {
        let t = self
            .schema_mut(catalog, schema)?
            .tables
            .get_mut(&table.to_lowercase())
            .ok_or_else(|| UcError::TableNotFound(format!("{catalog}.{schema}.{table}")))?;
        t.info.properties = properties;
        Ok(())
    }

    /// Deletes a table and its rows.
    pub fn delete_table(
        &mut self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<(), UcError> {
        self.schema_mut(catalog, schema)?
            .tables
            .remove(&table.to_lowercase())
            .map(|_| ())
            .ok_or_else(|| UcError::TableNotFound(format!("{catalog}.{schema}.{table}")))
    }

    /// Every `(catalog, schema, table)` with its rows, for building a SQL session.
    pub fn all_tables(&self) -> Vec<(String, String, String, TableData)> {
        let mut out = Vec::new();
        for c in self.catalogs.values() {
            for s in c.schemas.values() {
                for t in s.tables.values() {
                    out.push((
                        c.info.name.clone(),
                        s.info.name.clone(),
                        t.info.name.clone(),
                        t.data.clone(),
                    ));
                }
            }
        }
        out
    }

    /// Every `(catalog, schema)` pair, including empty schemas.
    pub fn all_schemas(&self) -> Vec<(String, String)> {
        self.catalogs
            .values()
            .flat_map(|c| c.schemas.keys().map(|s| (c.info.name.clone(), s.clone())))
            .collect()
    }

    // ---- volumes ----

    /// Creates a volume. `EXTERNAL` needs a `storage_location`; `MANAGED` must not have one.
    #[allow(clippy::too_many_arguments)]
    pub fn create_volume(
        &mut self,
        catalog: &str,
        schema: &str,
        name: &str,
        volume_type: VolumeType,
        storage_location: Option<String>,
        comment: Option<String>,
        extra: Map<String, Value>,
    ) -> Result<VolumeInfo, UcError> {
        let key = check_name("name", name)?;
        let storage_location = match (&volume_type, storage_location) {
            (VolumeType::Managed, None) => None,
            (VolumeType::Managed, Some(_)) => {
                return Err(UcError::InvalidParameter(
                    "storage_location must not be specified for a MANAGED volume".into(),
                ));
            }
            (VolumeType::External, Some(l)) if !l.is_empty() => Some(l),
            (VolumeType::External, _) => {
                return Err(UcError::InvalidParameter(
                    "Missing required field: storage_location (required for an EXTERNAL volume)"
                        .into(),
                ));
            }
            (VolumeType::Other(other), _) => {
                return Err(UcError::InvalidParameter(format!(
                    "Invalid volume_type '{other}': expected MANAGED or EXTERNAL"
                )));
            }
        };
        let base = self.storage_base();
        let s = self.schema_mut(catalog, schema)?;
        if s.volumes.contains_key(&key) || s.tables.contains_key(&key) {
            return Err(UcError::AlreadyExists {
                kind: "Volume",
                name: format!("{}.{}.{key}", s.info.catalog_name, s.info.name),
            });
        }
        let volume_id = new_id();
        let info = VolumeInfo {
            name: key.clone(),
            catalog_name: s.info.catalog_name.clone(),
            schema_name: s.info.name.clone(),
            volume_type,
            storage_location: storage_location
                .unwrap_or_else(|| format!("{base}/volumes/{volume_id}")),
            comment,
            volume_id,
            audit: Audit::new(),
            extra,
        };
        s.volumes.insert(key, info.clone());
        Ok(info)
    }

    /// The volumes of a schema, by name.
    pub fn list_volumes(&self, catalog: &str, schema: &str) -> Result<Vec<VolumeInfo>, UcError> {
        Ok(self
            .schema(catalog, schema)?
            .volumes
            .values()
            .cloned()
            .collect())
    }

    /// One volume.
    pub fn get_volume(
        &self,
        catalog: &str,
        schema: &str,
        name: &str,
    ) -> Result<VolumeInfo, UcError> {
        self.schema(catalog, schema)?
            .volumes
            .get(&name.to_lowercase())
            .cloned()
            .ok_or_else(|| UcError::VolumeNotFound(format!("{catalog}.{schema}.{name}")))
    }

    /// Changes a volume's name, owner or comment.
    pub fn update_volume(
        &mut self,
        catalog: &str,
        schema: &str,
        name: &str,
        new_name: Option<String>,
        owner: Option<String>,
        comment: Option<String>,
    ) -> Result<VolumeInfo, UcError> {
        let key = self.get_volume(catalog, schema, name)?.name;
        let new_key = match &new_name {
            Some(n) => Some(check_name("new_name", n)?),
            None => None,
        };
        let s = self.schema_mut(catalog, schema)?;
        if let Some(n) = &new_key
            && *n != key
            && (s.volumes.contains_key(n) || s.tables.contains_key(n))
        {
            return Err(UcError::AlreadyExists {
                kind: "Volume",
                name: format!("{}.{}.{n}", s.info.catalog_name, s.info.name),
            });
        }
        let mut v = s.volumes.remove(&key).expect("checked above");
        if let Some(owner) = owner {
            v.audit.owner = owner;
        }
        if let Some(comment) = comment {
            v.comment = Some(comment);
        }
        v.audit.touch();
        let final_key = new_key.unwrap_or(key);
        v.name = final_key.clone();
        s.volumes.insert(final_key, v.clone());
        Ok(v)
    }

    /// Deletes a volume.
    pub fn delete_volume(
        &mut self,
        catalog: &str,
        schema: &str,
        name: &str,
    ) -> Result<(), UcError> {
        self.schema_mut(catalog, schema)?
            .volumes
            .remove(&name.to_lowercase())
            .map(|_| ())
            .ok_or_else(|| UcError::VolumeNotFound(format!("{catalog}.{schema}.{name}")))
    }
}

/// The `ColumnInfo` of an Arrow field at `position`.
pub fn column_info(
    position: usize,
    field: &arrow::datatypes::Field,
    comment: Option<String>,
) -> ColumnInfo {
    let (type_name, type_text) = crate::sql::databricks_type(field.data_type());
    let (precision, scale) = match field.data_type() {
        arrow::datatypes::DataType::Decimal128(p, s)
        | arrow::datatypes::DataType::Decimal256(p, s) => (i64::from(*p), i64::from(*s)),
        _ => (0, 0),
    };
    let type_json = serde_json::json!({
        "name": field.name(),
        "type": crate::sql::spark_json_type(field.data_type()),
        "nullable": field.is_nullable(),
        "metadata": {},
    })
    .to_string();
    ColumnInfo {
        name: field.name().clone(),
        type_name: type_name.into(),
        type_text,
        type_json,
        type_precision: precision,
        type_scale: scale,
        position: position as i64,
        nullable: field.is_nullable(),
        comment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};

    #[test]
    fn fresh_metastore_has_main_default_and_system() {
        let s = State::default();
        assert!(s.get_schema("main", "default").is_ok());
        assert_eq!(
            s.get_catalog("system").unwrap().catalog_type,
            "SYSTEM_CATALOG"
        );
        assert!(s.get_schema("SYSTEM", "Information_Schema").is_ok());
    }

    #[test]
    fn rename_catalog_moves_children() {
        let mut s = State::default();
        let update = ContainerUpdate {
            new_name: Some("Primary".into()),
            ..Default::default()
        };
        let info = s.update_catalog("main", update).unwrap();
        assert_eq!(info.name, "primary");
        assert_eq!(
            s.get_schema("primary", "default").unwrap().catalog_name,
            "primary"
        );
        assert!(matches!(
            s.get_catalog("main"),
            Err(UcError::CatalogNotFound(_))
        ));
    }

    #[test]
    fn whole_metastore_round_trips_through_serde() {
        let mut s = State::default();
        let schema = Arc::new(ArrowSchema::new(vec![Field::new(
            "a",
            DataType::Int32,
            false,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int32Array::from(vec![7]))])
            .unwrap();
        let data = TableData::new(schema, vec![batch.clone()]).unwrap();
        s.create_table(
            "main",
            "default",
            "t",
            "delta",
            None,
            &BTreeMap::new(),
            data,
            false,
        )
        .unwrap();
        let text = serde_json::to_string(&s).unwrap();
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back.metastore_id, s.metastore_id);
        let t = back.get_table("main", "default", "t").unwrap();
        assert_eq!(t.info.columns[0].type_name, "INT");
        assert!(!t.info.columns[0].nullable);
        assert_eq!(t.data.batches().unwrap(), vec![batch]);
        assert_eq!(
            back.get_catalog("system").unwrap().catalog_type,
            "SYSTEM_CATALOG"
        );
    }

    #[test]
    fn table_data_round_trips_through_serde() {
        let schema = Arc::new(ArrowSchema::new(vec![Field::new(
            "a",
            DataType::Int32,
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let data = TableData::new(schema, vec![batch.clone()]).unwrap();
        let text = serde_json::to_string(&data).unwrap();
        let back: TableData = serde_json::from_str(&text).unwrap();
        assert_eq!(back.batches().unwrap(), vec![batch]);
    }
}
