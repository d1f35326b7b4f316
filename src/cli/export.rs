//! `o365-ldap export-ldif`: the served directory (roots, containers, users, groups, service
//! accounts, with `memberOf`) as RFC 2849 LDIF on stdout, for backups, inspection and loading
//! the same entries into another server.
//!
//! The entries are derived from the store exactly as `serve` derives them at start-up, so the
//! LDIF is what the server would answer. redb lets one process open the database at a time:
//! stop the server first, or point a copy of the config at a copy of `server.data_dir`.
//! Operational attributes (`entryDN`, timestamps, ...) are not exported.

use crate::store::Store;
use crate::sync::SyncEngine;
use base64::Engine as _;
use directory::Snapshot;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// RFC 2849 recommends lines of at most 76 characters.
const LINE_WIDTH: usize = 76;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(
        "opening the store in {path}: {source} (is the server still running? export from a stopped server or a copy of data_dir)"
    )]
    Store {
        path: String,
        source: crate::store::StoreError,
    },
    #[error("deriving the directory: {0}")]
    Sync(#[from] crate::sync::SyncError),
    #[error("no tenant named {0:?} in the config")]
    UnknownTenant(String),
    #[error("writing the LDIF: {0}")]
    Write(#[from] std::io::Error),
}

/// A server `export-ldif --schema` writes a schema file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFor {
    /// OpenLDAP slapd (`schema` file format, after core, cosine and inetorgperson).
    Slapd,
    /// 389 Directory Server (`99user.ldif`-style LDIF).
    #[value(name = "389ds")]
    Ds389,
}

/// `export-ldif --schema`: the definitions the exported entries need beyond the target
/// server's standard schema, so they load with schema checking on. Exit code 0.
pub fn print_schema(target: SchemaFor) -> i32 {
    let text = match target {
        SchemaFor::Slapd => directory::schema::slapd_schema(),
        SchemaFor::Ds389 => directory::schema::ds389_schema(),
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Exit code 0 on success; the error goes to stderr otherwise.
pub fn run(config: &Path, tenant: Option<&str>) -> i32 {
    match export(config, tenant, &mut std::io::stdout().lock()) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Loads the config and the store, derives the directory and writes it; returns the number of
/// entries written.
pub fn export(
    config: &Path,
    tenant: Option<&str>,
    out: &mut impl Write,
) -> Result<usize, ExportError> {
    let cfg = crate::settings::load(config)?;
    if let Some(t) = tenant
        && cfg.tenant(t).is_none()
    {
        return Err(ExportError::UnknownTenant(t.to_string()));
    }
    let store = Store::open(&cfg.server.data_dir).map_err(|source| ExportError::Store {
        path: cfg.server.data_dir.display().to_string(),
        source,
    })?;
    let engine = SyncEngine::load(Arc::new(cfg), Arc::new(store))?;
    let snap = engine.snapshot().load_full();
    let mut buf = std::io::BufWriter::with_capacity(1 << 16, out);
    let n = write_ldif(&snap, tenant, &mut buf)?;
    buf.flush()?;
    Ok(n)
}

/// Writes every entry of `snap` (or of one tenant, by name, case-insensitively) in tree order,
/// parents before children, so the output can be loaded as is. Returns the entry count.
pub fn write_ldif(
    snap: &Snapshot,
    tenant: Option<&str>,
    out: &mut impl Write,
) -> std::io::Result<usize> {
    let wanted: Option<u16> = match tenant {
        None => None,
        Some(name) => match snap
            .tenants
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))
        {
            Some(i) => Some(i as u16),
            // A configured tenant that was never synced has no entries.
            None => return Ok(0),
        },
    };
    out.write_all(b"version: 1\n\n")?;
    let mut n = 0;
    let mut line = String::new();
    for (_, e) in snap.iter() {
        if wanted.is_some_and(|t| t != e.tenant) {
            continue;
        }
        line.clear();
        push_line(&mut line, "dn", e.dn());
        for a in &e.attrs {
            for v in &a.values {
                push_line(&mut line, a.name, v);
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        n += 1;
    }
    Ok(n)
}

/// RFC 2849 SAFE-STRING: ASCII without NUL/CR/LF, not starting with space, `:` or `<`. Values
/// ending in a space are base64 encoded too, since many tools trim trailing blanks.
fn is_safe(v: &str) -> bool {
    let b = v.as_bytes();
    match (b.first(), b.last()) {
        (None, _) => true,
        (Some(first), Some(last)) => {
            !matches!(first, b' ' | b':' | b'<')
                && *last != b' '
                && b.iter()
                    .all(|&c| c != 0 && c != b'\n' && c != b'\r' && c < 0x80)
        }
        (Some(_), None) => false,
    }
}

/// Appends `name: value` (or `name:: base64`) folded at 76 columns with one-space continuations.
fn push_line(out: &mut String, name: &str, value: &str) {
    let start = out.len();
    out.push_str(name);
    if is_safe(value) {
        out.push_str(": ");
        out.push_str(value);
    } else {
        out.push_str(":: ");
        base64::engine::general_purpose::STANDARD.encode_string(value.as_bytes(), out);
    }
    // The line is pure ASCII here (unsafe values were base64 encoded), so folding at byte
    // offsets never splits a character.
    if out.len() - start > LINE_WIDTH {
        let full = out.split_off(start);
        let bytes = full.as_bytes();
        let mut pos = 0;
        let mut width = LINE_WIDTH;
        while pos < bytes.len() {
            let end = (pos + width).min(bytes.len());
            if pos > 0 {
                out.push_str("\n ");
            }
            out.push_str(full.get(pos..end).unwrap_or_default());
            pos = end;
            width = LINE_WIDTH - 1;
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unfolds and decodes LDIF lines back to (name, value) pairs, as an LDIF reader would.
    fn parse(ldif: &str) -> Vec<(String, String)> {
        let unfolded = ldif.replace("\n ", "");
        unfolded
            .lines()
            .filter(|l| !l.is_empty())
            .filter_map(|l| {
                if let Some((n, v)) = l.split_once(":: ") {
                    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
                    Some((n.to_string(), String::from_utf8(raw).ok()?))
                } else {
                    l.split_once(": ")
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                }
            })
            .collect()
    }

    #[test]
    fn values_round_trip_through_encoding_and_folding() {
        let values = [
            "plain",
            "Lee, Chris",
            " leading space",
            "trailing space ",
            ":colon",
            "<angle",
            "Zoë Müller",
            "line\nbreak",
            &"x".repeat(300),
            &"é".repeat(100),
            "",
        ];
        let mut out = String::new();
        for v in values {
            push_line(&mut out, "cn", v);
        }
        for l in out.lines() {
            assert!(l.len() <= LINE_WIDTH, "{l:?} is too long");
            assert!(l.is_ascii());
        }
        let back = parse(&out);
        let got: Vec<&str> = back.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(got, values);
        assert!(out.starts_with("cn: plain\ncn: Lee, Chris\ncn:: "));
    }

    #[test]
    fn safe_strings_are_left_readable() {
        assert!(is_safe("uid=alice,ou=people,dc=contoso,dc=com"));
        assert!(is_safe(""));
        assert!(!is_safe(" x"));
        assert!(!is_safe("x "));
        assert!(!is_safe("Björn"));
        assert!(!is_safe("a\rb"));
    }
}
