#!/usr/bin/env bash
# Java JNDI (OpenJDK's com.sun.jndi.ldap) against `o365-ldap demo`, as Keycloak and Jenkins use it:
# tests/clients/jndi/JndiCheck.java (Keycloak: StartTLS then bind, user lookups by username, UUID
# and email, paged sync of all users, group mapper, password check; Jenkins: LDAPS, manager bind,
# "uid={0}" user search, bind as the user, group searches). The demo CA goes into a PKCS12 trust
# store made with keytool. Needs a JDK 11 or later (java, keytool; the CI image has OpenJDK 17).
# Touches no system file.
NAME=jndi
source "$(dirname "$0")/lib.sh"
JAVA=${JAVA:-java}
KEYTOOL=${KEYTOOL:-keytool}
command -v "$JAVA" >/dev/null 2>&1 && command -v "$KEYTOOL" >/dev/null 2>&1 \
  || { echo "java/keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless)"; exit 1; }
# Compile first (a second or two), so that a Java error is reported before the demo starts.
mkdir -p "$work/jndi"
javac -d "$work/jndi" tests/clients/jndi/JndiCheck.java || { echo "javac failed"; exit 1; }
start_demo
"$KEYTOOL" -importcert -noprompt -alias o365-ldap-demo -file "$ca" -keystore "$work/trust.p12" \
  -storetype PKCS12 -storepass changeit >/dev/null 2>&1 || { echo "keytool could not import $ca"; exit 1; }
rc=0
# Without the demo CA (the JDK's own trust store) LDAPS must fail.
CHECK_WRONG_CA=1 LDAPS_URI=ldaps://localhost:$ldaps_port BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base \
  "$JAVA" -cp "$work/jndi" JndiCheck || rc=$?
LDAPS_URI=ldaps://localhost:$ldaps_port LDAP_URI=ldap://localhost:$ldap_port \
  BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base \
  "$JAVA" -Djavax.net.ssl.trustStore="$work/trust.p12" -Djavax.net.ssl.trustStorePassword=changeit \
  -Djavax.net.ssl.trustStoreType=PKCS12 -cp "$work/jndi" JndiCheck || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- $work/demo.err"; tail -20 "$work/demo.err"; fi
exit "$rc"
