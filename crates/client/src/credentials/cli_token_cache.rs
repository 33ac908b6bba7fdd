//! The Databricks CLI's token cache, `~/.databricks/token-cache.json`: where a U2M login
//! (`brickwire auth login`, `databricks auth login`) keeps its tokens for profiles with
//! `auth_type = databricks-cli`.
//!
//! Start at [`CliTokenCache`]. The file is JSON:
//!
//! ```json
//! {"version": 1, "tokens": {"<key>": {"access_token": "...", "token_type": "Bearer",
//!   "refresh_token": "...", "expiry": "2026-01-01T12:00:00.5Z"}}}
//! ```
//!
//! A key is a profile name or a host key ([`host_cache_key`]: the workspace URL, or
//! `<host>/oidc/accounts/<account_id>` for an account). `expiry` is RFC 3339; the zero time
//! `0001-01-01T00:00:00Z` means "no expiry", as the Go CLI writes it. Entries and fields this
//! module does not know are kept as they are when it writes.
//!
//! Writes are read-modify-write under an exclusive lock on `<file>.lock`, then a temporary file
//! (mode 0600) renamed over the cache, so a reader never sees half a file and two processes that
//! rotate tokens at once do not drop each other's entries.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brickwire_api::SecretString;
use serde_json::{Map, Value, json};

use super::oauth::OAuthTokenSet;
use crate::{Error, Result};

/// Where the cache lives below the home directory.
pub const CLI_TOKEN_CACHE_PATH: &str = ".databricks/token-cache.json";

/// The only file format version this module reads and writes.
const VERSION: u64 = 1;

/// Go's zero `time.Time`, written for tokens without an expiry.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The cache key of a host: the normalised workspace URL, or for an account
/// `<host>/oidc/accounts/<account_id>`.
///
/// ```
/// use brickwire_client::credentials::host_cache_key;
/// assert_eq!(host_cache_key("https://dbc-1.cloud.databricks.com", None),
///            "https://dbc-1.cloud.databricks.com");
/// assert_eq!(host_cache_key("https://accounts.cloud.databricks.com/", Some("a1")),
///            "https://accounts.cloud.databricks.com/oidc/accounts/a1");
/// ```
pub fn host_cache_key(host: &str, account_id: Option<&str>) -> String {
    let host = host.trim_end_matches('/');
    let is_account_host = host
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(host)
        .starts_with("accounts.");
    match account_id.filter(|a| !a.is_empty()) {
        Some(id) if is_account_host => format!("{host}/oidc/accounts/{id}"),
        _ => host.to_owned(),
    }
}

/// The token cache file of the Databricks CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliTokenCache {
    path: PathBuf,
}

impl CliTokenCache {
    /// The cache at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The cache of the user whose home directory is `home`
    /// (`<home>/.databricks/token-cache.json`).
    pub fn in_home(home: &Path) -> Self {
        Self::new(home.join(CLI_TOKEN_CACHE_PATH))
    }

    /// The file this cache reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokens of the first of `keys` that has an entry, with that key; `None` when the file
    /// or every entry is missing.
    pub fn load(&self, keys: &[&str]) -> Result<Option<(String, OAuthTokenSet)>> {
        let Some(document) = self.read()? else {
            return Ok(None);
        };
        let tokens = document.get("tokens").and_then(Value::as_object);
        for key in keys {
            if let Some(entry) = tokens.and_then(|t| t.get(*key)) {
                let set = parse_entry(entry).map_err(|e| {
                    Error::Config(format!(
                        "token cache {}: entry `{key}` {e}; log in again",
                        self.path.display()
                    ))
                })?;
                return Ok(Some(((*key).to_owned(), set)));
            }
        }
        Ok(None)
    }

    /// Stores `tokens` under each of `keys`, keeping every other entry.
    pub fn store(&self, keys: &[&str], tokens: &OAuthTokenSet) -> Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| self.io_error("create the directory of", e))?;
        }
        let lock = open_private(&self.lock_path(), false)
            .map_err(|e| self.io_error("open the lock file of", e))?;
        lock.lock()
            .map_err(|e| self.io_error("lock the lock file of", e))?;
        let mut document = self.read()?.unwrap_or_else(|| json!({"version": VERSION}));
        let root = document
            .as_object_mut()
            .expect("read() returns an object or None");
        let entries = root
            .entry("tokens")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entries.is_object() {
            *entries = Value::Object(Map::new());
        }
        let entries = entries.as_object_mut().expect("tokens is an object");
        for key in keys {
            let mut entry = entries
                .get(*key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            write_entry(&mut entry, tokens);
            entries.insert((*key).to_owned(), Value::Object(entry));
        }
        let mut text = serde_json::to_vec_pretty(&document)
            .map_err(|e| Error::Config(format!("cannot encode the token cache: {e}")))?;
        text.push(b'\n');
        self.replace(&text)
            .map_err(|e| self.io_error("write the token cache", e))?;
        drop(lock);
        Ok(())
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> Error {
        Error::Config(format!("cannot {what} {}: {e}", self.path.display()))
    }

    /// The parsed file, `None` when it does not exist.
    fn read(&self) -> Result<Option<Value>> {
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("read the token cache", e)),
        };
        // Never quote the body: it is full of tokens.
        let document: Value = serde_json::from_slice(&text).map_err(|e| {
            Error::Config(format!(
                "token cache {} is not valid JSON (line {}, column {}); delete it and log in again",
                self.path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if !document.is_object() {
            return Err(Error::Config(format!(
                "token cache {} is not a JSON object; delete it and log in again",
                self.path.display()
            )));
        }
        match document.get("version").and_then(Value::as_u64) {
            Some(VERSION) => Ok(Some(document)),
            other => Err(Error::Config(format!(
                "token cache {} has version {}, but only version {VERSION} is supported",
                self.path.display(),
                other.map_or_else(|| "none".to_owned(), |v| v.to_string())
            ))),
        }
    }

    /// Writes `bytes` to a private temporary file next to the cache and renames it over it.
    fn replace(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(
            ".tmp-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let temp = self.path.with_file_name(name);
        let written = (|| {
            let mut file = open_private(&temp, true)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

/// Creates `dir` (and its parents) with mode 0700 on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens a file for writing with mode 0600 on Unix; `new` requires that it does not exist.
fn open_private(path: &Path, new: bool) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn parse_entry(entry: &Value) -> std::result::Result<OAuthTokenSet, String> {
    let text = |field: &str| {
        entry
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let access_token = text("access_token").ok_or("has no access_token")?;
    let expires_at = match text("expiry") {
        None => None,
        Some(raw) => parse_rfc3339(raw).map_err(|e| format!("has an invalid expiry: {e}"))?,
    };
    Ok(OAuthTokenSet {
        access_token: SecretString::new(access_token),
        token_type: text("token_type").unwrap_or("Bearer").to_owned(),
        refresh_token: text("refresh_token").map(SecretString::new),
        expires_at,
        scope: text("scope").map(str::to_owned),
    })
}

fn write_entry(entry: &mut Map<String, Value>, tokens: &OAuthTokenSet) {
    entry.insert(
        "access_token".into(),
        tokens.access_token.expose_secret().into(),
    );
    let token_type = if tokens.token_type.is_empty() {
        "Bearer"
    } else {
        &tokens.token_type
    };
    entry.insert("token_type".into(), token_type.into());
    match &tokens.refresh_token {
        Some(refresh) => {
            entry.insert("refresh_token".into(), refresh.expose_secret().into());
        }
        None => {
            entry.remove("refresh_token");
        }
    }
    let expiry = tokens
        .expires_at
        .map_or_else(|| ZERO_TIME.to_owned(), format_rfc3339);
    entry.insert("expiry".into(), expiry.into());
    // `expires_in` is relative to when it was written, so a stale one would mislead readers.
    entry.remove("expires_in");
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `t` as RFC 3339 in UTC with as many fractional digits as needed (Go's `RFC3339Nano`), as
/// the cache's `expiry` and `brickwire auth token` write it.
pub fn format_rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = since.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses RFC 3339 (`Z` or a `±hh:mm` offset, optional fraction). Go's zero time, and any
/// time before 1970, is `None`: no usable expiry.
pub(crate) fn parse_rfc3339(raw: &str) -> std::result::Result<Option<SystemTime>, String> {
    let bad = || format!("`{raw}` is not an RFC 3339 time");
    let s = raw.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> std::result::Result<i64, String> {
        let part = s.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut nanos: u64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u64>().map_err(|_| bad())? * 10u64.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let oh = num(s.len() - 5..s.len() - 3)?;
            let om = num(s.len() - 2..s.len())?;
            if rest.as_bytes()[3] != b':' || oh > 23 || om > 59 {
                return Err(bad());
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad()),
    };
    let unix = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    if unix < 0 {
        return Ok(None);
    }
    Ok(Some(
        UNIX_EPOCH + Duration::from_secs(unix as u64) + Duration::from_nanos(nanos),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(
        access: &str,
        refresh: Option<&str>,
        expires_at: Option<SystemTime>,
    ) -> OAuthTokenSet {
        OAuthTokenSet {
            access_token: SecretString::new(access),
            token_type: "Bearer".into(),
            refresh_token: refresh.map(SecretString::new),
            expires_at,
            scope: None,
        }
    }

    #[test]
    fn rfc3339_round_trips_and_reads_offsets() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let text = format_rfc3339(t);
        assert_eq!(text, "2026-11-18T11:06:40.123Z");
        assert_eq!(parse_rfc3339(&text), Ok(Some(t)));
        // Go writes local times with an offset and nanoseconds.
        assert_eq!(
            parse_rfc3339("2026-11-18T12:06:40.123000000+01:00"),
            Ok(Some(t))
        );
        assert_eq!(parse_rfc3339("2026-11-18T06:36:40.123-04:30"), Ok(Some(t)));
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(parse_rfc3339(ZERO_TIME), Ok(None));
        for bad in [
            "",
            "2026-11-18",
            "2026-13-01T00:00:00Z",
            "2026-11-18T10:26:40",
            "x026-11-18T10:26:40Z",
            "2026-11-18T10:26:40.Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_keys_name_the_account_only_on_account_hosts() {
        assert_eq!(
            host_cache_key("https://dbc-1.cloud.databricks.com", Some("a1")),
            "https://dbc-1.cloud.databricks.com"
        );
        assert_eq!(
            host_cache_key("https://accounts.cloud.databricks.com", Some("a1")),
            "https://accounts.cloud.databricks.com/oidc/accounts/a1"
        );
    }

    #[test]
    fn store_then_load_keeps_other_entries_and_fields() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CliTokenCache::in_home(dir.path());
        assert!(cache.load(&["p"]).unwrap().is_none());
        fs::create_dir_all(cache.path().parent().unwrap()).unwrap();
        fs::write(
            cache.path(),
            r#"{"version":1,"tokens":{"other":{"access_token":"o","token_type":"Bearer","expiry":"0001-01-01T00:00:00Z"},
               "p":{"access_token":"old","extra":"kept","expires_in":5}}}"#,
        )
        .unwrap();
        let expiry = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        cache
            .store(&["p", "https://h"], &tokens("at", Some("rt"), Some(expiry)))
            .unwrap();
        let (key, loaded) = cache.load(&["missing", "https://h"]).unwrap().unwrap();
        assert_eq!(key, "https://h");
        assert_eq!(loaded, tokens("at", Some("rt"), Some(expiry)));
        let doc: Value = serde_json::from_slice(&fs::read(cache.path()).unwrap()).unwrap();
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["tokens"]["p"]["extra"], "kept");
        assert!(doc["tokens"]["p"].get("expires_in").is_none());
        assert_eq!(doc["tokens"]["p"]["expiry"], "2033-05-18T03:33:20Z");
        assert_eq!(doc["tokens"]["other"]["access_token"], "o");
        let (_, other) = cache.load(&["other"]).unwrap().unwrap();
        assert_eq!(other.expires_at, None);
        assert_eq!(other.refresh_token, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(cache.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // no temporary file is left behind
        let names: Vec<_> = fs::read_dir(cache.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn a_new_cache_file_is_private_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CliTokenCache::in_home(dir.path());
        cache.store(&["k"], &tokens("a", None, None)).unwrap();
        let doc: Value = serde_json::from_slice(&fs::read(cache.path()).unwrap()).unwrap();
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["tokens"]["k"]["expiry"], ZERO_TIME);
        assert!(doc["tokens"]["k"].get("refresh_token").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dir_mode = fs::metadata(cache.path().parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
    }

    #[test]
    fn unreadable_caches_are_errors_that_quote_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CliTokenCache::new(dir.path().join("c.json"));
        fs::write(cache.path(), r#"{"version":2,"tokens":{}}"#).unwrap();
        let e = cache.load(&["k"]).unwrap_err().to_string();
        assert!(e.contains("version 2"), "{e}");
        // a newer format is never overwritten
        assert!(cache.store(&["k"], &tokens("a", None, None)).is_err());
        fs::write(
            cache.path(),
            r#"{"version":1,"tokens":{"k":{"access_token":"secret-at" "#,
        )
        .unwrap();
        let e = cache.load(&["k"]).unwrap_err().to_string();
        assert!(
            !e.contains("secret-at") && e.contains("not valid JSON"),
            "{e}"
        );
        fs::write(
            cache.path(),
            r#"{"version":1,"tokens":{"k":{"access_token":"secret-at","expiry":"soon"}}}"#,
        )
        .unwrap();
        let e = cache.load(&["k"]).unwrap_err().to_string();
        assert!(
            !e.contains("secret-at") && e.contains("invalid expiry"),
            "{e}"
        );
    }
}
