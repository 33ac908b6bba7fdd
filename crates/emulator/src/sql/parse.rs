//! Parsing one Databricks SQL statement with sqlparser's Databricks dialect.
//!
//! DataFusion's parser covers most statements. A few Databricks statements it rejects
//! (`CREATE CATALOG`, `DROP CATALOG`, `DESCRIBE TABLE x`, `CREATE TABLE ... USING DELTA`) are
//! recognised here with sqlparser's own token-level parser before falling back to DataFusion's.

use std::collections::BTreeMap;

use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    ColumnDef, ColumnOption, Expr, ObjectName, Query, SqlOption, Value,
};
use datafusion::sql::sqlparser::dialect::DatabricksDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::SqlError;

/// One parsed statement.
#[derive(Debug)]
pub enum Parsed {
    /// `CREATE CATALOG [IF NOT EXISTS] name [COMMENT 'c']`.
    CreateCatalog {
        /// Catalog name.
        name: ObjectName,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `COMMENT`.
        comment: Option<String>,
    },
    /// `DROP CATALOG [IF EXISTS] name [CASCADE|RESTRICT]`.
    DropCatalog {
        /// Catalog name.
        name: ObjectName,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `CASCADE`.
        cascade: bool,
    },
    /// `CREATE [OR REPLACE] TABLE`.
    CreateTable(Box<CreateTable>),
    /// `DESCRIBE [TABLE] [EXTENDED] name`.
    Describe {
        /// Table name.
        name: ObjectName,
    },
    /// Anything DataFusion's parser understands.
    Standard(Box<DFStatement>),
}

/// A Databricks `CREATE TABLE`.
#[derive(Debug)]
pub struct CreateTable {
    /// Table name, one to three parts.
    pub name: ObjectName,
    /// `OR REPLACE`.
    pub or_replace: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Declared columns (empty for `CREATE TABLE ... AS`).
    pub columns: Vec<ColumnDef>,
    /// `USING format`, `DELTA` by default.
    pub using: String,
    /// `COMMENT 'text'`.
    pub comment: Option<String>,
    /// `TBLPROPERTIES (k = v, ...)`.
    pub properties: BTreeMap<String, String>,
    /// `AS query`.
    pub query: Option<Box<Query>>,
}

impl From<ParserError> for SqlError {
    fn from(e: ParserError) -> Self {
        let message = match e {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
            ParserError::RecursionLimitExceeded => "the statement is nested too deeply".into(),
        };
        SqlError::bad_request(
            "PARSE_SYNTAX_ERROR",
            format!("Syntax error: {message}"),
            Some("42601"),
        )
    }
}

fn finish(p: &mut Parser<'_>) -> Result<(), SqlError> {
    while p.consume_token(&Token::SemiColon) {}
    let next = p.peek_token();
    if next.token != Token::EOF {
        return Err(p
            .expected::<()>("end of statement", next)
            .unwrap_err()
            .into());
    }
    Ok(())
}

/// Parses exactly one statement.
pub fn parse(sql: &str) -> Result<Parsed, SqlError> {
    let dialect = DatabricksDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(sql)?;
    if p.parse_keyword(Keyword::CREATE) {
        let or_replace = p.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        if !or_replace && p.parse_keyword(Keyword::CATALOG) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let name = p.parse_object_name(false)?;
            let comment = if p.parse_keyword(Keyword::COMMENT) {
                Some(p.parse_literal_string()?)
            } else {
                None
            };
            finish(&mut p)?;
            return Ok(Parsed::CreateCatalog {
                name,
                if_not_exists,
                comment,
            });
        }
        if p.parse_keyword(Keyword::TABLE) {
            return create_table(&mut p, or_replace);
        }
    } else if p.parse_keywords(&[Keyword::DROP, Keyword::CATALOG]) {
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let name = p.parse_object_name(false)?;
        let cascade = p.parse_one_of_keywords(&[Keyword::CASCADE, Keyword::RESTRICT])
            == Some(Keyword::CASCADE);
        finish(&mut p)?;
        return Ok(Parsed::DropCatalog {
            name,
            if_exists,
            cascade,
        });
    } else if p
        .parse_one_of_keywords(&[Keyword::DESCRIBE, Keyword::DESC])
        .is_some()
    {
        let _ = p.parse_keyword(Keyword::TABLE);
        let _ = p.parse_keyword(Keyword::EXTENDED);
        let name = p.parse_object_name(false)?;
        finish(&mut p)?;
        return Ok(Parsed::Describe { name });
    }
    let mut statements = DFParser::parse_sql_with_dialect(sql, &dialect).map_err(|e| match e {
        datafusion::error::DataFusionError::SQL(e, _) => SqlError::from(*e),
        other => SqlError::bad_request("PARSE_SYNTAX_ERROR", other.to_string(), Some("42601")),
    })?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(s), true) => Ok(Parsed::Standard(Box::new(s))),
        (None, _) => Err(SqlError::bad_request(
            "PARSE_EMPTY_STATEMENT",
            "Syntax error, unexpected empty statement.",
            Some("42617"),
        )),
        (Some(_), false) => Err(SqlError::bad_request(
            "PARSE_SYNTAX_ERROR",
            "Only one statement can be executed at a time.",
            Some("42601"),
        )),
    }
}

fn create_table(p: &mut Parser<'_>, or_replace: bool) -> Result<Parsed, SqlError> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = p.parse_object_name(false)?;
    let (columns, constraints) = p.parse_columns()?;
    if !constraints.is_empty() {
        return Err(not_supported("table constraints"));
    }
    let mut table = CreateTable {
        name,
        or_replace,
        if_not_exists,
        columns,
        using: "DELTA".into(),
        comment: None,
        properties: BTreeMap::new(),
        query: None,
    };
    loop {
        if p.parse_keyword(Keyword::USING) {
            table.using = p.parse_identifier()?.value.to_uppercase();
        } else if p.parse_keyword(Keyword::COMMENT) {
            table.comment = Some(p.parse_literal_string()?);
        } else if matches!(&p.peek_token().token, Token::Word(w) if w.keyword == Keyword::TBLPROPERTIES)
        {
            for option in p.parse_options(Keyword::TBLPROPERTIES)? {
                if let SqlOption::KeyValue { key, value } = option {
                    let value = match value {
                        Expr::Value(v) => match v.value {
                            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s,
                            other => other.to_string(),
                        },
                        other => other.to_string(),
                    };
                    table
                        .properties
                        .insert(key.to_string().trim_matches('\'').to_owned(), value);
                }
            }
        } else if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY])
            || p.parse_keywords(&[Keyword::CLUSTER, Keyword::BY])
        {
            // Layout hints change nothing for an in-memory table.
            p.expect_token(&Token::LParen)?;
            p.parse_comma_separated(|p| p.parse_identifier())?;
            p.expect_token(&Token::RParen)?;
        } else if p.parse_keyword(Keyword::LOCATION) {
            return Err(not_supported("external tables (LOCATION)"));
        } else {
            break;
        }
    }
    if p.parse_keyword(Keyword::AS) {
        table.query = Some(p.parse_query()?);
    }
    finish(p)?;
    if table.columns.is_empty() && table.query.is_none() {
        return Err(SqlError::bad_request(
            "PARSE_SYNTAX_ERROR",
            "CREATE TABLE needs a column list or AS query.",
            Some("42601"),
        ));
    }
    for c in &table.columns {
        for o in &c.options {
            if !matches!(
                o.option,
                ColumnOption::Null | ColumnOption::NotNull | ColumnOption::Comment(_)
            ) {
                return Err(not_supported(&format!("column option {}", o.option)));
            }
        }
    }
    Ok(Parsed::CreateTable(Box::new(table)))
}

fn not_supported(what: &str) -> SqlError {
    SqlError::bad_request(
        "UNSUPPORTED_FEATURE",
        format!("The emulator does not support {what}."),
        Some("0A000"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databricks_create_table() {
        let Parsed::CreateTable(t) = parse(
            "CREATE OR REPLACE TABLE c.s.t (a INT NOT NULL COMMENT 'k', b STRING) USING delta \
             COMMENT 'hello' TBLPROPERTIES ('x' = 'y') PARTITIONED BY (b);",
        )
        .unwrap() else {
            panic!("not a create table")
        };
        assert!(t.or_replace);
        assert_eq!(t.columns.len(), 2);
        assert_eq!(t.using, "DELTA");
        assert_eq!(t.comment.as_deref(), Some("hello"));
        assert_eq!(t.properties.get("x").map(String::as_str), Some("y"));
    }

    #[test]
    fn catalog_statements_and_describe() {
        assert!(matches!(
            parse("CREATE CATALOG IF NOT EXISTS c COMMENT 'x'").unwrap(),
            Parsed::CreateCatalog {
                if_not_exists: true,
                ..
            }
        ));
        assert!(matches!(
            parse("DROP CATALOG c CASCADE").unwrap(),
            Parsed::DropCatalog {
                cascade: true,
                if_exists: false,
                ..
            }
        ));
        assert!(matches!(
            parse("DESCRIBE TABLE a.b.c").unwrap(),
            Parsed::Describe { .. }
        ));
        assert!(matches!(parse("SELECT 1").unwrap(), Parsed::Standard(_)));
    }

    #[test]
    fn errors_are_syntax_errors() {
        let e = parse("SELEC 1").unwrap_err();
        assert_eq!(
            (e.error_code.as_str(), e.sql_state.as_deref()),
            ("BAD_REQUEST", Some("42601"))
        );
        assert!(parse("SELECT 1; SELECT 2").is_err());
        assert!(parse("CREATE TABLE t").is_err());
    }
}
