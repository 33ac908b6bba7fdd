//! OAuth scopes of the operator's app settings: mandatory ones the connector needs, additional
//! ones chosen from what Databricks offers, and custom ones typed in.
//!
//! [`ScopeSettings`] cannot be built without the mandatory scopes, and validates the other two
//! lists on the way in, so a stored setting is always one that can be sent.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Scopes the connector always requests. `offline_access` is what yields a refresh token, without
/// which a linked account dies when its first access token expires.
pub const MANDATORY_SCOPES: &[&str] = &["offline_access"];

/// The scopes Databricks offers for an OAuth app connection.
pub const OFFERED_SCOPES: &[&str] = &[
    "all-apis",
    "sql",
    "offline_access",
    "openid",
    "email",
    "profile",
];

/// The additional scopes of fresh settings.
pub const DEFAULT_ADDITIONAL_SCOPES: &[&str] = &["all-apis"];

const MAX_CUSTOM_SCOPES: usize = 32;
const MAX_SCOPE_LEN: usize = 128;

/// The scope lists of the app settings.
///
/// ```
/// use brickwire_service::scopes::ScopeSettings;
/// let scopes = ScopeSettings::new(vec!["sql".into()], vec!["unity-catalog".into()]).unwrap();
/// assert_eq!(scopes.mandatory(), ["offline_access"]);
/// assert_eq!(scopes.requested(), ["offline_access", "sql", "unity-catalog"]);
/// assert_eq!(scopes.scope_param(), "offline_access sql unity-catalog");
/// assert!(ScopeSettings::new(vec!["admin".into()], vec![]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeSettings {
    mandatory: Vec<String>,
    additional: Vec<String>,
    custom: Vec<String>,
}

impl Default for ScopeSettings {
    fn default() -> Self {
        Self::new(
            DEFAULT_ADDITIONAL_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Vec::new(),
        )
        .expect("the default scopes are valid")
    }
}

impl ScopeSettings {
    /// Settings with the connector's mandatory scopes plus `additional` (each one of
    /// [`OFFERED_SCOPES`]) and `custom` (each a valid RFC 6749 scope token). Duplicates are
    /// dropped; order is kept.
    pub fn new(additional: Vec<String>, custom: Vec<String>) -> Result<Self> {
        let mut clean_additional = Vec::new();
        for scope in additional {
            let scope = scope.trim().to_owned();
            if !OFFERED_SCOPES.contains(&scope.as_str()) {
                return Err(Error::invalid(
                    "scopes.additional",
                    format!(
                        "`{scope}` is not a scope Databricks offers; choose from {}, or add it \
                         as a custom scope",
                        OFFERED_SCOPES.join(", ")
                    ),
                ));
            }
            if !clean_additional.contains(&scope) {
                clean_additional.push(scope);
            }
        }
        if custom.len() > MAX_CUSTOM_SCOPES {
            return Err(Error::invalid(
                "scopes.custom",
                format!("at most {MAX_CUSTOM_SCOPES} custom scopes"),
            ));
        }
        let mut clean_custom = Vec::new();
        for scope in custom {
            let scope = scope.trim().to_owned();
            validate_scope_token(&scope)?;
            if !clean_custom.contains(&scope) {
                clean_custom.push(scope);
            }
        }
        Ok(Self {
            mandatory: MANDATORY_SCOPES.iter().map(|s| s.to_string()).collect(),
            additional: clean_additional,
            custom: clean_custom,
        })
    }

    /// The connector's scopes; always present.
    pub fn mandatory(&self) -> &[String] {
        &self.mandatory
    }

    /// The scopes chosen from [`OFFERED_SCOPES`].
    pub fn additional(&self) -> &[String] {
        &self.additional
    }

    /// The scopes typed in by the operator.
    pub fn custom(&self) -> &[String] {
        &self.custom
    }

    /// Every scope to request, mandatory first, without duplicates.
    pub fn requested(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for scope in self
            .mandatory
            .iter()
            .chain(&self.additional)
            .chain(&self.custom)
        {
            if !all.contains(scope) {
                all.push(scope.clone());
            }
        }
        all
    }

    /// The `scope` parameter of an authorization request (space-separated).
    pub fn scope_param(&self) -> String {
        self.requested().join(" ")
    }
}

/// The stored form: mandatory scopes are not trusted from storage but re-derived from the code,
/// so a connector that comes to need a new scope requests it without a data migration.
impl<'de> Deserialize<'de> for ScopeSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            #[serde(default)]
            additional: Vec<String>,
            #[serde(default)]
            custom: Vec<String>,
        }
        let stored = Stored::deserialize(deserializer)?;
        ScopeSettings::new(stored.additional, stored.custom).map_err(serde::de::Error::custom)
    }
}

/// Checks one custom scope against RFC 6749 section 3.3: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn validate_scope_token(scope: &str) -> Result<()> {
    if scope.is_empty() {
        return Err(Error::invalid("scopes.custom", "a scope cannot be empty"));
    }
    if scope.len() > MAX_SCOPE_LEN {
        return Err(Error::invalid(
            "scopes.custom",
            format!("a scope has at most {MAX_SCOPE_LEN} characters"),
        ));
    }
    if let Some(bad) = scope
        .chars()
        .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
    {
        return Err(Error::invalid(
            "scopes.custom",
            format!(
                "`{}` contains {bad:?}; a scope is printable ASCII without spaces, quotes or \
                 backslashes",
                scope.escape_debug()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_scopes_cannot_be_removed() {
        let scopes = ScopeSettings::new(vec![], vec![]).unwrap();
        assert_eq!(scopes.requested(), ["offline_access"]);
        // Even stored settings that lost them get them back.
        let stored: ScopeSettings =
            serde_json::from_str(r#"{"mandatory":[],"additional":["sql"]}"#).unwrap();
        assert_eq!(stored.mandatory(), ["offline_access"]);
        assert_eq!(stored.scope_param(), "offline_access sql");
    }

    #[test]
    fn additional_scopes_come_from_the_offered_list() {
        for scope in OFFERED_SCOPES {
            ScopeSettings::new(vec![scope.to_string()], vec![]).unwrap();
        }
        let err = ScopeSettings::new(vec!["clusters".into()], vec![]).unwrap_err();
        assert!(err.is_invalid_input());
        assert!(err.to_string().contains("custom scope"), "{err}");
    }

    #[test]
    fn custom_scopes_are_scope_tokens() {
        ScopeSettings::new(vec![], vec!["a:b/c.d-e_f".into(), "x!#[]~".into()]).unwrap();
        for bad in ["two words", "quo\"te", "back\\slash", "", "tab\there", "é"] {
            assert!(
                ScopeSettings::new(vec![], vec![bad.into()]).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(ScopeSettings::new(vec![], vec!["x".repeat(129)]).is_err());
        let many = (0..33).map(|i| format!("s{i}")).collect();
        assert!(ScopeSettings::new(vec![], many).is_err());
    }

    #[test]
    fn requested_scopes_are_deduplicated_in_order() {
        let scopes = ScopeSettings::new(
            vec!["offline_access".into(), "sql".into(), "sql".into()],
            vec!["sql".into(), "custom".into()],
        )
        .unwrap();
        assert_eq!(scopes.requested(), ["offline_access", "sql", "custom"]);
        assert_eq!(scopes.additional(), ["offline_access", "sql"]);
    }
}
