//! Tables: Unity Catalog tables (`/api/2.1/unity-catalog/tables`, `/table-summaries`).

use brickwire_api::unity_catalog::{ListTableSummariesRequest, ListTablesRequest};
use brickwire_client::services::unity_catalog::request;

use super::prelude::*;

/// Input of Query Tables.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryTablesInput {
    /// Name of the parent catalog.
    pub catalog_name: String,
    /// Name of the parent schema.
    pub schema_name: String,
    /// Leave out the columns of each table (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_columns: Option<bool>,
    /// Leave out the properties of each table (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_properties: Option<bool>,
    /// Leave out the owner and the creating/updating user names (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_username: Option<bool>,
    /// Also return tables the caller can only browse (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Input naming one table.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct TableNameInput {
    /// Full name of the table: `catalog.schema.table`.
    pub full_name: String,
}

/// Input of Retrieve Table.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct RetrieveTableInput {
    /// Full name of the table: `catalog.schema.table`.
    pub full_name: String,
    /// Include Delta metadata in the answer (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_delta_metadata: Option<bool>,
    /// Also return the table when the caller can only browse it (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
}

/// Input of Query Table Summaries.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryTableSummariesInput {
    /// Name of the parent catalog.
    pub catalog_name: String,
    /// SQL LIKE pattern (`%`, `_`) on schema names; all schemas when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name_pattern: Option<String>,
    /// SQL LIKE pattern (`%`, `_`) on table names; all tables when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_name_pattern: Option<String>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// The Tables actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Tables;
    vec![
        Action::define(
            g,
            "Query Tables",
            "Gets an array of all tables for a catalog and schema in the metastore.",
            true,
            json!({"catalog_name": "main", "schema_name": "sales", "omit_columns": true}),
            |client: Client, input: QueryTablesInput| async move {
                list(&input.paging, "tables", CursorStyle::Token, |n| {
                    client.tables().list(&ListTablesRequest {
                        catalog_name: input.catalog_name.clone(),
                        schema_name: input.schema_name.clone(),
                        max_results: Some(n as i32),
                        omit_columns: input.omit_columns,
                        omit_properties: input.omit_properties,
                        omit_username: input.omit_username,
                        include_browse: input.include_browse,
                        ..Default::default()
                    })
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Retrieve Table",
            "Gets a table from the metastore for a specific catalog and schema.",
            true,
            json!({"full_name": "main.sales.orders"}),
            |client: Client, input: RetrieveTableInput| async move {
                let req = request::get_table(&input.full_name)
                    .query_opt("include_delta_metadata", input.include_delta_metadata)
                    .query_opt("include_browse", input.include_browse);
                Ok(client.call(req).await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Check Table Exists",
            "Checks if a table exists in the metastore for a specific catalog and schema; returns {\"table_exists\": bool}.",
            true,
            json!({"full_name": "main.sales.orders"}),
            |client: Client, input: TableNameInput| async move {
                Ok(client.call(request::table_exists(&input.full_name)).await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Query Table Summaries",
            "Gets an array of summaries for tables under a schema and catalog.",
            true,
            json!({"catalog_name": "main", "schema_name_pattern": "sales%"}),
            |client: Client, input: QueryTableSummariesInput| async move {
                list(&input.paging, "tables", CursorStyle::Token, |n| {
                    client.tables().list_summaries(&ListTableSummariesRequest {
                        catalog_name: input.catalog_name.clone(),
                        schema_name_pattern: input.schema_name_pattern.clone(),
                        table_name_pattern: input.table_name_pattern.clone(),
                        max_results: Some(n as i32),
                        ..Default::default()
                    })
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Delete Table",
            "Deletes a table from the specified parent catalog and schema.",
            true,
            json!({"full_name": "main.sales.orders"}),
            |client: Client, input: TableNameInput| async move {
                Ok(client.call(request::delete_table(&input.full_name)).await?)
            },
        ).destructive(),
    ]
}
