//! Pagination, written once: a [`Paginator`] turns "fetch the page at this cursor" into a lazy
//! stream of items, for every style Databricks uses.
//!
//! A service supplies one closure, `Fn(Option<Cursor>) -> Future<Result<Page<T>>>`, that
//! fetches one page (`None` = the first page as the request describes it) and turns the
//! response into a [`Page`] with one of the style constructors:
//!
//! | Style | Constructor | Continues while |
//! |---|---|---|
//! | `page_token` / `next_page_token` (UC, clusters, warehouses) | [`Page::from_token`] | the token is present and non-empty, even after an empty page |
//! | `has_more` + `next_page_token` (jobs, runs) | [`Page::from_has_more`] | `has_more` is not `false` and the token is non-empty |
//! | SCIM `startIndex` / `count` (1-based) | [`Page::from_scim`] | the page is non-empty; the next index is `start + len` |
//! | statement result chunks | [`Page::from_chunk`] | `next_chunk_index` is present |
//! | unpaginated lists | [`Page::single`] | never |
//!
//! The stream stops on an absent or empty cursor and on a cursor it has already requested (a
//! server that repeats a token would otherwise loop forever). [`Paginator::max_items`] caps the
//! items, and no page is fetched beyond the cap. [`Paginator::page`] fetches exactly one page
//! and hands back its continuation, for callers that page themselves.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::error::Result;

/// Where a page starts: a server token, or an index (SCIM `startIndex`, statement chunk).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cursor {
    /// An opaque `page_token`.
    Token(String),
    /// A numeric position: SCIM `startIndex` (1-based) or a statement `chunk_index`.
    Index(i64),
}

impl Cursor {
    /// The token, when this is one.
    pub fn as_token(&self) -> Option<&str> {
        match self {
            Cursor::Token(t) => Some(t),
            Cursor::Index(_) => None,
        }
    }

    /// The index, when this is one.
    pub fn as_index(&self) -> Option<i64> {
        match self {
            Cursor::Index(i) => Some(*i),
            Cursor::Token(_) => None,
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cursor::Token(t) => f.write_str(t),
            Cursor::Index(i) => write!(f, "{i}"),
        }
    }
}

/// One page: its items and where the next page starts (`None` = this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page (possibly none, even when more pages follow).
    pub items: Vec<T>,
    /// The cursor of the next page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// `page_token` style: continue while `next_page_token` is present and non-empty.
    pub fn from_token(items: Vec<T>, next_page_token: Option<String>) -> Self {
        let next = next_page_token.filter(|t| !t.is_empty()).map(Cursor::Token);
        Self { items, next }
    }

    /// `has_more` style (jobs, runs): continue while `has_more` is not `false` and a non-empty
    /// `next_page_token` is present.
    pub fn from_has_more(
        items: Vec<T>,
        has_more: Option<bool>,
        next_page_token: Option<String>,
    ) -> Self {
        if has_more == Some(false) {
            return Self { items, next: None };
        }
        Self::from_token(items, next_page_token)
    }

    /// SCIM style: this page was requested at 1-based `start_index`; the next one starts
    /// `items.len()` later, and an empty page ends the list.
    pub fn from_scim(items: Vec<T>, start_index: i64) -> Self {
        let next = if items.is_empty() {
            None
        } else {
            Some(Cursor::Index(start_index + items.len() as i64))
        };
        Self { items, next }
    }

    /// Statement-chunk style: continue at `next_chunk_index` when present.
    pub fn from_chunk(items: Vec<T>, next_chunk_index: Option<i64>) -> Self {
        Self {
            items,
            next: next_chunk_index.map(Cursor::Index),
        }
    }

    /// An unpaginated list: everything in one page.
    pub fn single(items: Vec<T>) -> Self {
        Self { items, next: None }
    }

    /// The next page's token, for callers that hand it back to their own caller.
    pub fn next_page_token(&self) -> Option<&str> {
        self.next.as_ref().and_then(Cursor::as_token)
    }

    /// Converts the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

type FetchFn<T> = Arc<dyn Fn(Option<Cursor>) -> BoxFuture<'static, Result<Page<T>>> + Send + Sync>;

/// A lazy, restartable list over pages. Nothing is fetched until a page or item is asked for.
///
/// ```no_run
/// # async fn demo(client: brickwire_client::Client) -> brickwire_client::Result<()> {
/// use futures::TryStreamExt;
/// use brickwire_api::clusters::ListClustersRequest;
///
/// // every cluster, page after page
/// let all: Vec<_> = client.clusters().list(&ListClustersRequest::default()).collect().await?;
/// // at most 10, without fetching pages beyond them
/// let mut first = client.clusters().list(&ListClustersRequest::default()).max_items(10).items();
/// while let Some(cluster) = first.try_next().await? { println!("{:?}", cluster.cluster_name); }
/// // exactly one page and the token of the next
/// let page = client.clusters().list(&ListClustersRequest::default()).first_page().await?;
/// println!("{} more: {:?}", page.items.len(), page.next_page_token());
/// # Ok(()) }
/// ```
pub struct Paginator<T> {
    fetch: FetchFn<T>,
    start: Option<Cursor>,
    max_items: Option<usize>,
}

impl<T> Clone for Paginator<T> {
    fn clone(&self) -> Self {
        Self {
            fetch: Arc::clone(&self.fetch),
            start: self.start.clone(),
            max_items: self.max_items,
        }
    }
}

impl<T> fmt::Debug for Paginator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginator")
            .field("start", &self.start)
            .field("max_items", &self.max_items)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Paginator<T> {
    /// A paginator over `fetch`, which loads the page at a cursor (`None` = the first page).
    pub fn new<F, Fut>(fetch: F) -> Self
    where
        F: Fn(Option<Cursor>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Page<T>>> + Send + 'static,
    {
        Self {
            fetch: Arc::new(move |cursor| Box::pin(fetch(cursor))),
            start: None,
            max_items: None,
        }
    }

    /// A paginator over items already in hand (an unpaginated answer).
    pub fn from_items(items: Vec<T>) -> Self
    where
        T: Clone + Sync,
    {
        let items = Arc::new(items);
        Self::new(move |_| {
            let items = Arc::clone(&items);
            async move { Ok(Page::single(items.as_ref().clone())) }
        })
    }

    /// Starts at this cursor instead of the first page.
    pub fn starting_at(mut self, cursor: Option<Cursor>) -> Self {
        self.start = cursor;
        self
    }

    /// Yields at most `n` items; pages past the `n`-th item are never fetched.
    pub fn max_items(mut self, n: usize) -> Self {
        self.max_items = Some(n);
        self
    }

    /// Fetches exactly one page at `cursor` (`None` = the first page). The cap does not apply:
    /// a caller that pages by hand must see whole pages so that `next` skips nothing.
    pub async fn page(&self, cursor: Option<Cursor>) -> Result<Page<T>> {
        (self.fetch)(cursor).await
    }

    /// Fetches the first page (or the one at [`starting_at`](Self::starting_at)).
    pub async fn first_page(&self) -> Result<Page<T>> {
        self.page(self.start.clone()).await
    }

    /// The pages, lazily. With a cap, the last page is cut to the cap and the stream ends.
    pub fn pages(self) -> BoxStream<'static, Result<Page<T>>> {
        struct State<T> {
            fetch: FetchFn<T>,
            cursor: Option<Cursor>,
            seen: HashSet<Cursor>,
            remaining: Option<usize>,
            done: bool,
        }
        let mut seen = HashSet::new();
        if let Some(start) = &self.start {
            seen.insert(start.clone());
        }
        let state = State {
            fetch: self.fetch,
            cursor: self.start,
            seen,
            remaining: self.max_items,
            done: self.max_items == Some(0),
        };
        stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let page = match (st.fetch)(st.cursor.clone()).await {
                Ok(page) => page,
                Err(e) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
            };
            let Page { mut items, next } = page;
            if let Some(remaining) = st.remaining.as_mut() {
                if items.len() >= *remaining {
                    items.truncate(*remaining);
                    st.done = true;
                }
                *remaining -= items.len();
            }
            match next {
                Some(Cursor::Token(ref t)) if t.is_empty() => st.done = true,
                None => st.done = true,
                Some(cursor) => {
                    if st.seen.insert(cursor.clone()) {
                        st.cursor = Some(cursor);
                    } else {
                        tracing::warn!(%cursor, "the server repeated a page cursor; stopping");
                        st.done = true;
                    }
                }
            }
            let next = if st.done { None } else { st.cursor.clone() };
            Some((Ok(Page { items, next }), st))
        })
        .boxed()
    }

    /// The items of every page, lazily, up to the cap.
    pub fn items(self) -> BoxStream<'static, Result<T>> {
        let cap = self.max_items;
        let items = self
            .pages()
            .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten();
        match cap {
            Some(n) => items.take(n).boxed(),
            None => items.boxed(),
        }
    }

    /// Every item, up to the cap, in a vector.
    pub async fn collect(self) -> Result<Vec<T>> {
        self.items().try_collect().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type CallLog = Arc<Mutex<Vec<Option<Cursor>>>>;

    /// A paginator over scripted pages; records the cursors it was asked for.
    fn scripted(pages: Vec<(Option<Cursor>, Page<u32>)>) -> (Paginator<u32>, CallLog) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        let pages = Arc::new(pages);
        let p = Paginator::new(move |cursor: Option<Cursor>| {
            log.lock().unwrap().push(cursor.clone());
            let page = pages
                .iter()
                .find(|(c, _)| *c == cursor)
                .map(|(_, p)| p.clone())
                .unwrap_or_else(|| panic!("unexpected cursor {cursor:?}"));
            async move { Ok(page) }
        });
        (p, calls)
    }

    fn tok(s: &str) -> Option<Cursor> {
        Some(Cursor::Token(s.into()))
    }

    #[tokio::test]
    async fn token_pages_continue_through_empty_pages() {
        let (p, calls) = scripted(vec![
            (None, Page::from_token(vec![1, 2], Some("a".into()))),
            (tok("a"), Page::from_token(vec![], Some("b".into()))),
            (tok("b"), Page::from_token(vec![3], Some(String::new()))),
        ]);
        assert_eq!(p.collect().await.unwrap(), vec![1, 2, 3]);
        assert_eq!(calls.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_repeated_token_stops_the_stream() {
        let (p, calls) = scripted(vec![
            (None, Page::from_token(vec![1], Some("a".into()))),
            (tok("a"), Page::from_token(vec![2], Some("a".into()))),
        ]);
        assert_eq!(p.collect().await.unwrap(), vec![1, 2]);
        assert_eq!(*calls.lock().unwrap(), vec![None, tok("a")]);
    }

    #[tokio::test]
    async fn the_cap_fetches_no_page_beyond_it() {
        let (p, calls) = scripted(vec![
            (None, Page::from_token(vec![1, 2], Some("a".into()))),
            (tok("a"), Page::from_token(vec![3, 4], Some("b".into()))),
        ]);
        assert_eq!(
            p.clone().max_items(3).collect().await.unwrap(),
            vec![1, 2, 3]
        );
        assert_eq!(calls.lock().unwrap().len(), 2);
        calls.lock().unwrap().clear();
        assert_eq!(p.clone().max_items(2).collect().await.unwrap(), vec![1, 2]);
        assert_eq!(calls.lock().unwrap().len(), 1);
        let pages: Vec<_> = p.max_items(3).pages().try_collect().await.unwrap();
        assert_eq!(
            pages[1],
            Page {
                items: vec![3],
                next: None
            }
        );
    }

    #[tokio::test]
    async fn has_more_false_wins_over_a_token() {
        let (p, _) = scripted(vec![(
            None,
            Page::from_has_more(vec![1], Some(false), Some("x".into())),
        )]);
        assert_eq!(p.collect().await.unwrap(), vec![1]);
    }

    #[test]
    fn scim_and_chunk_cursors() {
        assert_eq!(Page::from_scim(vec![1, 2], 1).next, Some(Cursor::Index(3)));
        assert_eq!(Page::<u8>::from_scim(vec![], 3).next, None);
        assert_eq!(
            Page::from_chunk(vec![1], Some(4)).next,
            Some(Cursor::Index(4))
        );
        assert_eq!(Page::from_token(vec![1], Some(String::new())).next, None);
    }

    #[tokio::test]
    async fn errors_end_the_stream() {
        let p: Paginator<u32> =
            Paginator::new(|_| async { Err(crate::Error::Timeout("boom".into())) });
        let items: Vec<_> = p.items().collect().await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
