//! Shared test support: filter strings, and (for integration tests) the emulator + server
//! harness.

#![allow(dead_code)]

pub mod filter;
