//! HTML escaping for the server-rendered pages of the service, the CLI's login callback and the
//! emulator's OAuth pages: one escaper so the three cannot drift apart.

/// Escapes text for HTML element content and quoted attribute values.
///
/// Escapes `&`, `<`, `>`, `"` and `'`, which is enough for text between tags and for attribute
/// values in either kind of quotes; everything else passes through unchanged.
///
/// ```
/// use brickwire_api::html::escape_html;
///
/// assert_eq!(escape_html("a < b & 'c'"), "a &lt; b &amp; &#39;c&#39;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            escape_html(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        assert_eq!(
            escape_html("plain text, ünïcode & 1"),
            "plain text, ünïcode &amp; 1"
        );
        assert_eq!(escape_html(""), "");
    }

    #[test]
    fn escapes_an_existing_entity_again() {
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }
}
