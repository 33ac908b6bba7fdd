//! The profiles file `~/.databrickscfg` as `brickwire auth login` writes it: start at
//! [`write_profile`]. The file is the Databricks CLI's, so the edit is surgical: one profile's
//! auth keys are replaced, and every other line (other profiles, comments, blank lines, the
//! profile's other keys) is kept byte for byte.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use url::Url;

/// A profile name for a host: its first DNS label (`dbc-1234` for
/// `https://dbc-1234.cloud.databricks.com`), or host and port with `-` for IPs and localhost.
pub(super) fn default_profile_name(host: &Url) -> String {
    let name = match host.host() {
        Some(url::Host::Domain(d)) if !d.eq_ignore_ascii_case("localhost") => {
            d.split('.').next().unwrap_or(d).to_owned()
        }
        _ => host.host_str().unwrap_or("workspace").to_owned(),
    };
    let mut name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if let Some(port) = host.port() {
        let _ = write!(name, "-{port}");
    }
    name.trim_matches('-').to_owned()
}

pub(super) fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name != "__settings__"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Keys a login replaces in an existing profile: every way to authenticate, so the profile
/// does not end up with two auth methods.
const AUTH_KEYS: &[&str] = &[
    "host",
    "token",
    "username",
    "password",
    "client_id",
    "client_secret",
    "auth_type",
    "scopes",
    "azure_client_id",
    "azure_client_secret",
    "azure_tenant_id",
    "google_service_account",
    "google_credentials",
    "metadata_service_url",
];

/// Sets `entries` in section `[profile]` of the INI file at `path`: the section's auth keys
/// are replaced, its other keys kept, everything outside it untouched. The file is written to
/// a temporary file (0600) and renamed over the old one.
pub fn write_profile(
    path: &Path,
    profile: &str,
    entries: &[(&str, String)],
) -> std::io::Result<()> {
    // A symlinked config file (dotfiles) stays a symlink: write where it points.
    let resolved;
    let path = match std::fs::canonicalize(path) {
        Ok(target) if target != path => {
            resolved = target;
            resolved.as_path()
        }
        _ => path,
    };
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let text = set_profile(&old, profile, entries);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(name);
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The text of an INI file with `[profile]` set as [`write_profile`] describes.
///
/// The new lines are written by rust-ini ([`render`]); the splice into the old text stays a
/// line scan, because rust-ini keeps no comments or blank lines when it loads a file (and
/// rewrites `key: value` and spacing), so a load-edit-save round trip would lose the user's
/// comments, inside the profile and around it, which this writer has always kept.
fn set_profile(old: &str, profile: &str, entries: &[(&str, String)]) -> String {
    let header = |line: &str| -> Option<String> {
        let t = line.trim();
        t.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .map(|n| n.trim().to_owned())
    };
    let key_of = |line: &str| -> Option<String> {
        let t = line.trim();
        if t.starts_with(['#', ';']) {
            return None;
        }
        t.split_once(['=', ':'])
            .map(|(k, _)| k.trim().to_ascii_lowercase())
    };
    let new_lines: Vec<String> = render(None, entries).lines().map(str::to_owned).collect();
    let mut out: Vec<String> = Vec::new();
    let mut in_section = false;
    let mut found = false;
    for line in old.lines() {
        if let Some(name) = header(line) {
            in_section = name == profile;
            out.push(line.to_owned());
            if in_section && !found {
                found = true;
                out.extend(new_lines.iter().cloned());
            }
            continue;
        }
        if in_section
            && key_of(line).is_some_and(|k| {
                AUTH_KEYS.contains(&k.as_str()) || entries.iter().any(|(e, _)| *e == k)
            })
        {
            continue;
        }
        out.push(line.to_owned());
    }
    if !found {
        while out.last().is_some_and(|l| l.trim().is_empty()) {
            out.pop();
        }
        if !out.is_empty() {
            out.push(String::new());
        }
        out.extend(render(Some(profile), entries).lines().map(str::to_owned));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// `entries` as INI `key = value` lines, under a `[profile]` header when one is given.
///
/// Nothing is escaped: the client's reader (like the Databricks CLI's) parses with escapes
/// off, so a value is read back exactly as written only if it is written verbatim.
fn render(profile: Option<&str>, entries: &[(&str, String)]) -> String {
    let mut file = ini::Ini::new();
    {
        let mut section = file.with_section(profile);
        for (key, value) in entries {
            section.set(*key, value.as_str());
        }
    }
    let mut out = Vec::new();
    file.write_to_opt(
        &mut out,
        ini::WriteOption {
            escape_policy: ini::EscapePolicy::Nothing,
            line_separator: ini::LineSeparator::CR,
            kv_separator: " = ",
        },
    )
    .expect("writing to memory does not fail");
    String::from_utf8(out).expect("rust-ini writes the UTF-8 it was given")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_come_from_the_host() {
        let name = |h: &str| default_profile_name(&Url::parse(h).unwrap());
        assert_eq!(name("https://dbc-1234.cloud.databricks.com"), "dbc-1234");
        assert_eq!(name("http://127.0.0.1:8765"), "127-0-0-1-8765");
        assert_eq!(name("http://localhost:8765"), "localhost-8765");
        assert!(valid_profile_name("dev_1.x"));
        assert!(!valid_profile_name("a b"));
        assert!(!valid_profile_name("__settings__"));
        assert!(!valid_profile_name("[x]"));
    }

    #[test]
    fn a_new_profile_is_appended_and_others_are_untouched() {
        let old = "; my settings\n[DEFAULT]\nhost = https://a\ntoken = dapi1\n\n";
        let new = set_profile(
            old,
            "dev",
            &[
                ("host", "https://b".into()),
                ("auth_type", "databricks-cli".into()),
            ],
        );
        assert_eq!(
            new,
            "; my settings\n[DEFAULT]\nhost = https://a\ntoken = dapi1\n\n[dev]\nhost = https://b\nauth_type = databricks-cli\n"
        );
        assert_eq!(
            set_profile("", "dev", &[("host", "https://b".into())]),
            "[dev]\nhost = https://b\n"
        );
    }

    #[test]
    fn an_existing_profile_loses_its_old_auth_but_keeps_other_keys() {
        let old = "[dev]\nhost = https://old\ntoken = dapi-old\ncluster_id = c-1\n# note\nclient_secret: s\n[other]\ntoken = keep\n";
        let new = set_profile(
            old,
            "dev",
            &[
                ("host", "https://new".into()),
                ("auth_type", "databricks-cli".into()),
                ("client_id", "app".into()),
            ],
        );
        assert_eq!(
            new,
            "[dev]\nhost = https://new\nauth_type = databricks-cli\nclient_id = app\ncluster_id = c-1\n# note\n[other]\ntoken = keep\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_config_file_stays_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles-cfg");
        std::fs::write(&target, "[a]\nhost = https://a\n").unwrap();
        let link = dir.path().join(".databrickscfg");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_profile(&link, "b", &[("host", "https://b".into())]).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "[a]\nhost = https://a\n\n[b]\nhost = https://b\n"
        );
    }

    #[test]
    fn profiles_are_written_privately_and_read_back_by_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg");
        std::fs::write(&path, "[DEFAULT]\nhost = https://a\ntoken = t\n").unwrap();
        write_profile(
            &path,
            "dev",
            &[
                ("host", "https://b.example.com".into()),
                ("auth_type", "databricks-cli".into()),
            ],
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let resolved = brickwire_client::Config {
            profile: Some("dev".into()),
            config_file: Some(path.clone()),
            ..Default::default()
        }
        .resolve_with(&|_| None, Some(dir.path()))
        .unwrap();
        assert_eq!(resolved.host.as_deref(), Some("https://b.example.com"));
        assert_eq!(
            resolved.auth_type,
            Some(brickwire_client::config::AuthType::DatabricksCli)
        );
    }

    #[test]
    fn values_are_written_verbatim_for_a_reader_without_escapes() {
        assert_eq!(
            render(Some("p"), &[("client_id", r"a\b;c=d".into())]),
            "[p]\nclient_id = a\\b;c=d\n"
        );
        assert_eq!(
            render(None, &[("host", "https://h".into())]),
            "host = https://h\n"
        );
    }
}
