//! Configuration: the TOML schema, loading (secrets resolved from files or the environment),
//! validation with messages that name the key and the fix, and the redacted view `check` prints.
//!
//! `load` runs four steps: parse (unknown keys are errors that name the full key path), resolve
//! paths (relative paths are taken from the config file's directory, so the same file works
//! whatever the daemon's working directory), validate (every problem is collected, not only the
//! first), and read the client secrets.

pub mod duration;
mod parse;
mod render;
mod resolve;
pub mod schema;
pub mod template;
mod validate;

pub use duration::Dur;
pub use render::render_effective;
pub use resolve::CREDENTIALS_DIRECTORY;
pub use schema::*;
pub use validate::{credential_key, tenant_key};

pub use model::Secret;

use std::env::VarError;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a config: the key it is about (`tenant[contoso].graph_url`) and what to
/// do. Tenants and service accounts are named by their `name` when it is usable, by their
/// position (`tenant[0]`) otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Not TOML, or TOML that does not fit the schema (unknown key, wrong type, missing key).
    /// `message` starts with the line and column.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// Well-formed but unusable: every problem found, one per line when displayed.
    #[error("{}", invalid_lines(path, problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

fn invalid_lines(path: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{path}: {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Read, parse, resolve paths and secrets, and validate a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &|_| Vec::new())
}

/// `load`, with `extra` adding the problems of checks this crate cannot make itself (reading
/// the certificate files a credential names, for one).
pub fn load_with(
    path: &Path,
    extra: &dyn Fn(&Config) -> Vec<Problem>,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_str_with(&text, path, extra)
}

/// `load_with` for text already in memory.
pub fn load_str_with(
    text: &str,
    origin: &Path,
    extra: &dyn Fn(&Config) -> Vec<Problem>,
) -> Result<Config, ConfigError> {
    load_text(text, origin, &|name| std::env::var(name), extra)
}

/// `load` for text already in memory. `origin` is where the text came from: it names the file
/// in errors, and relative paths are resolved against its directory. Secrets named by
/// `client_secret_env` are read from the process environment.
pub fn load_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    load_str_with_env(text, origin, |name| std::env::var(name))
}

/// `load_str` with the environment supplied by the caller, so tests need not mutate the
/// process environment (which is unsound while other threads read it).
pub fn load_str_with_env(
    text: &str,
    origin: &Path,
    env: impl Fn(&str) -> Result<String, VarError>,
) -> Result<Config, ConfigError> {
    load_text(text, origin, &env, &|_| Vec::new())
}

fn load_text(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Result<String, VarError>,
    extra: &dyn Fn(&Config) -> Vec<Problem>,
) -> Result<Config, ConfigError> {
    let path = origin.display().to_string();
    let mut cfg = parse::parse(text).map_err(|message| ConfigError::Parse {
        path: path.clone(),
        message,
    })?;
    let mut problems = Vec::new();
    resolve::normalize(&mut cfg, &base_dir(origin), env, &mut problems);
    let placement = place_local_groups(&mut cfg);
    problems.extend(validate::validate(&cfg));
    problems.extend(placement);
    resolve::secrets(&mut cfg, env, &mut problems);
    problems.extend(extra(&cfg));
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid { path, problems })
    }
}

/// Move top-level `[[local_group]]` blocks into the tenants they name (every tenant when they
/// name none); a `tenant` key inside `[[tenant.local_group]]` is a mistake worth naming.
fn place_local_groups(cfg: &mut Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    for t in &cfg.tenant {
        for lg in &t.local_group {
            if lg.tenant.is_some() {
                problems.push(Problem {
                    key: format!("tenant[{}].local_group[{}].tenant", t.name, lg.name),
                    message: "`tenant` belongs only in a top-level [[local_group]]; remove it here"
                        .into(),
                });
            }
        }
    }
    for lg in std::mem::take(&mut cfg.local_group) {
        let wanted = lg.tenant.clone();
        let mut placed = false;
        for t in cfg.tenant.iter_mut() {
            if wanted
                .as_deref()
                .is_none_or(|w| w.eq_ignore_ascii_case(&t.name))
            {
                t.local_group.push(LocalGroup {
                    tenant: None,
                    ..lg.clone()
                });
                placed = true;
            }
        }
        if !placed {
            problems.push(Problem {
                key: format!("local_group[{}].tenant", lg.name),
                message: format!(
                    "no [[tenant]] is named {:?}; use one of the tenant names or leave `tenant` out",
                    wanted.unwrap_or_default()
                ),
            });
        }
    }
    problems
}

/// The directory relative paths in the config are taken from: the config file's own.
fn base_dir(origin: &Path) -> PathBuf {
    let dir = match origin.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Absolute, so paths stay right if something later changes the working directory and so
    // `check` shows where files are really looked for.
    std::path::absolute(&dir).unwrap_or(dir)
}

#[cfg(test)]
mod tests;
