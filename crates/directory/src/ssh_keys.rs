//! SSH public keys: parsing and validating OpenSSH public key lines, SHA256 fingerprints as
//! `ssh-keygen -l` prints them, reading keys from a user's Graph property
//! (`users.ssh_keys_attribute`), and adding `sshPublicKey` + `ldapPublicKey` to user entries
//! from Graph keys merged with admin-managed ones (`o365-ldap ctl ssh-key`).

use super::entry::Attr;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use model::graph::User;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Admin-managed keys of one tenant: lower-cased Graph user id → key lines as stored.
pub type AdminKeys = HashMap<String, Vec<String>>;

/// Key types OpenSSH accepts in authorized_keys that we serve (DSA is gone from OpenSSH).
pub const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A key blob larger than this is not a public key (a 16384-bit RSA key is about 2 KiB).
const MAX_BLOB: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    #[error("the key is empty; give one line such as \"ssh-ed25519 AAAAC3Nz... alice@laptop\"")]
    Empty,
    #[error(
        "the key spans several lines; give one key per command (authorized_keys format: type, base64, optional comment)"
    )]
    MultiLine,
    #[error(
        "{0:?} is not a supported key type; expected one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com (authorized_keys options before the type are not supported)"
    )]
    UnknownType(String),
    #[error("the {0} key has no base64 key data after its type")]
    MissingBody(String),
    #[error("the key data of the {0} key is not valid base64")]
    BadBase64(String),
    #[error("the key data says it is a {inner:?} key but the line says {outer}")]
    TypeMismatch { outer: String, inner: String },
    #[error("the key data of the {algorithm} key is malformed: {detail}")]
    Malformed {
        algorithm: String,
        detail: &'static str,
    },
}

/// One validated public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    pub algorithm: String,
    /// The decoded key blob (what the fingerprint is computed over).
    pub blob: Vec<u8>,
    pub comment: Option<String>,
}

impl SshPublicKey {
    /// Parse one authorized_keys-style line: `type base64 [comment]`.
    pub fn parse(line: &str) -> Result<SshPublicKey, SshKeyError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(SshKeyError::Empty);
        }
        if line.contains(['\n', '\r']) {
            return Err(SshKeyError::MultiLine);
        }
        let mut parts = line.splitn(3, [' ', '\t']);
        let algorithm = parts.next().unwrap_or_default();
        if !KEY_TYPES.contains(&algorithm) {
            // Quote only a short prefix: an unknown first word may be a whole pasted blob.
            let shown: String = algorithm.chars().take(40).collect();
            return Err(SshKeyError::UnknownType(shown));
        }
        let body = parts
            .next()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SshKeyError::MissingBody(algorithm.to_string()))?;
        let blob = STANDARD
            .decode(body)
            .or_else(|_| STANDARD_NO_PAD.decode(body))
            .map_err(|_| SshKeyError::BadBase64(algorithm.to_string()))?;
        check_blob(algorithm, &blob)?;
        let comment = parts
            .next()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(SshPublicKey {
            algorithm: algorithm.to_string(),
            blob,
            comment,
        })
    }

    /// `SHA256:` + unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }

    /// The canonical line served in `sshPublicKey`: type, padded base64, comment.
    pub fn to_line(&self) -> String {
        let mut s = format!("{} {}", self.algorithm, STANDARD.encode(&self.blob));
        if let Some(c) = &self.comment {
            s.push(' ');
            s.push_str(c);
        }
        s
    }

    /// Two lines are the same key when type and blob agree; comments do not count.
    pub fn same_key(&self, other: &SshPublicKey) -> bool {
        self.algorithm == other.algorithm && self.blob == other.blob
    }

    /// Whether `text` names this key: its fingerprint (with or without the `SHA256:` prefix) or
    /// a line holding the same key.
    pub fn matches(&self, text: &str) -> bool {
        let text = text.trim();
        let fp = self.fingerprint();
        if text == fp || Some(text) == fp.strip_prefix("SHA256:") {
            return true;
        }
        SshPublicKey::parse(text).is_ok_and(|k| k.same_key(self))
    }
}

/// Walk the SSH wire format of the blob: the embedded type must match the line's, and the
/// fields the type defines must all be there with nothing after them.
fn check_blob(algorithm: &str, blob: &[u8]) -> Result<(), SshKeyError> {
    let malformed = |detail| SshKeyError::Malformed {
        algorithm: algorithm.to_string(),
        detail,
    };
    if blob.len() > MAX_BLOB {
        return Err(malformed("it is far too long for a public key"));
    }
    let mut r = Reader(blob);
    let inner = r
        .string()
        .ok_or_else(|| malformed("it does not start with a key type"))?;
    if inner != algorithm.as_bytes() {
        return Err(SshKeyError::TypeMismatch {
            outer: algorithm.to_string(),
            inner: String::from_utf8_lossy(inner).chars().take(40).collect(),
        });
    }
    let truncated = || malformed("it is truncated");
    match algorithm {
        "ssh-ed25519" | "sk-ssh-ed25519@openssh.com" => {
            let key = r.string().ok_or_else(truncated)?;
            if key.len() != 32 {
                return Err(malformed("an Ed25519 key is 32 bytes"));
            }
        }
        "ssh-rsa" => {
            let e = r.string().ok_or_else(truncated)?;
            let n = r.string().ok_or_else(truncated)?;
            if e.is_empty() || n.len() < 64 {
                return Err(malformed(
                    "the RSA exponent or modulus is missing or too small",
                ));
            }
        }
        _ => {
            // ecdsa-sha2-<curve> and sk-ecdsa-sha2-nistp256@openssh.com: curve name, point.
            let curve = r.string().ok_or_else(truncated)?;
            let expected = algorithm
                .trim_start_matches("sk-")
                .trim_end_matches("@openssh.com")
                .trim_start_matches("ecdsa-sha2-");
            if curve != expected.as_bytes() {
                return Err(malformed("the curve name does not match the key type"));
            }
            let point = r.string().ok_or_else(truncated)?;
            if point.first() != Some(&4) {
                return Err(malformed("the curve point is not an uncompressed point"));
            }
        }
    }
    if algorithm.starts_with("sk-") {
        r.string()
            .ok_or_else(|| malformed("a security-key key needs its application string"))?;
    }
    if !r.0.is_empty() {
        return Err(malformed("there are bytes after the key"));
    }
    Ok(())
}

/// SSH wire-format reader over a byte slice; `None` when a field runs past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len_bytes: [u8; 4] = self.0.get(..4)?.try_into().ok()?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let rest = self.0.get(4..)?;
        let s = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some(s)
    }
}

/// The text of a user's `users.ssh_keys_attribute` property, as raw candidate lines: a string
/// holds one key per line, an array one or more per element. `path` is dotted: its first part
/// is `onPremisesExtensionAttributes` (then an `extensionAttributeN`) or a directory extension
/// (`extension_<appid>_<name>`), optionally followed by keys into a JSON object.
pub fn graph_key_lines(user: &User, path: &str) -> Vec<String> {
    // Runs for every served user on every derivation: no allocation unless keys are found.
    let (first, rest) = path.split_once('.').unwrap_or((path, ""));
    let mut out = Vec::new();
    if first.eq_ignore_ascii_case("onPremisesExtensionAttributes") {
        let text = user
            .on_premises_extension_attributes
            .as_ref()
            .filter(|_| !rest.is_empty() && !rest.contains('.'))
            .and_then(|attrs| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(rest)))
            .and_then(|(_, v)| v.as_deref());
        push_lines(text, &mut out);
    } else {
        let value =
            model::graph::extension_value(&user.extensions, first).and_then(|v| descend(v, rest));
        collect_lines(value, &mut out);
    }
    out
}

fn descend<'a>(mut v: &'a Value, path: &str) -> Option<&'a Value> {
    for p in path.split('.').filter(|p| !p.is_empty()) {
        v = v
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(p))
            .map(|(_, x)| x)?;
    }
    Some(v)
}

fn push_lines(text: Option<&str>, out: &mut Vec<String>) {
    out.extend(
        text.into_iter()
            .flat_map(str::lines)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string),
    );
}

fn collect_lines(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) => push_lines(Some(s), out),
        Some(Value::Array(a)) => a.iter().for_each(|x| collect_lines(Some(x), out)),
        _ => {}
    }
}

/// A user's served keys: valid Graph keys first, then admin keys, each key once (the first
/// occurrence's comment wins). Invalid Graph lines are skipped with a warning naming the user.
pub fn user_keys(user: &User, attribute: Option<&str>, admin: &[String]) -> Vec<SshPublicKey> {
    let mut out: Vec<SshPublicKey> = Vec::new();
    let mut push = |k: SshPublicKey| {
        if !out.iter().any(|x| x.same_key(&k)) {
            out.push(k);
        }
    };
    if let Some(path) = attribute {
        for line in graph_key_lines(user, path) {
            match SshPublicKey::parse(&line) {
                Ok(k) => push(k),
                Err(e) => tracing::warn!(
                    user = %user.user_principal_name.as_deref().unwrap_or(&user.id),
                    id = %user.id,
                    attribute = %path,
                    "SSH key line in Microsoft 365 skipped: {e}"
                ),
            }
        }
    }
    for line in admin {
        // Admin keys were validated when added; a line that no longer parses is skipped.
        if let Ok(k) = SshPublicKey::parse(line) {
            push(k);
        }
    }
    out
}

/// Add `sshPublicKey` values and the `ldapPublicKey` class to a user's attributes when the user
/// has any key. `admin`: the tenant's admin-managed keys.
pub fn add_attributes(
    attrs: &mut Vec<Attr>,
    user: &User,
    attribute: Option<&str>,
    admin: &AdminKeys,
) {
    if attribute.is_none() && admin.is_empty() {
        return;
    }
    let admin_lines = if admin.is_empty() {
        &[][..]
    } else {
        // Graph ids are lower-case GUIDs already; the store keeps them lower-cased.
        admin
            .get(&user.id)
            .or_else(|| admin.get(&user.id.to_ascii_lowercase()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let keys = user_keys(user, attribute, admin_lines);
    if keys.is_empty() {
        return;
    }
    if let Some(oc) = attrs.iter_mut().find(|a| a.name == "objectClass")
        && !oc
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("ldapPublicKey"))
    {
        oc.values.push("ldapPublicKey".into());
    }
    let mut seen = HashSet::new();
    let values = keys
        .iter()
        .map(SshPublicKey::to_line)
        .filter(|l| seen.insert(l.clone()))
        .map(Box::from)
        .collect();
    attrs.push(Attr {
        name: "sshPublicKey",
        values,
    });
}

#[cfg(test)]
mod tests;
