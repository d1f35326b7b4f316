//! Small sub-commands: `hash-password`, `cert self-signed` (a first LDAPS certificate),
//! `completions SHELL` and `man` (generated from the same clap definitions as the parser).

use anyhow::Context;
use clap::{CommandFactory, Subcommand};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// A self-signed certificate and key for LDAPS, to start with; clients must be told to
    /// trust it (certs/README.md says how to get one from a real CA).
    SelfSigned {
        /// DNS names (and IP addresses) clients connect to; the first is the subject.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Directory for server.crt and server.key.
        #[arg(long, default_value = "/etc/o365-ldap/certs")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
}

/// `hash-password`: the password from a no-echo prompt at a terminal (asked twice), else the
/// first line of stdin; never an argument, which `ps` would show.
pub fn hash_password() -> i32 {
    let pw = if std::io::stdin().is_terminal() {
        match super::setpw::read_password() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    } else {
        let mut input = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut input) {
            eprintln!("error: cannot read the password from stdin: {e}");
            return 1;
        }
        // One trailing newline is removed because `echo` adds it; nothing else is trimmed.
        input
            .strip_suffix("\r\n")
            .or_else(|| input.strip_suffix('\n'))
            .unwrap_or(&input)
            .to_string()
    };
    if pw.is_empty() {
        eprintln!(
            "error: empty password; type it at the prompt, or pipe it in: `printf '%s' \"$PW\" | o365-ldap hash-password`"
        );
        return 1;
    }
    match crate::auth::hash_password(&pw) {
        Ok(h) => {
            println!("{h}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

pub fn cert(cmd: &CertCommand) -> anyhow::Result<()> {
    let CertCommand::SelfSigned { names, out, days } = cmd;
    let key = rcgen::KeyPair::generate().context("generating the key")?;
    let mut params =
        rcgen::CertificateParams::new(names.clone()).context("the names given with --name")?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.distinguished_name = dn;
    let now = model::time::Clock::now_unix(&model::time::SystemClock);
    params.not_before =
        time::OffsetDateTime::from_unix_timestamp(now - 3600).context("the current time")?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(now + i64::from(*days) * 86_400)
        .context("--days")?;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    let crt = out.join("server.crt");
    let key_path = out.join("server.key");
    for p in [&crt, &key_path] {
        anyhow::ensure!(
            !p.exists(),
            "{} exists already; move it away first",
            p.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write(&crt, &cert.pem(), 0o644)?;
    write(&key_path, &key.serialize_pem(), 0o600)?;
    println!(
        "wrote {} and {} (valid {days} days for {})",
        crt.display(),
        key_path.display(),
        names.join(", ")
    );
    println!(
        "clients must trust {} (e.g. LDAPTLS_CACERT, SSSD's ldap_tls_cacert); give the server's \
         user read access to the key (chgrp o365-ldap; chmod 640)",
        crt.display()
    );
    Ok(())
}

fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Shell completions for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = super::Cli::command();
    clap_complete::generate(shell, &mut cmd, "o365-ldap", &mut std::io::stdout());
}

/// The man page (roff) on stdout.
pub fn man() -> anyhow::Result<()> {
    let page = clap_mangen::Man::new(super::Cli::command());
    page.render(&mut std::io::stdout())
        .context("writing the man page")
}
