//! TOML text to `Config`, with errors that give the line, the column and the full key path
//! (`tenant[0].users.usernam_from`) instead of serde's bare field name.

use super::Config;

/// Parse and deserialize; the error is a one-line message starting with the position.
pub(super) fn parse(text: &str) -> Result<Config, String> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| format!("{}{}", position(text, e.span()), e.message()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        format!(
            "{}{}",
            position(text, inner.span()),
            describe(&path, inner.message())
        )
    })
}

/// `line L, column C: ` for a byte offset, or nothing when toml gave no span.
fn position(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(start) = span.map(|s| s.start) else {
        return String::new();
    };
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: ")
}

/// Rewrite serde's messages, which name only the innermost field, to name the whole key.
/// Messages serde does not produce in these shapes pass through prefixed by the key.
fn describe(path: &str, message: &str) -> String {
    // serde_path_to_error prints the root as "."
    let path = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((_, expected)) = rest.split_once('`')
    {
        let valid = expected
            .trim_start_matches(',')
            .trim()
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ")
            .replace('`', "");
        let valid = if valid.starts_with("there are no fields") {
            "none".to_string()
        } else {
            valid
        };
        return format!("unknown key `{path}`; valid keys here: {valid}");
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        let full = if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return format!("missing required key `{full}`; add it");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, expected)) = rest.split_once('`')
    {
        let expected = expected.trim_start_matches(',').trim();
        return format!("`{path}`: unknown value `{value}`; {expected}");
    }
    if path.is_empty() {
        message.to_string()
    } else {
        format!("`{path}`: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, Some(6..7)), "line 2, column 1: ");
        // "bé " is 4 bytes but 3 characters: the column counts characters.
        assert_eq!(position(text, Some(10..11)), "line 2, column 4: ");
        assert_eq!(position(text, None), "");
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let Err(msg) = parse("[server]\nldap_listen = \"0.0.0.0:389\n") else {
            panic!("unterminated string accepted");
        };
        assert!(msg.starts_with("line 2, column "), "{msg}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let Err(msg) = parse("[server]\nmax_connections = \"many\"\n") else {
            panic!("string accepted for a number");
        };
        assert!(msg.starts_with("line 2, column 19: "), "{msg}");
        assert!(msg.contains("`server.max_connections`"), "{msg}");
    }

    #[test]
    fn unknown_enum_values_list_the_valid_ones() {
        let Err(msg) = parse("[auth]\nuser_bind = \"ldap\"\n") else {
            panic!("unknown user_bind accepted");
        };
        assert!(
            msg.contains("`auth.user_bind`: unknown value `ldap`"),
            "{msg}"
        );
        assert!(msg.contains("entra_or_local"), "{msg}");
    }

    #[test]
    fn missing_keys_are_named_in_full() {
        let Err(msg) = parse("[[tenant]]\nname = \"contoso\"\n") else {
            panic!("tenant without tenant_id accepted");
        };
        assert!(
            msg.contains("missing required key `tenant[0].tenant_id`"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let Err(msg) = parse("[servr]\nldap_listen = \"0.0.0.0:389\"\n") else {
            panic!("misspelt table accepted");
        };
        assert_eq!(
            msg,
            "line 1, column 2: unknown key `servr`; valid keys here: server, auth, service_account, tenant, local_group, notify, network, store"
        );
    }
}
