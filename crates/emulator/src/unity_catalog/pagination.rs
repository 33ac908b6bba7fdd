//! Unity Catalog token pagination and the SQL `LIKE` patterns of `table-summaries`.
//!
//! Pages are keyset-based: the token names the last key served, so objects created or deleted
//! between pages neither repeat nor vanish. With [`Settings::empty_pages`] each page with items
//! is preceded by an empty page that still carries a token, as Databricks documents it may be.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::state::{Settings, UcError};

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last one.
    pub next_page_token: Option<String>,
}

/// How a list request asked to be paged.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest<'a> {
    /// `max_results` as sent: `None` when omitted.
    pub max_results: Option<i64>,
    /// `page_token` as sent.
    pub page_token: Option<&'a str>,
    /// Whether the list pages even when `max_results` is omitted (summaries, volumes).
    pub paginated_by_default: bool,
}

fn encode(empty_served: bool, after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{after}", if empty_served { 'e' } else { 'k' }))
}

fn decode(token: &str) -> Result<(bool, String), UcError> {
    let bad = || UcError::InvalidParameter(format!("Invalid page_token '{token}'"));
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    match text.split_once('|') {
        Some(("e", after)) => Ok((true, after.to_owned())),
        Some(("k", after)) => Ok((false, after.to_owned())),
        _ => Err(bad()),
    }
}

/// Cuts one page out of `items`, which must be sorted by `key`.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    request: PageRequest<'_>,
    settings: &Settings,
) -> Result<Page<T>, UcError> {
    let limit = match request.max_results {
        Some(n) if n < 0 => {
            return Err(UcError::InvalidParameter(format!(
                "max_results must be greater than or equal to 0, got {n}"
            )));
        }
        Some(0) => settings.page_size.max(1),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None if request.paginated_by_default => settings.page_size.max(1),
        None if request.page_token.is_none_or(str::is_empty) => {
            // Legacy callers that omit max_results get everything in one response.
            return Ok(Page {
                items,
                next_page_token: None,
            });
        }
        None => settings.page_size.max(1),
    };
    let (empty_served, after) = match request.page_token.filter(|t| !t.is_empty()) {
        Some(t) => decode(t)?,
        None => (false, String::new()),
    };
    if settings.empty_pages && !empty_served {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: Some(encode(true, &after)),
        });
    }
    let mut rest = items
        .into_iter()
        .filter(|i| after.is_empty() || key(i) > after)
        .peekable();
    let mut page = Vec::new();
    while page.len() < limit {
        match rest.next() {
            Some(i) => page.push(i),
            None => break,
        }
    }
    let next_page_token = match (rest.peek(), page.last()) {
        (Some(_), Some(last)) => Some(encode(false, &key(last))),
        _ => None,
    };
    Ok(Page {
        items: page,
        next_page_token,
    })
}

/// Whether `text` matches the SQL `LIKE` `pattern` (`%` any run, `_` one character, `\` escapes),
/// ignoring case as Unity Catalog names do.
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    like_at(&p, &t)
}

fn like_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('%') => (0..=t.len()).any(|i| like_at(&p[1..], &t[i..])),
        Some('_') => !t.is_empty() && like_at(&p[1..], &t[1..]),
        Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && like_at(&p[2..], &t[1..]),
        Some(c) => t.first() == Some(c) && like_at(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i:02}")).collect()
    }

    fn all_pages(items: Vec<String>, max: Option<i64>, settings: &Settings) -> Vec<Vec<String>> {
        let mut token: Option<String> = None;
        let mut pages = Vec::new();
        loop {
            let req = PageRequest {
                max_results: max,
                page_token: token.as_deref(),
                paginated_by_default: false,
            };
            let page = paginate(items.clone(), |s| s.clone(), req, settings).unwrap();
            pages.push(page.items);
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => return pages,
            }
        }
    }

    #[test]
    fn omitted_max_results_is_unpaginated() {
        let s = Settings {
            page_size: 2,
            ..Settings::default()
        };
        assert_eq!(all_pages(names(5), None, &s), vec![names(5)]);
    }

    #[test]
    fn zero_uses_server_page_size() {
        let s = Settings {
            page_size: 2,
            ..Settings::default()
        };
        let pages = all_pages(names(5), Some(0), &s);
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        assert_eq!(pages.concat(), names(5));
    }

    #[test]
    fn empty_pages_precede_each_page() {
        let s = Settings {
            page_size: 2,
            empty_pages: true,
        };
        let pages = all_pages(names(3), Some(2), &s);
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![0, 2, 0, 1]
        );
        assert_eq!(pages.concat(), names(3));
    }

    #[test]
    fn negative_and_garbage_are_rejected() {
        let s = Settings::default();
        let neg = PageRequest {
            max_results: Some(-1),
            ..Default::default()
        };
        assert!(paginate(names(1), |s| s.clone(), neg, &s).is_err());
        let bad = PageRequest {
            max_results: Some(1),
            page_token: Some("!!"),
            ..Default::default()
        };
        assert!(paginate(names(1), |s| s.clone(), bad, &s).is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like("sales%", "Sales_2024"));
        assert!(like("s_les", "sales"));
        assert!(!like("s_les", "ssales"));
        assert!(like("%", ""));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
        assert!(like("%2024", "sales_2024"));
        assert!(!like("sales", "sales_2024"));
    }
}
