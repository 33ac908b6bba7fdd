//! Lateral column aliases: Databricks lets a SELECT item use an alias defined by an earlier item
//! of the same SELECT (`SELECT a + 1 AS b, b * 2 AS c FROM t`); DataFusion does not.
//!
//! Before planning, such references are replaced by the aliased expression. A column of the
//! FROM tables wins over an alias, as in Databricks, so the rewrite only runs when every FROM
//! item is a table (or `range`) whose columns are known, and never inside subqueries.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Select, SelectItem, TableFactor, VisitMut, VisitorMut, visit_expressions,
    visit_expressions_mut,
};

/// Looks up the column names of a table as written in a query; `None` when unknown.
pub type ColumnsOf<'a> = &'a dyn Fn(&ObjectName) -> Option<Vec<String>>;

struct Rewriter<'a> {
    columns_of: ColumnsOf<'a>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        rewrite_select(select, self.columns_of);
        ControlFlow::Continue(())
    }
}

/// Rewrites every SELECT in `node`.
pub fn rewrite<V: VisitMut>(node: &mut V, columns_of: ColumnsOf<'_>) {
    let _ = node.visit(&mut Rewriter { columns_of });
}

fn from_columns(select: &Select, columns_of: ColumnsOf<'_>) -> Option<HashSet<String>> {
    let mut cols = HashSet::new();
    for twj in &select.from {
        for factor in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            let TableFactor::Table { name, args, .. } = factor else {
                return None;
            };
            if args.is_some() {
                if name.to_string().eq_ignore_ascii_case("range") {
                    cols.insert("id".to_owned());
                    continue;
                }
                return None;
            }
            cols.extend(columns_of(name)?.into_iter().map(|c| c.to_lowercase()));
        }
    }
    Some(cols)
}

fn has_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

fn rewrite_select(select: &mut Select, columns_of: ColumnsOf<'_>) {
    let Some(from_cols) = from_columns(select, columns_of) else {
        return;
    };
    let mut aliases: HashMap<String, Expr> = HashMap::new();
    for item in &mut select.projection {
        let (expr, alias) = match item {
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.to_lowercase())),
            SelectItem::UnnamedExpr(expr) => (expr, None),
            _ => continue,
        };
        if !aliases.is_empty() && !has_subquery(expr) {
            let _ = visit_expressions_mut(expr, |e| {
                if let Expr::Identifier(ident) = e {
                    let key = ident.value.to_lowercase();
                    if !from_cols.contains(&key)
                        && let Some(aliased) = aliases.get(&key)
                    {
                        *e = Expr::Nested(Box::new(aliased.clone()));
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        if let Some(alias) = alias {
            aliases.insert(alias, expr.clone());
        }
    }
}
