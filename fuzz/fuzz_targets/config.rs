//! A config file → TOML parsing, the schema, defaults and validation: an error that names a
//! key, or a config, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = config::load_str_with_env(
        text,
        std::path::Path::new("/etc/o365-ldap/o365-ldap.toml"),
        |_| Err(std::env::VarError::NotPresent),
    );
});
