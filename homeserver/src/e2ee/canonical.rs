//! Matrix canonical JSON: object keys sorted by code point, no insignificant whitespace, strings
//! with only the escapes JSON requires. Signatures are made and checked over this form.

use serde_json::Value;

/// The canonical JSON text of `value`. Keys are sorted here, whatever order the map keeps them
/// in (serde_json's `preserve_order` feature would otherwise leak the client's order).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The canonical text of a signed object without its `signatures` and `unsigned` fields: what
/// an ed25519 signature of it covers.
pub fn signable(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut map = map.clone();
            map.remove("signatures");
            map.remove("unsigned");
            canonical_json(&Value::Object(map))
        }
        other => canonical_json(other),
    }
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers print the same way in every form.
        other => out.push_str(&other.to_string()),
    }
}

/// serde_json escapes exactly what canonical JSON asks for: `"`, `\`, and control characters
/// (`\b \f \n \r \t` short, the rest as `\u00XX`), leaving all other characters as UTF-8.
fn write_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sorted_compact_and_unescaped() {
        let value: Value = serde_json::from_str(
            r#"{"b": 1, "a": {"z": [1, "\u00e9\n"], "y": null}, "\u65e5": true}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&value),
            "{\"a\":{\"y\":null,\"z\":[1,\"\u{e9}\\n\"]},\"b\":1,\"\u{65e5}\":true}"
        );
    }

    #[test]
    fn signable_drops_signatures_and_unsigned() {
        let value: Value =
            serde_json::from_str(r#"{"k": "v", "signatures": {}, "unsigned": {"x": 1}}"#).unwrap();
        assert_eq!(signable(&value), r#"{"k":"v"}"#);
    }

    #[test]
    fn matches_the_spec_examples() {
        let value: Value = serde_json::from_str(r#"{"one": 1, "two": "Two"}"#).unwrap();
        assert_eq!(canonical_json(&value), r#"{"one":1,"two":"Two"}"#);
        let value: Value = serde_json::from_str(r#"{"a": "\u0000"}"#).unwrap();
        assert_eq!(canonical_json(&value), r#"{"a":"\u0000"}"#);
    }
}
