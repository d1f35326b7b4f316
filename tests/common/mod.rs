//! Shared test support: filter strings, and the emulator + server harness.

#![allow(dead_code)]

pub mod clients;
pub mod filter;
pub mod harness;
