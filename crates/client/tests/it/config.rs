//! Configuration resolution: precedence, profiles, the auth-method rules, host normalisation,
//! number parsing and secret redaction. No network: environment and home are injected.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use brickwire_client::config::{AuthType, ResolvedConfig, Source, normalize_host};
use brickwire_client::{Config, Error, SecretString};

/// A fake home directory with an optional `.databrickscfg`, and a fake environment.
struct World {
    home: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl World {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            env: HashMap::new(),
        }
    }

    fn with_file(self, text: &str) -> Self {
        std::fs::write(self.home.path().join(".databrickscfg"), text).unwrap();
        self
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    fn cfg_path(&self) -> PathBuf {
        self.home.path().join(".databrickscfg")
    }

    fn resolve(&self, config: &Config) -> Result<ResolvedConfig, Error> {
        let env = |name: &str| self.env.get(name).cloned();
        config.resolve_with(&env, Some(self.home.path()))
    }

    fn resolve_default(&self) -> Result<ResolvedConfig, Error> {
        self.resolve(&Config::default())
    }
}

fn config_error(result: Result<ResolvedConfig, Error>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        Err(other) => panic!("expected a config error, got {other:?}"),
        Ok(resolved) => panic!("expected a config error, got {resolved:?}"),
    }
}

const PROFILES: &str = "\
; a comment
# another comment
[DEFAULT]
host = https://default.cloud.databricks.com
token = dapi-default

[dev]
host = dev.cloud.databricks.com
token = dapi-dev
cluster_id = 0101-dev
Warehouse_ID: wh-dev

[m2m]
host = https://m2m.cloud.databricks.com
client_id = sp-id
client_secret = sp-secret
";

#[test]
fn explicit_beats_env_beats_profile() {
    let world = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_CONFIG_PROFILE", "dev")
        .env("DATABRICKS_TOKEN", "dapi-env")
        .env("DATABRICKS_CLUSTER_ID", "0101-env");
    let explicit = Config {
        host: Some("https://explicit.cloud.databricks.com".into()),
        ..Config::default()
    };
    let resolved = world.resolve(&explicit).unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://explicit.cloud.databricks.com")
    );
    assert_eq!(resolved.token.as_ref().unwrap().expose_secret(), "dapi-env");
    assert_eq!(resolved.cluster_id.as_deref(), Some("0101-env"));
    assert_eq!(resolved.warehouse_id.as_deref(), Some("wh-dev"));
    assert_eq!(resolved.profile.as_deref(), Some("dev"));
    assert_eq!(
        resolved.config_file.as_deref(),
        Some(world.cfg_path().as_path())
    );
    assert_eq!(resolved.source("host"), Some(&Source::Explicit));
    assert_eq!(
        resolved.source("token"),
        Some(&Source::Env("DATABRICKS_TOKEN"))
    );
    assert_eq!(
        resolved.source("warehouse_id"),
        Some(&Source::Profile {
            profile: "dev".into(),
            file: world.cfg_path()
        })
    );
    assert_eq!(resolved.auth_type, Some(AuthType::Pat));
}

#[test]
fn explicit_profile_beats_env_profile() {
    let world = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_CONFIG_PROFILE", "dev");
    let resolved = world
        .resolve(&Config {
            profile: Some("m2m".into()),
            ..Config::default()
        })
        .unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://m2m.cloud.databricks.com")
    );
    assert_eq!(resolved.auth_type, Some(AuthType::OAuthM2m));
}

#[test]
fn default_profile_is_the_fallback_when_nothing_is_configured() {
    let world = World::new().with_file(PROFILES);
    let resolved = world.resolve_default().unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://default.cloud.databricks.com")
    );
    assert_eq!(
        resolved.token.as_ref().unwrap().expose_secret(),
        "dapi-default"
    );
    // The SDK records the profile only when it was chosen by name.
    assert_eq!(resolved.profile, None);
    // DEFAULT values are not merged into named profiles.
    let dev = World::new()
        .with_file("[DEFAULT]\ncluster_id = from-default\n[dev]\nhost = h.cloud.databricks.com\n")
        .env("DATABRICKS_CONFIG_PROFILE", "dev")
        .resolve_default()
        .unwrap();
    assert_eq!(dev.cluster_id, None);
}

#[test]
fn settings_default_profile_picks_the_profile() {
    let text = format!("[__settings__]\ndefault_profile = dev\n\n{PROFILES}");
    let world = World::new().with_file(&text);
    let resolved = world.resolve_default().unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://dev.cloud.databricks.com")
    );
    assert_eq!(resolved.profile.as_deref(), Some("dev"));

    // A named default profile that does not exist is an error, not a silent fallback.
    let missing =
        World::new().with_file("[__settings__]\ndefault_profile = gone\n[DEFAULT]\nhost = x\n");
    let message = config_error(missing.resolve_default());
    assert!(message.contains("`gone`"), "{message}");

    let reserved = World::new().with_file("[__settings__]\ndefault_profile = __settings__\n");
    assert!(config_error(reserved.resolve_default()).contains("reserved"));
}

#[test]
fn missing_named_profile_names_profile_and_file() {
    let world = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_CONFIG_PROFILE", "staging");
    let message = config_error(world.resolve_default());
    assert!(message.contains("`staging`"), "{message}");
    assert!(
        message.contains(&world.cfg_path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("DEFAULT, dev, m2m"), "{message}");

    let no_file = World::new().env("DATABRICKS_CONFIG_PROFILE", "dev");
    let message = config_error(no_file.resolve_default());
    assert!(
        message.contains("`dev`") && message.contains("does not exist"),
        "{message}"
    );

    let reserved = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_CONFIG_PROFILE", "__settings__");
    assert!(config_error(reserved.resolve_default()).contains("reserved"));
}

#[test]
fn no_file_and_no_profile_is_not_an_error() {
    let resolved = World::new().resolve_default().unwrap();
    assert_eq!(resolved.host, None);
    assert_eq!(resolved.auth_type, None);
    assert_eq!(resolved.config_file, None);
    // A file without DEFAULT and without a named profile contributes nothing.
    let resolved = World::new()
        .with_file("[dev]\nhost = dev.cloud.databricks.com\n")
        .resolve_default()
        .unwrap();
    assert_eq!(resolved.host, None);
}

#[test]
fn profile_is_read_only_when_needed() {
    // A host from the environment: the file is not read, so its token is not used.
    let world = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_HOST", "env.cloud.databricks.com");
    let resolved = world.resolve_default().unwrap();
    assert_eq!(resolved.config_file, None);
    assert_eq!(resolved.token, None);
    assert_eq!(resolved.auth_type, None);

    // An auth attribute alone also skips the file (so no host).
    let world = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_TOKEN", "dapi-env");
    let resolved = world.resolve_default().unwrap();
    assert_eq!(resolved.host, None);
    assert_eq!(resolved.config_file, None);

    // Explicit settings count too.
    let resolved = World::new()
        .with_file(PROFILES)
        .resolve(&Config {
            client_id: Some("id".into()),
            ..Config::default()
        })
        .unwrap();
    assert_eq!(resolved.host, None);

    // Non-auth attributes do not stop the fallback.
    let resolved = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_WAREHOUSE_ID", "wh")
        .resolve_default()
        .unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://default.cloud.databricks.com")
    );

    // Naming a profile reads the file even with a host set.
    let resolved = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_HOST", "env.cloud.databricks.com")
        .env("DATABRICKS_CONFIG_PROFILE", "dev")
        .resolve_default()
        .unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://env.cloud.databricks.com")
    );
    assert_eq!(resolved.token.unwrap().expose_secret(), "dapi-dev");
}

#[test]
fn config_file_location_from_env_and_tilde() {
    let world = World::new();
    std::fs::write(
        world.home.path().join("other.cfg"),
        "[DEFAULT]\nhost = other.cloud.databricks.com\n",
    )
    .unwrap();
    let world = world.env("DATABRICKS_CONFIG_FILE", "~/other.cfg");
    let resolved = world.resolve_default().unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://other.cloud.databricks.com")
    );
    assert_eq!(
        resolved.config_file.as_deref(),
        Some(world.home.path().join("other.cfg").as_path())
    );
    // Without a home there is no default file.
    let env = |_: &str| None;
    let resolved = Config::default().resolve_with(&env, None).unwrap();
    assert_eq!(resolved.config_file, None);
}

#[test]
fn empty_env_values_are_ignored() {
    let world = World::new()
        .with_file(PROFILES)
        .env("DATABRICKS_HOST", "")
        .env("DATABRICKS_TOKEN", "  ");
    let resolved = world.resolve_default().unwrap();
    assert_eq!(
        resolved.host.as_deref(),
        Some("https://default.cloud.databricks.com")
    );
}

#[test]
fn two_auth_methods_without_auth_type_is_an_error() {
    let world = World::new()
        .env("DATABRICKS_HOST", "h.cloud.databricks.com")
        .env("DATABRICKS_TOKEN", "dapi-env")
        .env("DATABRICKS_CLIENT_ID", "sp-id");
    let message = config_error(world.resolve_default());
    assert!(
        message.contains("more than one authorization method configured: oauth and pat"),
        "{message}"
    );
    assert!(message.contains("DATABRICKS_TOKEN"), "{message}");
    assert!(!message.contains("dapi-env"), "{message}");

    // Across sources: explicit basic + a named profile with M2M.
    let world = World::new().with_file(PROFILES);
    let message = config_error(world.resolve(&Config {
        profile: Some("m2m".into()),
        username: Some("me".into()),
        password: Some(SecretString::new("pw-secret")),
        ..Config::default()
    }));
    assert!(
        message.contains("more than one authorization method configured: basic and oauth"),
        "{message}"
    );
    assert!(!message.contains("pw-secret") && !message.contains("sp-secret"));
}

#[test]
fn auth_type_forces_one_method() {
    let world = World::new()
        .env("DATABRICKS_HOST", "h.cloud.databricks.com")
        .env("DATABRICKS_TOKEN", "dapi-env")
        .env("DATABRICKS_CLIENT_ID", "sp-id")
        .env("DATABRICKS_CLIENT_SECRET", "sp-secret");
    let m2m = world
        .resolve(&Config {
            auth_type: Some("oauth-m2m".into()),
            ..Config::default()
        })
        .unwrap();
    assert_eq!(m2m.auth_type, Some(AuthType::OAuthM2m));
    assert_eq!(m2m.credentials().unwrap().auth_type(), "oauth-m2m");

    let pat = world
        .clone_with("DATABRICKS_AUTH_TYPE", "pat")
        .resolve_default()
        .unwrap();
    assert_eq!(pat.credentials().unwrap().auth_type(), "pat");

    // Forced but incomplete.
    let message = config_error(
        World::new()
            .env("DATABRICKS_HOST", "h.cloud.databricks.com")
            .env("DATABRICKS_CLIENT_ID", "sp-id")
            .env("DATABRICKS_AUTH_TYPE", "oauth-m2m")
            .resolve_default(),
    );
    assert!(message.contains("needs client_secret"), "{message}");

    // Unknown.
    let message = config_error(world.resolve(&Config {
        auth_type: Some("azure-cli".into()),
        ..Config::default()
    }));
    assert!(message.contains("`azure-cli`"), "{message}");
    for supported in ["pat", "oauth-m2m", "basic", "external-browser"] {
        assert!(message.contains(supported), "{message}");
    }
}

impl World {
    fn clone_with(&self, name: &str, value: &str) -> World {
        let mut env = self.env.clone();
        env.insert(name.to_owned(), value.to_owned());
        World {
            home: tempfile::tempdir().unwrap(),
            env,
        }
    }
}

#[test]
fn implied_auth_types() {
    let resolve = |config: Config| World::new().resolve(&config).unwrap();
    let host = || Some("h.cloud.databricks.com".to_owned());
    let basic = resolve(Config {
        host: host(),
        username: Some("me".into()),
        password: Some(SecretString::new("pw")),
        ..Config::default()
    });
    assert_eq!(basic.auth_type, Some(AuthType::Basic));
    assert_eq!(basic.credentials().unwrap().auth_type(), "basic");

    // client_id alone implies nothing, and building a client says what is missing.
    let half = resolve(Config {
        host: host(),
        client_id: Some("id".into()),
        ..Config::default()
    });
    assert_eq!(half.auth_type, None);
    let message = half.client().unwrap_err().to_string();
    assert!(message.contains("client_secret"), "{message}");

    let nothing = resolve(Config {
        host: host(),
        ..Config::default()
    });
    let message = nothing.client().unwrap_err().to_string();
    assert!(
        message.contains("no authentication configured"),
        "{message}"
    );

    let u2m = resolve(Config {
        host: host(),
        auth_type: Some("oauth-u2m".into()),
        ..Config::default()
    });
    assert_eq!(u2m.auth_type, Some(AuthType::ExternalBrowser));
    let message = u2m.client().unwrap_err().to_string();
    assert!(message.contains("oauth_refresh_credentials"), "{message}");
}

#[test]
fn host_normalisation_table() {
    let ok = [
        (
            "dbc-1234.cloud.databricks.com",
            "https://dbc-1234.cloud.databricks.com",
        ),
        (
            "https://dbc-1234.cloud.databricks.com/",
            "https://dbc-1234.cloud.databricks.com",
        ),
        (
            "https://dbc-1234.cloud.databricks.com:443",
            "https://dbc-1234.cloud.databricks.com",
        ),
        (
            "dbc-1234.cloud.databricks.com:443/",
            "https://dbc-1234.cloud.databricks.com",
        ),
        (
            "  https://DBC-1234.Cloud.Databricks.com  ",
            "https://dbc-1234.cloud.databricks.com",
        ),
        (
            "adb-123456789.7.azuredatabricks.net",
            "https://adb-123456789.7.azuredatabricks.net",
        ),
        (
            "https://1234567890.1.gcp.databricks.com",
            "https://1234567890.1.gcp.databricks.com",
        ),
        (
            "https://accounts.cloud.databricks.com",
            "https://accounts.cloud.databricks.com",
        ),
        (
            "https://adb-1.2.azuredatabricks.net/?o=1#job/3",
            "https://adb-1.2.azuredatabricks.net",
        ),
        ("https://h.example.com:8443", "https://h.example.com:8443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:3000/", "http://127.0.0.1:3000"),
        ("http://127.1.2.3:3000", "http://127.1.2.3:3000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:443", "http://localhost:443"),
    ];
    for (raw, want) in ok {
        assert_eq!(normalize_host(raw).as_deref(), Ok(want), "{raw}");
    }
    let bad = [
        ("http://dbc-1234.cloud.databricks.com", "plain http"),
        ("http://10.0.0.1:8080", "plain http"),
        ("http://[::2]:80", "plain http"),
        ("ftp://dbc-1234.cloud.databricks.com", "scheme `ftp`"),
        ("not a host!!", "not a valid"),
        ("https://", "not a valid"),
        (
            "https://user:pw@h.cloud.databricks.com",
            "user name or password",
        ),
        ("https://h.cloud.databricks.com/api/2.0", "has a path"),
        ("", "empty"),
    ];
    for (raw, want) in bad {
        let message = normalize_host(raw).unwrap_err();
        assert!(message.starts_with("host:"), "{raw}: {message}");
        assert!(message.contains(want), "{raw}: {message}");
        assert!(!message.contains("pw@"), "{message}");
    }
}

#[test]
fn bad_host_in_config_names_host_and_source() {
    let world = World::new().env("DATABRICKS_HOST", "http://dbc-1.cloud.databricks.com");
    let message = config_error(world.resolve_default());
    assert!(message.starts_with("host:"), "{message}");
    assert!(message.contains("DATABRICKS_HOST"), "{message}");
    let message = config_error(World::new().resolve(&Config {
        host: Some("::::".into()),
        ..Config::default()
    }));
    assert!(message.starts_with("host:"), "{message}");
}

#[test]
fn bad_numbers_name_the_field() {
    let cases: [(&str, &str); 6] = [
        ("rate_limit = abc", "rate_limit"),
        ("rate_limit = 0", "rate_limit"),
        ("http_timeout_seconds = -1", "http_timeout_seconds"),
        ("retry_timeout_seconds = soon", "retry_timeout_seconds"),
        ("http_timeout_seconds = NaN", "http_timeout_seconds"),
        ("skip_verify = maybe", "skip_verify"),
    ];
    for (line, field) in cases {
        let world = World::new().with_file(&format!(
            "[DEFAULT]\nhost = h.cloud.databricks.com\n{line}\n"
        ));
        let message = config_error(world.resolve_default());
        assert!(message.starts_with(field), "{line}: {message}");
        assert!(message.contains("profile DEFAULT"), "{line}: {message}");
    }
    let message = config_error(
        World::new()
            .env("DATABRICKS_RATE_LIMIT", "fast")
            .resolve_default(),
    );
    assert!(
        message.starts_with("rate_limit") && message.contains("DATABRICKS_RATE_LIMIT"),
        "{message}"
    );
    let message = config_error(World::new().resolve(&Config {
        rate_limit: Some(f64::NAN),
        ..Config::default()
    }));
    assert!(message.starts_with("rate_limit"), "{message}");
    let message = config_error(World::new().resolve(&Config {
        http_timeout: Some(Duration::ZERO),
        ..Config::default()
    }));
    assert!(message.starts_with("http_timeout_seconds"), "{message}");
}

#[test]
fn numbers_scopes_and_defaults() {
    let defaults = World::new()
        .env("DATABRICKS_HOST", "h.cloud.databricks.com")
        .resolve_default()
        .unwrap();
    assert_eq!(defaults.http_timeout, Duration::from_secs(60));
    assert_eq!(defaults.retry_timeout, Duration::from_secs(300));
    assert_eq!(defaults.rate_limit, Some(15.0));
    assert_eq!(defaults.scopes, vec!["all-apis".to_owned()]);
    assert!(!defaults.skip_verify);

    let world = World::new().with_file(
        "[DEFAULT]\nhost = h.cloud.databricks.com\nhttp_timeout_seconds = 2.5\n\
         retry_timeout_seconds = 30\nrate_limit = 4\nscopes = sql, all-apis sql\n\
         skip_verify = true\ndiscovery_url = https://idp.example.com/.well-known/x\n\
         some_other_tool_key = ignored\n",
    );
    let resolved = world.resolve_default().unwrap();
    assert_eq!(resolved.http_timeout, Duration::from_millis(2500));
    assert_eq!(resolved.retry_timeout, Duration::from_secs(30));
    assert_eq!(resolved.rate_limit, Some(4.0));
    assert_eq!(
        resolved.scopes,
        vec!["all-apis".to_owned(), "sql".to_owned()]
    );
    assert!(resolved.skip_verify);
    assert_eq!(
        resolved.discovery_url.as_ref().map(|u| u.as_str()),
        Some("https://idp.example.com/.well-known/x")
    );
    let options = resolved.client_options();
    assert_eq!(options.http_timeout, Duration::from_millis(2500));
    assert_eq!(options.retry_timeout, Duration::from_secs(30));
    assert_eq!(options.rate_limit, Some(4.0));

    let bad = World::new().env("DATABRICKS_DISCOVERY_URL", "not a url");
    assert!(config_error(bad.resolve_default()).starts_with("discovery_url"));
}

#[test]
fn client_from_config() {
    let world = World::new().with_file(PROFILES);
    let resolved = world
        .resolve(&Config {
            profile: Some("dev".into()),
            http_timeout: Some(Duration::from_secs(7)),
            ..Config::default()
        })
        .unwrap();
    let client = resolved.client().unwrap();
    assert_eq!(client.host().as_str(), "https://dev.cloud.databricks.com/");
    assert_eq!(client.options().http_timeout, Duration::from_secs(7));

    // No host: a clear error.
    let message = World::new()
        .resolve(&Config {
            token: Some(SecretString::new("dapi-x")),
            ..Config::default()
        })
        .unwrap()
        .client()
        .unwrap_err()
        .to_string();
    assert!(message.contains("host is not configured"), "{message}");
}

#[tokio::test]
async fn pat_provider_from_config_sends_the_token() {
    let resolved = World::new()
        .resolve(&Config {
            host: Some("h.cloud.databricks.com".into()),
            token: Some(SecretString::new("dapi-123")),
            ..Config::default()
        })
        .unwrap();
    let header = resolved
        .credentials()
        .unwrap()
        .authorization(None)
        .await
        .unwrap();
    assert_eq!(header.expose_secret(), "Bearer dapi-123");
}

#[test]
fn debug_never_shows_secrets() {
    let config = Config {
        host: Some("h.cloud.databricks.com".into()),
        token: Some(SecretString::new("dapi-SECRET1")),
        client_id: Some("id".into()),
        client_secret: Some(SecretString::new("SECRET2")),
        username: Some("me".into()),
        password: Some(SecretString::new("SECRET3")),
        auth_type: Some("pat".into()),
        ..Config::default()
    };
    let resolved = World::new().resolve(&config).unwrap();
    let credentials = resolved.credentials().unwrap();
    let m2m = World::new()
        .resolve(&Config {
            auth_type: Some("oauth-m2m".into()),
            ..config.clone()
        })
        .unwrap()
        .credentials()
        .unwrap();
    let basic = World::new()
        .resolve(&Config {
            auth_type: Some("basic".into()),
            ..config.clone()
        })
        .unwrap()
        .credentials()
        .unwrap();
    let printed = format!("{config:?} {resolved:?} {credentials:?} {m2m:?} {basic:?}");
    for secret in ["SECRET1", "SECRET2", "SECRET3", "bWU6U0VDUkVUMw"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    assert!(printed.contains("[redacted]"));
}
