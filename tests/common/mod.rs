//! Shared test support: filter strings, and the emulator + server harness.

#![allow(dead_code)]

pub mod clients;
pub mod filter;
pub mod harness;
pub mod postgres;

/// Every served entry of a snapshot as DN → sorted attribute lines: what a client would see.
pub fn dump(s: &directory::Snapshot) -> std::collections::BTreeMap<String, Vec<String>> {
    s.iter()
        .map(|(_, e)| {
            let mut lines: Vec<String> = e
                .attrs
                .iter()
                .flat_map(|a| a.values.iter().map(move |v| format!("{}: {v}", a.name)))
                .collect();
            lines.sort();
            (e.dn().to_string(), lines)
        })
        .collect()
}
pub mod raw;
