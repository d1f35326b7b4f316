#!/usr/bin/env bash
# Build the .deb: the man page and shell completions are generated from the binary first
# (cargo-deb packages files, it does not run the program). With --dev the debug binary that
# `cargo test` built is packaged as it is (CI checks the package without a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release
if [ "${1:-}" = "--dev" ]; then profile=dev; fi
dir=$([ "$profile" = release ] && echo release || echo debug)
bin="target/$dir/o365-ldap"
if [ "$profile" = release ]; then
  # The package is the server alone: no Graph emulator (the `demo` feature) in it.
  cargo build --locked --release --no-default-features --features mimalloc --bin o365-ldap
else
  [ -x "$bin" ] || { echo "$bin is missing: run cargo test (or cargo build) first"; exit 1; }
fi
mkdir -p target/deb-assets
"$bin" man > target/deb-assets/o365-ldap.1
gzip -9nf target/deb-assets/o365-ldap.1
"$bin" completions bash > target/deb-assets/o365-ldap.bash
"$bin" completions zsh > target/deb-assets/_o365-ldap
"$bin" completions fish > target/deb-assets/o365-ldap.fish
cargo deb --no-build --profile "$profile" --locked
