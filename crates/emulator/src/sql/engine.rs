//! Running one parsed statement: a DataFusion session mirroring the metastore, parameter
//! binding, and the statements DataFusion cannot plan (catalog DDL, `SHOW`, `DESCRIBE`).
//!
//! Every call builds a fresh session whose catalogs, schemas and tables are the metastore's at
//! that moment; tables are shared [`MemTable`](datafusion::catalog::MemTable)s, so `INSERT`
//! writes straight into the rows the Tables API sees.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider,
};
use datafusion::common::ScalarValue;
use datafusion::common::config::Dialect;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::logical_expr::{ColumnarValue, LogicalPlan, Volatility, WriteOp, create_udf};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    self, CastKind, ColumnOption, Expr, ObjectName, ObjectType, SchemaName, ShowStatementFilter,
    ShowStatementOptions, Statement, TimezoneInfo, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::DatabricksDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::TryStreamExt;
use serde_json::Map;

use super::parse::{CreateTable, Parsed, parse};
use super::range::DatabricksRange;
use super::types::arrow_type;
use super::{QueryParam, SqlError, table_not_found};
use crate::error::ErrorCode;
use crate::state::Workspace;
use crate::unity_catalog::UcError;
use crate::unity_catalog::state::{NewCatalog, TableData};

/// One statement's session: defaults plus a DataFusion context mirroring the metastore.
struct Session<'a> {
    ws: &'a Workspace,
    catalog: String,
    schema: String,
    ctx: SessionContext,
    /// Column names of every table, by `(catalog, schema, table)`.
    columns: HashMap<(String, String, String), Vec<String>>,
}

pub(super) async fn execute(
    ws: &Workspace,
    catalog: Option<&str>,
    schema: Option<&str>,
    statement: &str,
    params: &[QueryParam],
) -> Result<SendableRecordBatchStream, SqlError> {
    let given_catalog = catalog.filter(|c| !c.is_empty());
    let given_schema = schema.filter(|s| !s.is_empty());
    let catalog = given_catalog.unwrap_or("main").to_lowercase();
    let schema = given_schema.unwrap_or("default").to_lowercase();
    {
        let uc = ws.unity_catalog.lock().expect("unity catalog lock");
        if given_catalog.is_some() {
            uc.get_catalog(&catalog)?;
        }
        if given_schema.is_some() {
            uc.get_schema(&catalog, &schema)?;
        }
    }
    let mut parsed = parse(statement)?;
    bind(&mut parsed, params)?;
    let session = Session::new(ws, catalog, schema)?;
    session.run(parsed).await
}

// ---- parameters ----

fn parse_type(text: &str) -> Result<ast::DataType, SqlError> {
    let dialect = DatabricksDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(text)?;
    let t = p.parse_data_type()?;
    // Type-check the declaration now so a bad parameter type is reported as such.
    arrow_type(&t)?;
    Ok(t)
}

/// DataFusion's spelling of a Databricks type inside a query's casts.
fn datafusion_type(t: ast::DataType) -> ast::DataType {
    match t {
        ast::DataType::TimestampNtz(p) => ast::DataType::Timestamp(p, TimezoneInfo::None),
        ast::DataType::Custom(name, args) if args.is_empty() => {
            match name.to_string().to_ascii_uppercase().as_str() {
                "LONG" => ast::DataType::BigInt(None),
                "SHORT" => ast::DataType::SmallInt(None),
                "BYTE" => ast::DataType::TinyInt(None),
                _ => ast::DataType::Custom(name, args),
            }
        }
        other => other,
    }
}

/// Replaces `:name` markers with typed literals and rewrites Databricks-only spellings: cast
/// types DataFusion lacks and Spark's `date_format`.
fn bind_ast<V: ast::VisitMut>(
    node: &mut V,
    params: &HashMap<String, (Option<String>, ast::DataType)>,
) -> Result<(), SqlError> {
    let flow = visit_expressions_mut(node, |expr| {
        if let Expr::Cast { data_type, .. } = expr {
            *data_type = datafusion_type(data_type.clone());
        }
        super::dates::rewrite_spark_functions(expr);
        let Expr::Value(v) = expr else {
            return ControlFlow::Continue(());
        };
        let Value::Placeholder(marker) = &v.value else {
            return ControlFlow::Continue(());
        };
        let Some(name) = marker.strip_prefix(':') else {
            return ControlFlow::Break(SqlError::bad_request(
                "UNSUPPORTED_FEATURE",
                format!(
                    "Positional parameter `{marker}` is not supported; use named parameters (:name)."
                ),
                Some("0A000"),
            ));
        };
        let Some((value, data_type)) = params.get(name) else {
            return ControlFlow::Break(SqlError::bad_request(
                "UNBOUND_SQL_PARAMETER",
                format!(
                    "Found the unbound parameter: {name}. Please, fix `args` and provide a mapping of the parameter to a SQL literal."
                ),
                Some("42P02"),
            ));
        };
        let literal = match value {
            Some(s) => Value::SingleQuotedString(s.clone()),
            None => Value::Null,
        };
        *expr = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(Expr::Value(literal.into())),
            data_type: datafusion_type(data_type.clone()),
            array: false,
            format: None,
        };
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn bind(parsed: &mut Parsed, params: &[QueryParam]) -> Result<(), SqlError> {
    let mut bound = HashMap::new();
    for p in params {
        let t = match p.type_name.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(t) => parse_type(t)?,
            None => ast::DataType::String(None),
        };
        bound.insert(p.name.clone(), (p.value.clone(), t));
    }
    match parsed {
        Parsed::Standard(s) => match s.as_mut() {
            DFStatement::Statement(stmt) => bind_ast(stmt.as_mut(), &bound),
            DFStatement::Explain(e) => match e.statement.as_mut() {
                DFStatement::Statement(stmt) => bind_ast(stmt.as_mut(), &bound),
                _ => Ok(()),
            },
            _ => Ok(()),
        },
        Parsed::CreateTable(t) => match t.query.as_mut() {
            Some(q) => bind_ast(q.as_mut(), &bound),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

// ---- names ----

fn parts(name: &ObjectName) -> Result<Vec<String>, SqlError> {
    name.0
        .iter()
        .map(|p| {
            p.as_ident().map(|i| i.value.to_lowercase()).ok_or_else(|| {
                SqlError::bad_request(
                    "INVALID_IDENTIFIER",
                    format!("`{name}` is not a valid name."),
                    Some("42602"),
                )
            })
        })
        .collect()
}

impl<'a> Session<'a> {
    fn new(ws: &'a Workspace, catalog: String, schema: String) -> Result<Self, SqlError> {
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(&catalog, &schema)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false);
        config.options_mut().sql_parser.dialect = Dialect::Databricks;
        let ctx = SessionContext::new_with_config(config);

        let (schemas, tables) = {
            let uc = ws.unity_catalog.lock().expect("unity catalog lock");
            (uc.all_schemas(), uc.all_tables())
        };
        let mut catalogs: BTreeMap<String, Arc<MemoryCatalogProvider>> = BTreeMap::new();
        let mut providers: HashMap<(String, String), Arc<MemorySchemaProvider>> = HashMap::new();
        for (c, s) in schemas {
            let cat = catalogs
                .entry(c.clone())
                .or_insert_with(|| Arc::new(MemoryCatalogProvider::new()))
                .clone();
            let sp = Arc::new(MemorySchemaProvider::new());
            cat.register_schema(&s, sp.clone())?;
            providers.insert((c, s), sp);
        }
        let mut columns = HashMap::new();
        for (c, s, t, data) in tables {
            let names = data
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            columns.insert((c.clone(), s.clone(), t.clone()), names);
            if let Some(sp) = providers.get(&(c, s)) {
                sp.register_table(t, data.table.clone() as Arc<dyn TableProvider>)?;
            }
        }
        for (name, cat) in catalogs {
            ctx.register_catalog(name, cat);
        }

        if let Some(builtin) = ctx.state().table_functions().get("range").cloned() {
            let inner = builtin.function().clone();
            ctx.register_udtf("range", Arc::new(DatabricksRange { inner }));
        }
        for (names, value) in [
            (&["current_catalog"][..], catalog.clone()),
            (&["current_schema", "current_database"][..], schema.clone()),
        ] {
            for name in names {
                let value = value.clone();
                ctx.register_udf(create_udf(
                    name,
                    vec![],
                    arrow::datatypes::DataType::Utf8,
                    Volatility::Stable,
                    Arc::new(move |_| {
                        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                            value.clone(),
                        ))))
                    }),
                ));
            }
        }
        Ok(Self {
            ws,
            catalog,
            schema,
            ctx,
            columns,
        })
    }

    fn uc<T>(
        &self,
        f: impl FnOnce(&mut crate::unity_catalog::State) -> Result<T, UcError>,
    ) -> Result<T, SqlError> {
        let mut uc = self.ws.unity_catalog.lock().expect("unity catalog lock");
        Ok(f(&mut uc)?)
    }

    fn table_name(&self, name: &ObjectName) -> Result<(String, String, String), SqlError> {
        let p = parts(name)?;
        match p.as_slice() {
            [t] => Ok((self.catalog.clone(), self.schema.clone(), t.clone())),
            [s, t] => Ok((self.catalog.clone(), s.clone(), t.clone())),
            [c, s, t] => Ok((c.clone(), s.clone(), t.clone())),
            _ => Err(SqlError::bad_request(
                "REQUIRES_SINGLE_PART_NAMESPACE",
                format!("`{name}` has too many name parts; expected catalog.schema.table."),
                Some("42K05"),
            )),
        }
    }

    fn schema_name(&self, name: &ObjectName) -> Result<(String, String), SqlError> {
        let p = parts(name)?;
        match p.as_slice() {
            [s] => Ok((self.catalog.clone(), s.clone())),
            [c, s] => Ok((c.clone(), s.clone())),
            _ => Err(SqlError::bad_request(
                "REQUIRES_SINGLE_PART_NAMESPACE",
                format!("`{name}` is not a schema name; expected catalog.schema."),
                Some("42K05"),
            )),
        }
    }

    fn catalog_name(name: &ObjectName) -> Result<String, SqlError> {
        match parts(name)?.as_slice() {
            [c] => Ok(c.clone()),
            _ => Err(SqlError::bad_request(
                "INVALID_IDENTIFIER",
                format!("`{name}` is not a catalog name."),
                Some("42602"),
            )),
        }
    }

    /// The columns of a table named in a query, for lateral alias resolution.
    fn columns_of(&self, name: &ObjectName) -> Option<Vec<String>> {
        let (c, s, t) = self.table_name(name).ok()?;
        self.columns.get(&(c, s, t)).cloned()
    }

    async fn run(self, mut parsed: Parsed) -> Result<SendableRecordBatchStream, SqlError> {
        let columns_of = |n: &ObjectName| self.columns_of(n);
        match &mut parsed {
            Parsed::Standard(s) => {
                if let DFStatement::Statement(stmt) = s.as_mut() {
                    super::lateral::rewrite(stmt.as_mut(), &columns_of);
                }
            }
            Parsed::CreateTable(t) => {
                if let Some(q) = t.query.as_mut() {
                    super::lateral::rewrite(q.as_mut(), &columns_of);
                }
            }
            _ => {}
        }
        match parsed {
            Parsed::CreateCatalog {
                name,
                if_not_exists,
                comment,
            } => {
                let name = Self::catalog_name(&name)?;
                let created = self.uc(|uc| {
                    uc.create_catalog(NewCatalog {
                        name,
                        comment,
                        ..NewCatalog::default()
                    })
                });
                match created {
                    Err(SqlError { error_code, .. })
                        if if_not_exists && error_code == ErrorCode::AlreadyExists => {}
                    other => {
                        other?;
                    }
                }
                Ok(no_result())
            }
            Parsed::DropCatalog {
                name,
                if_exists,
                cascade,
            } => {
                let name = Self::catalog_name(&name)?;
                match self.uc(|uc| uc.delete_catalog(&name, cascade)) {
                    Err(SqlError { error_code, .. })
                        if if_exists && error_code == ErrorCode::NotFound => {}
                    other => other?,
                }
                Ok(no_result())
            }
            Parsed::CreateTable(t) => self.create_table(*t).await,
            Parsed::Describe { name } => self.describe(&name),
            Parsed::Standard(s) => self.standard(*s).await,
        }
    }

    async fn standard(self, statement: DFStatement) -> Result<SendableRecordBatchStream, SqlError> {
        if let DFStatement::Statement(s) = &statement {
            match s.as_ref() {
                Statement::CreateSchema {
                    schema_name,
                    if_not_exists,
                    ..
                } => {
                    let name = match schema_name {
                        SchemaName::Simple(n) | SchemaName::NamedAuthorization(n, _) => n.clone(),
                        SchemaName::UnnamedAuthorization(i) => ObjectName::from(vec![i.clone()]),
                    };
                    return self.create_schema(&name, *if_not_exists);
                }
                Statement::CreateDatabase {
                    db_name,
                    if_not_exists,
                    ..
                } => {
                    return self.create_schema(db_name, *if_not_exists);
                }
                Statement::Drop {
                    object_type,
                    if_exists,
                    names,
                    cascade,
                    ..
                } => {
                    return self.drop(*object_type, *if_exists, names, *cascade);
                }
                Statement::ShowCatalogs { show_options, .. } => {
                    return self.show_catalogs(show_options);
                }
                Statement::ShowSchemas { show_options, .. }
                | Statement::ShowDatabases { show_options, .. } => {
                    return self.show_schemas(show_options);
                }
                Statement::ShowTables { show_options, .. } => {
                    return self.show_tables(show_options);
                }
                Statement::ExplainTable { table_name, .. } => return self.describe(table_name),
                Statement::Use(_) => {
                    return Err(SqlError::bad_request(
                        "UNSUPPORTED_FEATURE",
                        "USE is not supported by the emulator: pass `catalog` and `schema` with the statement instead.",
                        Some("0A000"),
                    ));
                }
                _ => {}
            }
        }
        self.check_tables_exist(&statement)?;
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        match &plan {
            LogicalPlan::Ddl(_) | LogicalPlan::Copy(_) => {
                return Err(SqlError::bad_request(
                    "UNSUPPORTED_FEATURE",
                    format!(
                        "The emulator does not support this statement: {}",
                        plan.display()
                    ),
                    Some("0A000"),
                ));
            }
            LogicalPlan::Dml(d) => {
                let inserting = matches!(d.op, WriteOp::Insert(_));
                let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
                let mut rows: i64 = 0;
                for b in &batches {
                    if let Some(c) = b.column_by_name("count") {
                        let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Int64)?;
                        let c = c
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .expect("cast to Int64");
                        rows += c.iter().flatten().sum::<i64>();
                    }
                }
                // Databricks reports DML as counts: INSERT adds num_inserted_rows.
                let count = || Arc::new(Int64Array::from(vec![rows])) as ArrayRef;
                let mut columns = vec![("num_affected_rows", count(), false)];
                if inserting {
                    columns.push(("num_inserted_rows", count(), false));
                }
                return Ok(one_batch(columns));
            }
            _ => {}
        }
        let df = self.ctx.execute_logical_plan(plan).await?;
        Ok(df.execute_stream().await?)
    }

    /// Names a missing table precisely instead of DataFusion's planning error.
    fn check_tables_exist(&self, statement: &DFStatement) -> Result<(), SqlError> {
        let state = self.ctx.state();
        let references = state.resolve_table_references(statement)?;
        let uc = self.ws.unity_catalog.lock().expect("unity catalog lock");
        for r in references {
            if r.schema().is_none() && state.table_functions().contains_key(r.table()) {
                continue;
            }
            let resolved = r.resolve(&self.catalog, &self.schema);
            if !uc.table_exists(&resolved.catalog, &resolved.schema, &resolved.table) {
                return Err(table_not_found(&format!(
                    "{}.{}.{}",
                    resolved.catalog, resolved.schema, resolved.table
                )));
            }
        }
        Ok(())
    }

    fn create_schema(
        &self,
        name: &ObjectName,
        if_not_exists: bool,
    ) -> Result<SendableRecordBatchStream, SqlError> {
        let (c, s) = self.schema_name(name)?;
        match self.uc(|uc| uc.create_schema(&c, &s, None, Map::new(), None, Map::new())) {
            Err(SqlError { error_code, .. })
                if if_not_exists && error_code == ErrorCode::AlreadyExists => {}
            other => {
                other?;
            }
        }
        Ok(no_result())
    }

    fn drop(
        &self,
        object_type: ObjectType,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
    ) -> Result<SendableRecordBatchStream, SqlError> {
        for name in names {
            let result = match object_type {
                ObjectType::Table => {
                    let (c, s, t) = self.table_name(name)?;
                    self.uc(|uc| uc.delete_table(&c, &s, &t))
                }
                ObjectType::Schema | ObjectType::Database => {
                    let (c, s) = self.schema_name(name)?;
                    self.uc(|uc| uc.delete_schema(&c, &s, cascade))
                }
                other => {
                    return Err(SqlError::bad_request(
                        "UNSUPPORTED_FEATURE",
                        format!("The emulator does not support DROP {other}."),
                        Some("0A000"),
                    ));
                }
            };
            match result {
                Err(SqlError { error_code, .. })
                    if if_exists && error_code == ErrorCode::NotFound => {}
                other => other?,
            }
        }
        Ok(no_result())
    }

    async fn create_table(&self, t: CreateTable) -> Result<SendableRecordBatchStream, SqlError> {
        let (c, s, name) = self.table_name(&t.name)?;
        if t.if_not_exists && self.uc(|uc| Ok(uc.table_exists(&c, &s, &name)))? {
            return Ok(no_result());
        }
        // Fail on a missing schema before running any AS query.
        self.uc(|uc| uc.get_schema(&c, &s))?;
        let mut comments = BTreeMap::new();
        let (schema, batches): (SchemaRef, Vec<RecordBatch>) = match t.query {
            Some(query) if t.columns.is_empty() => {
                let statement = DFStatement::Statement(Box::new(Statement::Query(query)));
                self.check_tables_exist(&statement)?;
                let plan = self.ctx.state().statement_to_plan(statement).await?;
                let df = self.ctx.execute_logical_plan(plan).await?;
                // Columns of a table made from a query accept NULL, as in Databricks.
                let fields: Vec<Field> = df
                    .schema()
                    .as_arrow()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect();
                let schema = Arc::new(Schema::new(fields));
                let batches = df
                    .collect()
                    .await?
                    .into_iter()
                    .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
                    .collect::<Result<Vec<_>, _>>()?;
                (schema, batches)
            }
            Some(_) => {
                return Err(SqlError::bad_request(
                    "UNSUPPORTED_FEATURE",
                    "CREATE TABLE with both a column list and AS query is not supported by the emulator.",
                    Some("0A000"),
                ));
            }
            None => {
                let mut fields = Vec::new();
                for col in &t.columns {
                    let nullable = !col
                        .options
                        .iter()
                        .any(|o| matches!(o.option, ColumnOption::NotNull));
                    for o in &col.options {
                        if let ColumnOption::Comment(text) = &o.option {
                            comments.insert(col.name.value.clone(), text.clone());
                        }
                    }
                    fields.push(Field::new(
                        col.name.value.clone(),
                        arrow_type(&col.data_type)?,
                        nullable,
                    ));
                }
                (Arc::new(Schema::new(fields)), Vec::new())
            }
        };
        let data = TableData::new(schema, batches)?;
        let properties: Map<String, serde_json::Value> = t
            .properties
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        self.uc(|uc| {
            uc.create_table(
                &c,
                &s,
                &name,
                &t.using,
                t.comment,
                &comments,
                data,
                t.or_replace,
            )?;
            uc.set_table_properties(&c, &s, &name, properties)
        })?;
        Ok(no_result())
    }

    fn describe(&self, name: &ObjectName) -> Result<SendableRecordBatchStream, SqlError> {
        let (c, s, t) = self.table_name(name)?;
        let table = self.uc(|uc| uc.get_table(&c, &s, &t))?;
        let cols = &table.info.columns;
        Ok(one_batch(vec![
            (
                "col_name",
                strings(cols.iter().map(|c| Some(c.name.clone()))),
                false,
            ),
            (
                "data_type",
                strings(cols.iter().map(|c| Some(c.type_text.clone()))),
                false,
            ),
            (
                "comment",
                strings(cols.iter().map(|c| c.comment.clone())),
                true,
            ),
        ]))
    }

    fn show_catalogs(
        &self,
        options: &ShowStatementOptions,
    ) -> Result<SendableRecordBatchStream, SqlError> {
        let filter = show_filter(options)?;
        let names: Vec<String> = self
            .uc(|uc| Ok(uc.list_catalogs()))?
            .into_iter()
            .map(|c| c.name)
            .filter(|n| filter.as_ref().is_none_or(|f| show_like(f, n)))
            .collect();
        Ok(one_batch(vec![(
            "catalog",
            strings(names.into_iter().map(Some)),
            false,
        )]))
    }

    fn show_schemas(
        &self,
        options: &ShowStatementOptions,
    ) -> Result<SendableRecordBatchStream, SqlError> {
        let filter = show_filter(options)?;
        let catalog = match options
            .show_in
            .as_ref()
            .and_then(|i| i.parent_name.as_ref())
        {
            Some(n) => Self::catalog_name(n)?,
            None => self.catalog.clone(),
        };
        let names: Vec<String> = self
            .uc(|uc| uc.list_schemas(&catalog))?
            .into_iter()
            .map(|s| s.name)
            .filter(|n| filter.as_ref().is_none_or(|f| show_like(f, n)))
            .collect();
        Ok(one_batch(vec![(
            "databaseName",
            strings(names.into_iter().map(Some)),
            false,
        )]))
    }

    fn show_tables(
        &self,
        options: &ShowStatementOptions,
    ) -> Result<SendableRecordBatchStream, SqlError> {
        let filter = show_filter(options)?;
        let (c, s) = match options
            .show_in
            .as_ref()
            .and_then(|i| i.parent_name.as_ref())
        {
            Some(n) => self.schema_name(n)?,
            None => (self.catalog.clone(), self.schema.clone()),
        };
        let names: Vec<String> = self
            .uc(|uc| uc.list_tables(&c, &s))?
            .into_iter()
            .map(|t| t.name)
            .filter(|n| filter.as_ref().is_none_or(|f| show_like(f, n)))
            .collect();
        let n = names.len();
        Ok(one_batch(vec![
            (
                "database",
                strings(std::iter::repeat_n(Some(s.clone()), n)),
                false,
            ),
            ("tableName", strings(names.into_iter().map(Some)), false),
            (
                "isTemporary",
                Arc::new(BooleanArray::from(vec![false; n])) as ArrayRef,
                false,
            ),
        ]))
    }
}

fn show_filter(options: &ShowStatementOptions) -> Result<Option<String>, SqlError> {
    use ast::ShowStatementFilterPosition as P;
    match &options.filter_position {
        None => Ok(None),
        Some(P::Infix(f) | P::Suffix(f)) => match f {
            ShowStatementFilter::Like(p)
            | ShowStatementFilter::ILike(p)
            | ShowStatementFilter::NoKeyword(p) => Ok(Some(p.clone())),
            ShowStatementFilter::Where(_) => Err(SqlError::bad_request(
                "UNSUPPORTED_FEATURE",
                "SHOW ... WHERE is not supported; use LIKE 'pattern'.",
                Some("0A000"),
            )),
        },
    }
}

/// Databricks' `SHOW ... LIKE` pattern: `*` matches any run, `|` separates alternatives, case is
/// ignored.
fn show_like(pattern: &str, name: &str) -> bool {
    pattern.split('|').any(|alt| {
        let like = alt
            .trim()
            .replace('%', "\\%")
            .replace('_', "\\_")
            .replace('*', "%");
        crate::unity_catalog::pagination::like(&like, name)
    })
}

fn strings(values: impl Iterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// A stream of one batch built from named columns.
fn one_batch(columns: Vec<(&str, ArrayRef, bool)>) -> SendableRecordBatchStream {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a, nullable)| Field::new(*n, a.data_type().clone(), *nullable))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a, _)| a).collect(),
    )
    .map_err(Into::into);
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter([batch]),
    ))
}

/// The result of a statement that returns nothing: no columns, no rows.
fn no_result() -> SendableRecordBatchStream {
    let schema = Arc::new(Schema::empty());
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::empty().map_ok(|b: RecordBatch| b),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_like_patterns() {
        assert!(show_like("sales*|dev", "dev"));
        assert!(show_like("sales*|dev", "Sales_eu"));
        assert!(!show_like("sales*", "presales"));
        assert!(
            !show_like("a_c", "abc"),
            "underscore is literal in SHOW patterns"
        );
    }
}
