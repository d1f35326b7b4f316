//! Reading a new password for `o365-ldap ctl set-password`: from stdin when it is not a
//! terminal (one line, only the line break removed), else from a prompt with echo off, twice.
//! Never from an argument, which `ps` and shell history would show.

use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal, Write};

pub(crate) fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(strip_newline(line));
    }
    let first = prompt("New password: ")?;
    let second = prompt("Repeat it: ")?;
    if first != second {
        bail!("the passwords differ; nothing was changed");
    }
    Ok(first)
}

/// Only the line terminator goes: spaces are part of the password.
fn strip_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let echo_off = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        stty("echo");
    }
    eprintln!();
    read.context("reading the password")?;
    Ok(strip_newline(line))
}

/// Switch terminal echo with stty(1) on the controlling terminal; false when it did not work.
fn stty(arg: &str) -> bool {
    std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::strip_newline;

    #[test]
    fn keeps_spaces_drops_only_the_line_break() {
        assert_eq!(strip_newline(" pw \r\n".into()), " pw ");
        assert_eq!(strip_newline(" pw \n".into()), " pw ");
        assert_eq!(strip_newline("pw".into()), "pw");
    }
}
