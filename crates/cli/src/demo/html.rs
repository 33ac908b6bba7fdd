//! Just enough HTML reading for the demo to do what a browser does on the connect page and the
//! consent page: find a form by id with its action, method and default field values, read an
//! element's attributes, and its visible text. Not a general HTML parser: it reads the markup the
//! service and the emulator write (quoted or bare attributes, entities, nested elements).

/// A form of a page: where it is sent and the fields a browser would send by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute as written (empty means the page's own URL).
    pub action: String,
    /// `GET` or `POST` (upper-case; `GET` when the attribute is absent, as in browsers).
    pub method: String,
    /// The successful controls: text and hidden inputs, checked radios and checkboxes.
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// Sets a field, replacing every value it had (radio groups included).
    pub fn set(&mut self, name: &str, value: &str) {
        self.fields.retain(|(n, _)| n != name);
        self.fields.push((name.to_owned(), value.to_owned()));
    }
}

/// One start tag: its name (lower-case), attributes, and where it starts and ends in the page.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    start: usize,
    end: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start tag of `html` from `from` on, in order; comments and end tags are skipped.
fn tags(html: &str, from: usize) -> impl Iterator<Item = Tag> + '_ {
    let mut pos = from;
    std::iter::from_fn(move || {
        loop {
            let open = pos + html.get(pos..)?.find('<')?;
            let rest = &html[open + 1..];
            if let Some(comment) = rest.strip_prefix("!--") {
                pos = open + 4 + comment.find("-->")? + 3;
                continue;
            }
            let close = open + 1 + rest.find('>')?;
            pos = close + 1;
            let inner = &html[open + 1..close];
            if !inner.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let inner = inner.trim_end_matches('/');
            let name_end = inner
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(inner.len());
            return Some(Tag {
                name: inner[..name_end].to_ascii_lowercase(),
                attrs: attributes(&inner[name_end..]),
                start: open,
                end: close + 1,
            });
        }
    })
}

/// Parses `a="x" b='y' c=z d` into pairs, names lower-cased, values unescaped.
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return out;
        }
        let name_end = s
            .find(|c: char| c.is_ascii_whitespace() || c == '=')
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start();
        let value = if let Some(after) = s.strip_prefix('=') {
            let after = after.trim_start();
            let (value, rest) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            s = rest;
            unescape(value)
        } else {
            String::new()
        };
        if !name.is_empty() {
            out.push((name, value));
        }
    }
}

/// Replaces the character references the servers write (`&amp;`, `&lt;`, `&#39;`, ...).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn by_id<'a>(html: &'a str, id: &'a str) -> Option<Tag> {
    tags(html, 0).find(|t| t.attr("id") == Some(id))
}

/// The attributes of the element with this `id`.
pub fn element_attributes(html: &str, id: &str) -> Option<Vec<(String, String)>> {
    by_id(html, id).map(|t| t.attrs)
}

/// Where the element that starts at `tag` ends (after its matching end tag; nested elements of
/// the same name are counted). A void or unclosed element ends at the end of the page.
fn element_end(html: &str, tag: &Tag) -> usize {
    let close = format!("</{}", tag.name);
    let lower = html.to_ascii_lowercase();
    let mut depth = 1usize;
    let mut pos = tag.end;
    loop {
        let next_close = lower[pos..].find(&close).map(|i| pos + i);
        let next_open = tags(html, pos)
            .find(|t| t.name == tag.name)
            .map(|t| (t.start, t.end));
        match (next_open, next_close) {
            (Some((open, open_end)), Some(close_at)) if open < close_at => {
                depth += 1;
                pos = open_end;
            }
            (_, Some(close_at)) => {
                depth -= 1;
                let after = lower[close_at..]
                    .find('>')
                    .map_or(html.len(), |i| close_at + i + 1);
                if depth == 0 {
                    return after;
                }
                pos = after;
            }
            (_, None) => return html.len(),
        }
    }
}

/// The visible text of the element with this `id`: tags dropped, entities decoded, whitespace
/// collapsed.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let tag = by_id(html, id)?;
    let end = element_end(html, &tag);
    Some(visible_text(&html[tag.end..end]))
}

/// The text of an HTML fragment: tags, scripts and styles dropped, whitespace collapsed.
pub fn visible_text(fragment: &str) -> String {
    let mut text = String::new();
    let mut rest = fragment;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let lower = rest[open..].to_ascii_lowercase();
        let skip_to = ["script", "style"]
            .iter()
            .find(|n| lower[1..].starts_with(*n))
            .and_then(|n| lower.find(&format!("</{n}")))
            .unwrap_or(0);
        match rest[open + skip_to..].find('>') {
            Some(close) => rest = &rest[open + skip_to + close + 1..],
            None => {
                rest = "";
            }
        }
    }
    text.push_str(rest);
    unescape(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The form with this `id`, with the values a browser would submit before anyone types.
pub fn form(html: &str, id: &str) -> Option<Form> {
    let tag = by_id(html, id).filter(|t| t.name == "form")?;
    let end = element_end(html, &tag);
    let mut fields = Vec::new();
    let body = &html[..end];
    for control in tags(body, tag.end) {
        let Some(name) = control.attr("name").filter(|n| !n.is_empty()) else {
            continue;
        };
        let value = control.attr("value").unwrap_or_default().to_owned();
        match control.name.as_str() {
            "input" => {
                let kind = control.attr("type").unwrap_or("text").to_ascii_lowercase();
                let checked = control.attr("checked").is_some();
                match kind.as_str() {
                    "submit" | "button" | "image" | "reset" | "file" => {}
                    "radio" | "checkbox" if !checked => {}
                    "radio" | "checkbox" if value.is_empty() => {
                        fields.push((name.into(), "on".into()))
                    }
                    _ => fields.push((name.into(), value)),
                }
            }
            "textarea" => {
                let text_end = element_end(html, &control);
                let inner = &html[control.end..text_end];
                let inner = inner.rfind("</").map_or(inner, |i| &inner[..i]);
                fields.push((name.into(), unescape(inner)));
            }
            _ => {}
        }
    }
    Some(Form {
        action: tag.attr("action").unwrap_or_default().to_owned(),
        method: tag.attr("method").unwrap_or("get").to_ascii_uppercase(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><body>
<!-- <form id="api-key-form" action="/wrong"> -->
<form id="api-key-form" method=post action="/connect/t0k&amp;en/api-key">
  <input type="hidden" name="csrf" value="a&quot;b">
  <label>URL <input name="workspace_url" value="https://x.cloud.databricks.com"></label>
  <input type=password name=token>
  <textarea name="note">one &lt;two&gt;</textarea>
  <button type="submit" id="api-key-submit">Link</button>
</form>
<form id='consent' method='POST' action='/oidc/v1/authorize'>
  <input type="radio" name="user_id" value="1"> admin
  <input type="radio" name="user_id" value="2" checked> dev
  <input type="checkbox" name="remember">
  <input type="submit" name="decision" value="allow">
</form>
<div id="result" data-status="error" data-linked-account-id="">
  <h1>Could not link</h1><div><p>Check that the scopes &amp; the <b>app connection</b> match.</p></div>
  <script>var x = "<p>not text</p>";</script>
</div><p>after</p>
</body></html>"#;

    #[test]
    fn a_form_has_its_action_method_and_default_fields() {
        let form = form(PAGE, "api-key-form").unwrap();
        assert_eq!(form.action, "/connect/t0k&en/api-key");
        assert_eq!(form.method, "POST");
        assert_eq!(
            form.fields,
            vec![
                ("csrf".to_owned(), "a\"b".to_owned()),
                (
                    "workspace_url".to_owned(),
                    "https://x.cloud.databricks.com".to_owned()
                ),
                ("token".to_owned(), String::new()),
                ("note".to_owned(), "one <two>".to_owned()),
            ]
        );
    }

    #[test]
    fn only_checked_radios_count_and_set_replaces_a_group() {
        let mut consent = form(PAGE, "consent").unwrap();
        assert_eq!(consent.fields, vec![("user_id".to_owned(), "2".to_owned())]);
        consent.set("user_id", "1");
        consent.set("decision", "allow");
        assert_eq!(
            consent.fields,
            vec![
                ("user_id".to_owned(), "1".to_owned()),
                ("decision".to_owned(), "allow".to_owned()),
            ]
        );
    }

    #[test]
    fn missing_forms_and_non_forms_are_none() {
        assert!(form(PAGE, "oauth-form").is_none());
        assert!(form(PAGE, "result").is_none());
        assert!(form("<form id=\"x\">", "x").is_some_and(|f| f.method == "GET"));
    }

    #[test]
    fn an_element_has_attributes_and_visible_text() {
        let attrs = element_attributes(PAGE, "result").unwrap();
        assert!(attrs.contains(&("data-status".to_owned(), "error".to_owned())));
        assert!(attrs.contains(&("data-linked-account-id".to_owned(), String::new())));
        assert_eq!(
            element_text(PAGE, "result").unwrap(),
            "Could not link Check that the scopes & the app connection match."
        );
    }

    #[test]
    fn unescape_decodes_named_and_numeric_references_and_keeps_stray_ampersands() {
        assert_eq!(
            unescape("a &amp; b &#39;c&#x27; &lt;&gt; & d &bogus;"),
            "a & b 'c' <> & d &bogus;"
        );
    }
}
