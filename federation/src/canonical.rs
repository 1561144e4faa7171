//! Matrix canonical JSON: object keys sorted by code point, no insignificant whitespace, strings
//! with only the escapes JSON requires. Signatures are made and checked over this form.
//!
//! Numbers: canonical JSON as Matrix defines it has integers only, in the range a double holds
//! exactly (`-(2^53 - 1)` to `2^53 - 1`). [`canonical_json`] prints whatever number it is given
//! the way serde_json does (it is used to check client signatures over objects that were already
//! accepted); [`try_canonical_json`] and [`try_signable`] refuse fractions, exponents and
//! out-of-range integers, and are what the federation protocol signs and verifies with.

use serde_json::Value;

/// The largest integer canonical JSON allows: `2^53 - 1`.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A value that has no canonical JSON form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    /// A number is a fraction, has an exponent, or lies outside `-(2^53 - 1)..=2^53 - 1`.
    #[error("canonical JSON allows only integers between -(2^53 - 1) and 2^53 - 1")]
    Number,
}

/// The canonical JSON text of `value`, refusing numbers canonical JSON does not allow.
pub fn try_canonical_json(value: &Value) -> Result<String, CanonicalError> {
    check_numbers(value)?;
    Ok(canonical_json(value))
}

/// [`signable`], refusing numbers canonical JSON does not allow.
pub fn try_signable(value: &Value) -> Result<String, CanonicalError> {
    check_numbers(value)?;
    Ok(signable(value))
}

fn check_numbers(value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => Ok(()),
            _ => Err(CanonicalError::Number),
        },
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(map) => map.values().try_for_each(check_numbers),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

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
    fn strict_forms_refuse_fractions_and_huge_integers() {
        for text in [
            r#"{"a": 1.5}"#,
            r#"{"a": [1e3]}"#,
            r#"{"a": 9007199254740992}"#,
            r#"-9007199254740992"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                try_canonical_json(&value),
                Err(CanonicalError::Number),
                "{text}"
            );
            assert_eq!(try_signable(&value), Err(CanonicalError::Number), "{text}");
        }
        let value: Value =
            serde_json::from_str(r#"{"b": 9007199254740991, "a": -9007199254740991}"#).unwrap();
        assert_eq!(
            try_canonical_json(&value).unwrap(),
            r#"{"a":-9007199254740991,"b":9007199254740991}"#
        );
    }

    #[test]
    fn matches_the_spec_examples() {
        let value: Value = serde_json::from_str(r#"{"one": 1, "two": "Two"}"#).unwrap();
        assert_eq!(canonical_json(&value), r#"{"one":1,"two":"Two"}"#);
        let value: Value = serde_json::from_str(r#"{"a": "\u0000"}"#).unwrap();
        assert_eq!(canonical_json(&value), r#"{"a":"\u0000"}"#);
    }
}
