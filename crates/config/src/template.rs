//! The `users.home_directory` and `users.gecos` template grammar, and the attribute paths
//! number attributes name. Validation checks templates with it, derivation fills them.

use model::graph::is_extension_property;

/// Placeholders `users.home_directory` understands.
pub const HOME_PLACEHOLDERS: &[&str] = &["uid", "upn", "mail_local"];
/// Placeholders `users.gecos` understands.
pub const GECOS_PLACEHOLDERS: &[&str] = &[
    "displayName",
    "givenName",
    "surname",
    "uid",
    "mail",
    "upn",
    "department",
    "jobTitle",
    "telephoneNumber",
    "mobile",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("has a `{{` without a closing `}}`")]
    Unclosed,
    #[error("has a `}}` without an opening `{{`")]
    StrayClose,
    #[error("uses {{{0}}}, which is not a placeholder here")]
    Unknown(String),
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn pieces(tpl: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = tpl;
    while !rest.is_empty() {
        match (rest.find('{'), rest.find('}')) {
            (Some(o), Some(c)) if c < o => return Err(TemplateError::StrayClose),
            (None, Some(_)) => return Err(TemplateError::StrayClose),
            (None, None) => {
                out.push(Piece::Text(rest));
                break;
            }
            (Some(o), _) => {
                out.push(Piece::Text(rest.get(..o).unwrap_or("")));
                let after = rest.get(o + 1..).unwrap_or("");
                let close = after.find('}').ok_or(TemplateError::Unclosed)?;
                let name = after.get(..close).unwrap_or("");
                if name.contains('{') {
                    return Err(TemplateError::Unclosed);
                }
                out.push(Piece::Var(name));
                rest = after.get(close + 1..).unwrap_or("");
            }
        }
    }
    Ok(out)
}

/// The placeholders a template uses, or why it is malformed (unbalanced braces, a name not
/// in `allowed`). For config validation.
pub fn template_placeholders<'a>(
    tpl: &'a str,
    allowed: &[&str],
) -> Result<Vec<&'a str>, TemplateError> {
    let mut used = Vec::new();
    for p in pieces(tpl)? {
        if let Piece::Var(name) = p {
            if !allowed.contains(&name) {
                return Err(TemplateError::Unknown(name.to_string()));
            }
            used.push(name);
        }
    }
    Ok(used)
}

/// Fill a template; unknown placeholders (validation rejects them) and missing values become
/// empty text. A malformed template is used as it is written.
pub fn render_template(tpl: &str, value: impl Fn(&str) -> Option<String>) -> String {
    match pieces(tpl) {
        Ok(ps) => ps
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t.to_string(),
                Piece::Var(v) => value(v).unwrap_or_default(),
            })
            .collect(),
        Err(_) => tpl.to_string(),
    }
}

/// Why an attribute path is not usable (for config validation): empty segments, characters
/// Graph property names never have.
pub fn check_attribute_path(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("is empty".into());
    }
    for seg in path.split('.') {
        if seg.is_empty() {
            return Err(format!("`{path}` has an empty part between dots"));
        }
        if !seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`{path}` has a part (`{seg}`) that is not a Graph property name (letters, digits, `_`)"
            ));
        }
        if seg.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Err(format!(
                "`{path}` has a part (`{seg}`) starting with a digit"
            ));
        }
    }
    if path.contains('.') && is_extension_property(path) {
        return Err(format!(
            "`{path}`: a directory extension (extension_<appid>_<name>) is a single property; drop the dotted part"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_validate() {
        assert_eq!(
            template_placeholders("/home/{uid}", HOME_PLACEHOLDERS),
            Ok(vec!["uid"])
        );
        assert_eq!(
            template_placeholders("/home/{user}", HOME_PLACEHOLDERS),
            Err(TemplateError::Unknown("user".into()))
        );
        assert_eq!(
            template_placeholders("/home/{uid", HOME_PLACEHOLDERS),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            template_placeholders("/home/uid}", HOME_PLACEHOLDERS),
            Err(TemplateError::StrayClose)
        );
        assert_eq!(
            render_template("/home/{uid}/{x}", |n| (n == "uid")
                .then(|| "al".to_string())),
            "/home/al/"
        );
    }
}
