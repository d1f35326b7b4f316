#!/usr/bin/env bash
# go-ldap (Debian's golang-github-go-ldap-ldap-dev) against `o365-ldap demo`, as Grafana and Gitea
# use it: tests/clients/go_ldap/main.go (LDAPS and StartTLS, service bind, user search, user bind,
# group lookups including the in-chain rule, SearchWithPaging, Who-am-I). Built offline from
# /usr/share/gocode (GOPATH mode, no module download). Needs golang-go and
# golang-github-go-ldap-ldap-dev (installed by .ci/run). Touches no system file.
NAME=go-ldap
source "$(dirname "$0")/lib.sh"
command -v go >/dev/null 2>&1 || { echo "go not found: apt-get install golang-go golang-github-go-ldap-ldap-dev"; exit 1; }
[ -d /usr/share/gocode/src/github.com/go-ldap/ldap/v3 ] || { echo "go-ldap not found: apt-get install golang-github-go-ldap-ldap-dev"; exit 1; }
# GOPATH mode against Debian's source tree: nothing is fetched from the network.
mkdir -p "$work/gopath/src/o365check" "$work/gocache"
cp tests/clients/go_ldap/main.go "$work/gopath/src/o365check/"
(cd "$work/gopath/src/o365check" && GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="$work/gopath:/usr/share/gocode" \
  GOCACHE="${GO_CACHE:-$work/gocache}" go build -o "$work/go_ldap_check" .) || { echo "go build failed"; exit 1; }
start_demo
rc=0
LDAPS_URI=ldaps://localhost:$ldaps_port LDAP_URI=ldap://localhost:$ldap_port CA=$ca \
  BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base "$work/go_ldap_check" || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- $work/demo.err"; tail -20 "$work/demo.err"; fi
exit "$rc"
