//! Notebook formats: the `SOURCE` text with its `Databricks notebook source` header and
//! `COMMAND ----------` cell separators, and Jupyter `.ipynb` documents.
//!
//! A notebook is stored as its language plus its source body (no header). An imported `.ipynb`
//! document is also kept verbatim so that a `JUPYTER` export returns exactly what was imported.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A notebook language, spelled as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Language {
    /// `PYTHON`
    Python,
    /// `SCALA`
    Scala,
    /// `SQL`
    Sql,
    /// `R`
    R,
}

impl Language {
    /// Parses the API spelling (`PYTHON`, `SCALA`, `SQL`, `R`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PYTHON" => Some(Self::Python),
            "SCALA" => Some(Self::Scala),
            "SQL" => Some(Self::Sql),
            "R" => Some(Self::R),
            _ => None,
        }
    }

    /// The language of a source file extension (`py`, `scala`, `sql`, `r`/`R`).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "py" => Some(Self::Python),
            "scala" => Some(Self::Scala),
            "sql" => Some(Self::Sql),
            "r" | "R" => Some(Self::R),
            _ => None,
        }
    }

    /// The extension a `SOURCE` export of this language carries (the `file_type`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Python => "py",
            Self::Scala => "scala",
            Self::Sql => "sql",
            Self::R => "r",
        }
    }

    /// The line-comment marker of the language.
    fn comment(self) -> &'static str {
        match self {
            Self::Python | Self::R => "#",
            Self::Scala => "//",
            Self::Sql => "--",
        }
    }

    /// The first line of a `SOURCE` notebook, e.g. `# Databricks notebook source`.
    pub fn header(self) -> String {
        format!("{} Databricks notebook source", self.comment())
    }

    fn separator(self) -> String {
        format!("\n\n{} COMMAND ----------\n\n", self.comment())
    }

    fn magic(self) -> String {
        format!("{} MAGIC ", self.comment())
    }

    fn jupyter_name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Scala => "scala",
            Self::Sql => "sql",
            Self::R => "r",
        }
    }
}

/// Whether `text` starts with the `SOURCE` notebook header of `language`.
pub fn has_header(language: Language, text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|first| first.trim_end() == language.header())
}

/// The source body without a leading notebook header, if there is one.
pub fn strip_header(language: Language, text: &str) -> String {
    if has_header(language, text) {
        match text.find('\n') {
            Some(i) => text[i + 1..].to_owned(),
            None => String::new(),
        }
    } else {
        text.to_owned()
    }
}

/// The `SOURCE` export of a notebook: header line, then the body.
pub fn to_source(language: Language, body: &str) -> String {
    format!("{}\n{}", language.header(), body)
}

/// Why an `.ipynb` document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JupyterError(String);

fn cell_text(cell: &Value) -> String {
    match cell.get("source") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Converts a Jupyter notebook to a Python `SOURCE` body: code cells as they are, markdown cells
/// as `# MAGIC %md` lines, cells joined by `# COMMAND ----------`.
pub fn jupyter_to_source(ipynb: &[u8]) -> Result<String, JupyterError> {
    let doc: Value = serde_json::from_slice(ipynb)
        .map_err(|e| JupyterError(format!("the content is not a valid Jupyter notebook: {e}")))?;
    let cells = doc
        .get("cells")
        .and_then(Value::as_array)
        .ok_or_else(|| JupyterError("the Jupyter notebook has no `cells` array".to_owned()))?;
    let language = Language::Python;
    let mut out = Vec::new();
    for cell in cells {
        let text = cell_text(cell);
        match cell.get("cell_type").and_then(Value::as_str) {
            Some("markdown") => {
                let mut lines = vec![format!("{}%md", language.magic())];
                lines.extend(text.lines().map(|l| format!("{}{l}", language.magic())));
                out.push(lines.join("\n"));
            }
            Some("code") => out.push(text.trim_end_matches('\n').to_owned()),
            _ => {}
        }
    }
    Ok(out.join(&language.separator()))
}

/// Builds an nbformat 4 document from a `SOURCE` body.
pub fn source_to_jupyter(language: Language, name: &str, body: &str) -> String {
    let magic_md = format!("{}%md", language.magic());
    let cells: Vec<Value> = body
        .split(&language.separator())
        .map(|cell| {
            let first = cell.lines().next().unwrap_or_default();
            if first.trim_end() == magic_md {
                let text: Vec<&str> = cell
                    .lines()
                    .skip(1)
                    .map(|l| {
                        l.strip_prefix(&language.magic())
                            .or_else(|| l.strip_prefix(language.magic().trim_end()))
                            .unwrap_or(l)
                    })
                    .collect();
                json!({"cell_type": "markdown", "metadata": {}, "source": lines(&text.join("\n"))})
            } else {
                json!({
                    "cell_type": "code",
                    "execution_count": null,
                    "metadata": {},
                    "outputs": [],
                    "source": lines(cell),
                })
            }
        })
        .collect();
    let doc = json!({
        "cells": cells,
        "metadata": {
            "application/vnd.databricks.v1+notebook": {
                "language": language.jupyter_name(),
                "notebookName": name,
            },
            "language_info": {"name": language.jupyter_name()},
        },
        "nbformat": 4,
        "nbformat_minor": 0,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Jupyter keeps source as a list of lines, each but the last ending in `\n`.
fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_stripped_once() {
        let text = "# Databricks notebook source\nprint(1)";
        assert_eq!(strip_header(Language::Python, text), "print(1)");
        assert_eq!(strip_header(Language::Python, "print(1)"), "print(1)");
        assert_eq!(
            strip_header(Language::Sql, "-- Databricks notebook source\nSELECT 1"),
            "SELECT 1"
        );
    }

    #[test]
    fn jupyter_converts_both_ways() {
        let nb = json!({"cells": [
            {"cell_type": "markdown", "source": ["# Title\n", "text"]},
            {"cell_type": "code", "source": "print(1)\n"},
        ], "nbformat": 4});
        let body = jupyter_to_source(nb.to_string().as_bytes()).unwrap();
        assert_eq!(
            body,
            "# MAGIC %md\n# MAGIC # Title\n# MAGIC text\n\n# COMMAND ----------\n\nprint(1)"
        );
        let back: Value =
            serde_json::from_str(&source_to_jupyter(Language::Python, "n", &body)).unwrap();
        assert_eq!(back["cells"][0]["cell_type"], "markdown");
        assert_eq!(back["cells"][0]["source"], json!(["# Title\n", "text"]));
        assert_eq!(back["cells"][1]["source"], json!(["print(1)"]));
    }

    #[test]
    fn invalid_jupyter_is_an_error() {
        assert!(jupyter_to_source(b"not json").is_err());
        assert!(jupyter_to_source(b"{}").is_err());
    }
}
