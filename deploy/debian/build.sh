#!/usr/bin/env bash
# Build the .deb: the man page and shell completions are generated from the binary first
# (cargo-deb packages files, it does not run the program). With --dev the debug binary the
# tests built is packaged (CI: checks the package without a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release
if [ "${1:-}" = "--dev" ]; then profile=dev; fi
dir=$([ "$profile" = release ] && echo release || echo debug)
cargo build --locked --profile "$profile" --bin o365-ldap
bin="target/$dir/o365-ldap"
mkdir -p target/deb-assets
"$bin" man > target/deb-assets/o365-ldap.1
gzip -9nf target/deb-assets/o365-ldap.1
"$bin" completions bash > target/deb-assets/o365-ldap.bash
"$bin" completions zsh > target/deb-assets/_o365-ldap
"$bin" completions fish > target/deb-assets/o365-ldap.fish
cargo deb --no-build --profile "$profile" --locked
