//! The fixture file format: a tenant described as Graph JSON objects plus emulator-only fields.
//!
//! Directory objects are kept as raw JSON maps (Graph's own property spelling) rather than typed
//! structs, so the emulator can be faithful about default property sets, `$select` and `null`s
//! independently of how our own client models them. Keys starting with `_` are emulator-only
//! (e.g. `_password`) and are never sent to clients. docs/emulator.md describes the format.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::EmulatorError;
use super::tenant::TenantState;

/// A JSON object with Graph's property names as keys.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The bundled demo tenant (also the default fixture of the integration tests).
const SAMPLE_JSON: &str = include_str!("../../../tests/fixtures/contoso.json");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The tenant GUID; the token endpoint also accepts any verified domain in its place.
    pub tenant_id: String,
    /// The `organization` object: at least `displayName`; other Graph organization properties
    /// may be given. `id` and `verifiedDomains` are derived.
    #[serde(default)]
    pub organization: JsonObject,
    /// Graph `domain` objects (`id` is the FQDN).
    #[serde(default)]
    pub domains: Vec<JsonObject>,
    /// App registrations that may obtain tokens (client credentials).
    #[serde(default)]
    pub apps: Vec<FixtureApp>,
    /// Graph `user` objects.
    #[serde(default)]
    pub users: Vec<JsonObject>,
    /// Graph `group` objects plus `"members": [ids of users, groups, devices, ...]`.
    #[serde(default)]
    pub groups: Vec<JsonObject>,
    #[serde(default)]
    pub devices: Vec<JsonObject>,
    #[serde(default, rename = "servicePrincipals", alias = "service_principals")]
    pub service_principals: Vec<JsonObject>,
    #[serde(default, rename = "orgContacts", alias = "org_contacts")]
    pub org_contacts: Vec<JsonObject>,
}

/// An app registration: the client id, its secrets, and the application permissions that have
/// admin consent (the `roles` a real token would carry).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureApp {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// "Allow public client flows": the password grant works without a secret, and sending a
    /// secret is an error (700025). A confidential app (the default) must send its secret.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_client: bool,
    /// PEM certificates (RSA) whose private keys may sign `client_assertion` JWTs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
}

impl fmt::Debug for FixtureApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixtureApp")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("permissions", &self.permissions)
            .field("public_client", &self.public_client)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl Fixture {
    /// Reads and validates a fixture file.
    pub fn load(path: &Path) -> Result<Fixture, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Fixture::from_json(&text)
    }

    /// Parses and validates a fixture; every problem Graph itself would never allow (duplicate
    /// ids, dangling members, UPNs on unverified domains, unknown properties) is an error here.
    pub fn from_json(text: &str) -> Result<Fixture, EmulatorError> {
        let fixture: Fixture = serde_json::from_str(text)?;
        fixture.validate()?;
        Ok(fixture)
    }

    /// The bundled demo tenant, `tests/fixtures/contoso.json` (compiled in; the test
    /// `sample_fixture_is_valid` keeps it valid).
    pub fn sample() -> Result<Fixture, EmulatorError> {
        Fixture::from_json(SAMPLE_JSON)
    }

    /// Checks the fixture the same way `start` will, without starting anything.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        TenantState::build(self).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_fixture_is_valid() {
        let f = Fixture::from_json(SAMPLE_JSON);
        assert!(f.is_ok(), "{:?}", f.err());
    }

    #[test]
    fn unknown_top_level_keys_are_rejected() {
        let err = Fixture::from_json(r#"{"tenant_id":"x","userz":[]}"#);
        assert!(matches!(err, Err(EmulatorError::Parse(_))));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let app = FixtureApp {
            client_id: "c".into(),
            secrets: vec!["hunter2".into()],
            ..FixtureApp::default()
        };
        assert!(!format!("{app:?}").contains("hunter2"));
    }
}
