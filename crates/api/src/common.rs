//! Pieces every service model shares: the bag of unknown fields and the macro behind every
//! Databricks state or kind enum.
//!
//! Databricks adds fields and enum values without notice. Every response struct therefore keeps
//! what it does not know in an [`Extra`] map (`#[serde(flatten)]`) so a round trip loses nothing,
//! and every enum made with [`string_enum!`](crate::string_enum) has an `Other(String)` variant
//! that carries an unknown value through unchanged.

/// Fields this version of brickwire does not model, kept so they survive a round trip.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// Defines a string-valued Databricks enum that tolerates values it does not know.
///
/// The enum gets one variant per known wire value plus `Other(String)`, serializes as the bare
/// string, and implements `as_str`, `Display`, `FromStr` (infallible) and `From<&str>`. With
/// the `schemars` feature it also implements `JsonSchema`: a string whose `enum` lists the
/// known values (what a caller may send; `Other` is only for values Databricks sends back) and
/// whose description is the enum's doc comment (so only doc comments may precede `pub enum`).
///
/// ```
/// brickwire_api::string_enum! {
///     /// A colour.
///     pub enum Colour { Red = "RED", Green = "GREEN" }
/// }
/// let c: Colour = serde_json::from_str("\"BLUE\"").unwrap();
/// assert_eq!(c, Colour::Other("BLUE".into()));
/// assert_eq!(serde_json::to_string(&c).unwrap(), "\"BLUE\"");
/// assert_eq!(Colour::Red.as_str(), "RED");
/// assert_eq!(Colour::known("GREEN"), Some(Colour::Green));
/// assert_eq!(Colour::known("BLUE"), None);
/// assert_eq!(Colour::KNOWN_WIRE, ["RED", "GREEN"]);
/// ```
#[macro_export]
macro_rules! string_enum {
    (
        $(#[doc = $doc:literal])*
        pub enum $name:ident { $($variant:ident = $wire:literal),+ $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $wire, "`")]
                $variant,
            )+
            /// A value this version of brickwire does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every value this version knows, in declaration order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The wire spellings of [`KNOWN`](Self::KNOWN), in the same order.
            pub const KNOWN_WIRE: &'static [&'static str] = &[$($wire),+];

            /// The known value spelled `value`, or `None` (where [`From<&str>`] would give
            /// `Other`): for servers that refuse what they do not know.
            pub fn known(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s.as_str(),
                }
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($wire => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::__serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(s.as_ref()))
            }
        }

        $crate::__string_enum_schema! { $name [$($doc),*] [$($wire),+] }
    };
}

/// The `JsonSchema` of a [`string_enum!`](crate::string_enum) (feature `schemars`). A macro
/// of its own so the feature is decided when this crate is built, not in the crate that
/// invokes `string_enum!`.
#[cfg(feature = "schemars")]
#[doc(hidden)]
#[macro_export]
macro_rules! __string_enum_schema {
    ($name:ident [$($doc:literal),*] [$($wire:literal),+]) => {
        impl $crate::__schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schema_id() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(concat!(module_path!(), "::", stringify!($name)))
            }

            fn json_schema(_: &mut $crate::__schemars::SchemaGenerator) -> $crate::__schemars::Schema {
                let mut schema = $crate::__schemars::json_schema!({
                    "type": "string",
                    "enum": [$($wire),+],
                });
                let description = $crate::common::doc_text(&[$($doc),*]);
                if !description.is_empty() {
                    schema.insert("description".into(), description.into());
                }
                schema
            }
        }
    };
}

#[cfg(not(feature = "schemars"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __string_enum_schema {
    ($($anything:tt)*) => {};
}

/// Doc comment lines joined as `schemars` joins them: trimmed, one space between lines.
#[cfg(feature = "schemars")]
#[doc(hidden)]
pub fn doc_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `{key, value}` pair, the shape of Databricks tag lists.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value; absent means no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An empty response (`{}`) that still keeps anything the server did send.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Empty {
    /// Fields sent anyway.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    crate::string_enum! {
        /// Test enum.
        pub enum Fruit { Apple = "APPLE", Pear = "PEAR" }
    }

    #[test]
    fn known_and_unknown_values_round_trip() {
        let v: Vec<Fruit> = serde_json::from_str(r#"["APPLE","KIWI"]"#).unwrap();
        assert_eq!(v, vec![Fruit::Apple, Fruit::Other("KIWI".into())]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["APPLE","KIWI"]"#);
        assert_eq!("PEAR".parse::<Fruit>().unwrap(), Fruit::Pear);
        assert_eq!(Fruit::KNOWN.len(), 2);
    }

    #[test]
    fn known_refuses_what_from_keeps_as_other() {
        assert_eq!(Fruit::known("PEAR"), Some(Fruit::Pear));
        assert_eq!(Fruit::known("KIWI"), None);
        assert_eq!(Fruit::known("pear"), None);
        let wire: Vec<&str> = Fruit::KNOWN.iter().map(Fruit::as_str).collect();
        assert_eq!(Fruit::KNOWN_WIRE, wire.as_slice());
    }
}
