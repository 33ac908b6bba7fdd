//! Spark function spellings DataFusion lacks, rewritten before planning.
//!
//! `date_format(ts, 'yyyy-MM-dd')`: DataFusion's closest relative, `to_char`, takes chrono `%`
//! patterns, so calls with a literal pattern become `to_char` with the pattern translated.
//! `array(...)` becomes `make_array(...)` and `explode(x)` becomes `unnest(x)`.

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, Value,
};

/// Translates a Spark datetime pattern into a chrono format string.
///
/// Letters not listed are kept literally; text in single quotes is literal; `''` is a quote.
pub fn spark_to_chrono(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        let mut run = 1;
        while chars.get(i + run) == Some(&c) {
            run += 1;
        }
        let spec = match (c, run) {
            ('y', 2) => Some("%y"),
            ('y', _) => Some("%Y"),
            ('M', 1) => Some("%-m"),
            ('M', 2) => Some("%m"),
            ('M', 3) => Some("%b"),
            ('M', _) => Some("%B"),
            ('d', 1) => Some("%-d"),
            ('d', _) => Some("%d"),
            ('D', _) => Some("%j"),
            ('H', 1) => Some("%-H"),
            ('H', _) => Some("%H"),
            ('h', 1) => Some("%-I"),
            ('h', _) => Some("%I"),
            ('m', 1) => Some("%-M"),
            ('m', _) => Some("%M"),
            ('s', 1) => Some("%-S"),
            ('s', _) => Some("%S"),
            ('S', 1..=3) => Some("%3f"),
            ('S', 4..=6) => Some("%6f"),
            ('S', _) => Some("%9f"),
            ('a', _) => Some("%p"),
            ('E', 1..=3) => Some("%a"),
            ('E', _) => Some("%A"),
            ('Z', _) => Some("%z"),
            ('X' | 'x', 1 | 2) => Some("%z"),
            ('X' | 'x', _) => Some("%:z"),
            _ => None,
        };
        match spec {
            Some(s) => out.push_str(s),
            None => {
                for _ in 0..run {
                    push_literal(&mut out, c);
                }
            }
        }
        i += run;
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Rewrites Spark function calls DataFusion spells differently, in place.
pub fn rewrite_spark_functions(expr: &mut Expr) {
    let Expr::Function(f) = expr else {
        return;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    match name.as_str() {
        "array" => f.name = ObjectName::from(vec![Ident::new("make_array")]),
        "explode" => f.name = ObjectName::from(vec![Ident::new("unnest")]),
        _ => {}
    }
    if name != "date_format" {
        return;
    }
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    if list.args.len() != 2 {
        return;
    }
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) = &mut list.args[1] else {
        return;
    };
    let Value::SingleQuotedString(pattern) = &v.value else {
        return;
    };
    v.value = Value::SingleQuotedString(spark_to_chrono(pattern));
    f.name = ObjectName::from(vec![Ident::new("to_char")]);
}

#[cfg(test)]
mod tests {
    use super::spark_to_chrono;

    #[test]
    fn translates_common_patterns() {
        assert_eq!(spark_to_chrono("yyyy-MM-dd"), "%Y-%m-%d");
        assert_eq!(
            spark_to_chrono("yyyy-MM-dd HH:mm:ss.SSS"),
            "%Y-%m-%d %H:%M:%S.%3f"
        );
        assert_eq!(spark_to_chrono("dd MMM yy"), "%d %b %y");
        assert_eq!(spark_to_chrono("EEEE, MMMM d"), "%A, %B %-d");
        assert_eq!(spark_to_chrono("hh:mm a"), "%I:%M %p");
        assert_eq!(spark_to_chrono("yyyy'T'HH'%'''"), "%YT%H%%'");
    }
}
