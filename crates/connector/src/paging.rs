//! The one paging behaviour and output shape of every Query/List action.
//!
//! Input (flattened into each list action's input): `limit` (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]), `page_token`, `single_page`. By default the
//! action pages automatically until it has `limit` items or the list ends; with
//! `single_page: true` it returns exactly one page (of at most `limit` items).
//!
//! Output: `{"<Databricks' list field>": [...], "next_page_token": "..."}`. The list field is
//! the one Databricks itself uses (`catalogs`, `clusters`, `jobs`, `warehouses`, `objects`,
//! `Resources` for SCIM, ...), and `next_page_token` is present only when more items follow;
//! pass it back as `page_token` (with the same filters) to continue. Each request asks the
//! server for no more than the items still wanted, so a page ends at the limit and the token
//! continues right after the last item returned. For SCIM lists the token is the next
//! 1-based `startIndex`.

use std::collections::HashSet;

use brickwire_client::pagination::{Cursor, Paginator};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::RunError;
use crate::error::ActionError;

/// The default `limit` of list actions.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` a list action accepts.
pub const MAX_LIMIT: u32 = 10_000;

fn default_limit() -> u32 {
    DEFAULT_LIMIT
}

/// The paging inputs every list action shares.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Paging {
    /// The most items to return, across as many pages as needed (default 100, at most 10000).
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
    /// Continue from here: the `next_page_token` of an earlier call of this action with the
    /// same filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Return exactly one page and its `next_page_token` instead of paging automatically
    /// (default false).
    #[serde(default)]
    pub single_page: bool,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            page_token: None,
            single_page: false,
        }
    }
}

/// How a list's cursor travels as `page_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorStyle {
    /// An opaque server token.
    Token,
    /// A numeric index (SCIM `startIndex`, 1-based); the first page is at 1.
    ScimIndex,
    /// An unpaginated list: no token is ever returned or accepted.
    None,
}

impl CursorStyle {
    fn parse(self, token: &str) -> Result<Cursor, ActionError> {
        match self {
            CursorStyle::Token => Ok(Cursor::Token(token.to_owned())),
            CursorStyle::ScimIndex => token
                .parse::<i64>()
                .ok()
                .filter(|i| *i >= 1)
                .map(Cursor::Index)
                .ok_or_else(|| {
                    ActionError::invalid_input("page_token", "expected a 1-based start index")
                }),
            CursorStyle::None => Err(ActionError::invalid_input(
                "page_token",
                "this list is not paginated, so it takes no page_token",
            )),
        }
    }

    fn first(self) -> Option<Cursor> {
        match self {
            CursorStyle::ScimIndex => Some(Cursor::Index(1)),
            _ => None,
        }
    }
}

/// Runs a list action: `make(n)` builds the paginator that asks the server for `n` items per
/// page. Returns the documented output shape with `field` as the list field.
pub async fn list<T, M>(
    paging: &Paging,
    field: &str,
    style: CursorStyle,
    make: M,
) -> Result<Value, RunError>
where
    T: Serialize + Send + 'static,
    M: Fn(u32) -> Paginator<T>,
{
    let limit = paging.limit.clamp(1, MAX_LIMIT) as usize;
    let mut cursor = match &paging.page_token {
        Some(token) if !token.is_empty() => Some(style.parse(token)?),
        _ => style.first(),
    };
    let mut items: Vec<T> = Vec::new();
    let mut seen = HashSet::new();
    let next = loop {
        let remaining = (limit - items.len()) as u32;
        let page = make(remaining).page(cursor.clone()).await?;
        let fetched = page.items.len();
        let at = cursor.clone();
        items.extend(page.items);
        let mut next = page.next;
        if items.len() > limit {
            // the server ignored the page size; for an index we can point right after the
            // last item kept, for a token the rest of this page is skipped
            let extra = items.len() - limit;
            items.truncate(limit);
            if let (Some(Cursor::Index(start)), CursorStyle::ScimIndex) = (&at, style) {
                next = Some(Cursor::Index(start + (fetched - extra) as i64));
            }
        }
        match next {
            Some(n) if !paging.single_page && items.len() < limit && seen.insert(n.clone()) => {
                cursor = Some(n);
            }
            // a server that repeats a token would otherwise loop forever
            Some(n) if !paging.single_page && items.len() < limit => {
                let _ = n;
                break None;
            }
            other => break other,
        }
    };
    let mut out = Map::new();
    let items = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ActionError::new(
                crate::ErrorCode::UpstreamError,
                format!("cannot encode output: {e}"),
            )
        })?;
    out.insert(field.to_owned(), Value::Array(items));
    if let Some(next) = next.filter(|_| style != CursorStyle::None) {
        out.insert("next_page_token".into(), Value::String(next.to_string()));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickwire_client::pagination::Page;
    use std::sync::{Arc, Mutex};

    type Asked = Arc<Mutex<Vec<(u32, Option<Cursor>)>>>;

    /// 250 numbers served in pages of at most `n` (the page size asked for), token style.
    fn numbers(asked: Asked, n: u32) -> Paginator<u32> {
        Paginator::new(move |cursor: Option<Cursor>| {
            asked.lock().unwrap().push((n, cursor.clone()));
            let start: u32 = cursor
                .and_then(|c| c.as_token().map(|t| t.parse().unwrap()))
                .unwrap_or(0);
            let end = (start + n.min(40)).min(250);
            let next = (end < 250).then(|| end.to_string());
            async move { Ok(Page::from_token((start..end).collect(), next)) }
        })
    }

    #[tokio::test]
    async fn auto_paging_stops_at_the_limit_with_a_token_to_continue() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let paging = Paging {
            limit: 100,
            ..Paging::default()
        };
        let a = Arc::clone(&asked);
        let out = list(&paging, "things", CursorStyle::Token, |n| {
            numbers(Arc::clone(&a), n)
        })
        .await
        .unwrap();
        let things = out["things"].as_array().unwrap();
        assert_eq!(things.len(), 100);
        assert_eq!(things[99], 99);
        assert_eq!(out["next_page_token"], "100");
        // page sizes shrink to what is still wanted: 100, 60, 20
        let sizes: Vec<u32> = asked.lock().unwrap().iter().map(|(n, _)| *n).collect();
        assert_eq!(sizes, vec![100, 60, 20]);
    }

    #[tokio::test]
    async fn single_page_returns_one_page_and_continues_from_a_token() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let paging = Paging {
            limit: 100,
            page_token: Some("200".into()),
            single_page: true,
        };
        let a = Arc::clone(&asked);
        let out = list(&paging, "things", CursorStyle::Token, |n| {
            numbers(Arc::clone(&a), n)
        })
        .await
        .unwrap();
        assert_eq!(out["things"].as_array().unwrap().len(), 40);
        assert_eq!(out["next_page_token"], "240");
        let paging = Paging {
            page_token: Some("240".into()),
            ..Paging::default()
        };
        let out = list(&paging, "things", CursorStyle::Token, |n| {
            numbers(Arc::clone(&a), n)
        })
        .await
        .unwrap();
        assert_eq!(out["things"].as_array().unwrap().len(), 10);
        assert!(out.get("next_page_token").is_none(), "{out}");
    }

    #[tokio::test]
    async fn scim_index_that_overshoots_points_right_after_the_last_item() {
        let paginator = |_n: u32| {
            Paginator::new(|cursor: Option<Cursor>| {
                let start = cursor.and_then(|c| c.as_index()).unwrap();
                // a server that ignores `count` and always sends 7
                async move {
                    Ok(Page::from_scim(
                        (start..start + 7).collect::<Vec<i64>>(),
                        start,
                    ))
                }
            })
        };
        let paging = Paging {
            limit: 10,
            ..Paging::default()
        };
        let out = list(&paging, "Resources", CursorStyle::ScimIndex, paginator)
            .await
            .unwrap();
        assert_eq!(out["Resources"].as_array().unwrap().len(), 10);
        assert_eq!(out["next_page_token"], "11");
        let bad = Paging {
            page_token: Some("abc".into()),
            ..Paging::default()
        };
        let Err(RunError::Action(e)) =
            list(&bad, "Resources", CursorStyle::ScimIndex, paginator).await
        else {
            panic!("expected invalid input");
        };
        assert!(e.message.contains("page_token"), "{}", e.message);
    }
}
