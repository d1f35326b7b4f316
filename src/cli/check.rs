//! `o365-ldap check`: validate a config file and print the effective settings, secrets redacted.

use std::path::Path;

/// Exit code 0 when the config is valid, 1 (with every problem listed) when it is not.
pub fn run(path: &Path) -> i32 {
    match crate::settings::load(path) {
        Ok(cfg) => {
            println!("# {} is valid. Effective settings:", path.display());
            print!("{}", config::render_effective(&cfg));
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
