#!/usr/bin/env bash
# PHP's ldap extension (Debian's php-cli php-ldap) against `o365-ldap demo`, as Nextcloud's
# user_ldap uses it: tests/clients/php_ldap.php (LDAPS and StartTLS, agent bind, paged user count,
# the login filter by name and mail, the password check by a user bind, UUID detection, memberof,
# group list and members). Needs php-cli and php-ldap (installed by .ci/run). Touches no system file.
NAME=php-ldap
source "$(dirname "$0")/lib.sh"
PHP=${PHP:-/usr/bin/php}
"$PHP" -r 'exit(function_exists("ldap_connect") ? 0 : 1);' 2>/dev/null || { echo "php ldap not found: apt-get install php-cli php-ldap"; exit 1; }
start_demo
rc=0
CHECK_WRONG_CA=/etc/ssl/certs/ca-certificates.crt LDAPS_URI=ldaps://localhost:$ldaps_port CA=$ca \
  BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base "$PHP" tests/clients/php_ldap.php || rc=$?
LDAPS_URI=ldaps://localhost:$ldaps_port LDAP_URI=ldap://localhost:$ldap_port CA=$ca \
  BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base "$PHP" tests/clients/php_ldap.php || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- $work/demo.err"; tail -20 "$work/demo.err"; fi
exit "$rc"
