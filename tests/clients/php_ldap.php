<?php
// PHP's ldap extension (Debian's php-ldap) against a running o365-ldap, doing what Nextcloud's
// user_ldap app does with it (apps/user_ldap/lib/Access.php, Connection.php, Wizard.php):
//   - the CA set with LDAP_OPT_X_TLS_CACERTFILE, LDAPS ("ldaps://host") or StartTLS ("ldapTLS"),
//     protocol 3, no referrals, a network timeout;
//   - bind as the agent (ldapAgentName), count users with the wizard's user filter
//     "(&(|(objectclass=inetOrgPerson)))" in pages (RFC 2696 with PHP 8's $controls, as Nextcloud
//     25+ does; page size 5 here, 500 in Nextcloud);
//   - log in: the login filter "(&(&(|(objectclass=inetOrgPerson)))(|(uid=%uid)(|(mailPrimaryAddress=%uid)(mail=%uid))))"
//     by user name and by mail, then the password checked by a bind on a new connection;
//   - detect the UUID attribute (entryuuid, nsuniqueid, objectguid, guid, ipauniqueid: the first
//     one present), read memberof, list groups with "(&(|(objectclass=groupOfNames)))" and read a
//     group's members, and the user search of the share dialog.
// Run by tests/clients/php_ldap.sh, which starts `o365-ldap demo` and passes LDAPS_URI, LDAP_URI,
// CA, BIND_DN, BIND_PW, BASE. Prints ok/FAIL lines and "php-ldap: N passed, M failed".

$passed = 0;
$failed = 0;
function report($ok, $what, $detail = null) {
    global $passed, $failed;
    if ($ok) { $passed++; echo "ok   - $what\n"; }
    else { $failed++; echo "FAIL - $what" . ($detail !== null ? ": $detail" : "") . "\n"; }
}

$ldapsUri = getenv('LDAPS_URI'); $ldapUri = getenv('LDAP_URI'); $ca = getenv('CA');
$bindDn = getenv('BIND_DN'); $bindPw = getenv('BIND_PW'); $base = getenv('BASE');
$people = "ou=people,$base"; $groups = "ou=groups,$base";
$aliceDn = "uid=alice,$people"; $alicePw = 'Alice-Passw0rd!';

// Nextcloud sets the TLS options globally before connecting. PHP cannot make a new TLS context
// per connection, so the check that the certificate is verified (CHECK_WRONG_CA: a CA file
// without the demo CA) runs in a process of its own.
$wrongCa = getenv('CHECK_WRONG_CA');
ldap_set_option(null, LDAP_OPT_X_TLS_CACERTFILE, $wrongCa ?: $ca);
ldap_set_option(null, LDAP_OPT_X_TLS_REQUIRE_CERT, LDAP_OPT_X_TLS_DEMAND);
if ($wrongCa) {
    $x = ldap_connect($ldapsUri);
    ldap_set_option($x, LDAP_OPT_PROTOCOL_VERSION, 3);
    report(!@ldap_bind($x, $bindDn, $bindPw), 'LDAPS: a CA file without the demo CA is refused (the certificate is verified)');
    exit($failed === 0 ? 0 : 1);
}

function connect($uri, $startTls) {
    $c = ldap_connect($uri);
    ldap_set_option($c, LDAP_OPT_PROTOCOL_VERSION, 3);
    ldap_set_option($c, LDAP_OPT_REFERRALS, 0);
    ldap_set_option($c, LDAP_OPT_NETWORK_TIMEOUT, 10);
    if ($startTls && !@ldap_start_tls($c)) {
        return false;
    }
    return $c;
}

function dn_norm($dn) { return strtolower($dn); }

// Every entry of a paged search, and the number of pages.
function paged_search($c, $base, $filter, $attrs, $pageSize, &$pages) {
    $cookie = '';
    $pages = 0;
    $all = [];
    do {
        $res = ldap_search($c, $base, $filter, $attrs, 0, 0, 0, LDAP_DEREF_NEVER,
            [['oid' => LDAP_CONTROL_PAGEDRESULTS, 'iscritical' => true,
              'value' => ['size' => $pageSize, 'cookie' => $cookie]]]);
        if ($res === false) { return false; }
        ldap_parse_result($c, $res, $errcode, $matched, $errmsg, $referrals, $controls);
        if ($errcode !== 0) { return false; }
        $entries = ldap_get_entries($c, $res);
        for ($i = 0; $i < $entries['count']; $i++) { $all[] = $entries[$i]; }
        $pages++;
        $cookie = $controls[LDAP_CONTROL_PAGEDRESULTS]['value']['cookie'] ?? '';
    } while ($cookie !== '' && $pages < 1000);
    return $all;
}

foreach ([[$ldapsUri, false, 'LDAPS'], [$ldapUri, true, 'StartTLS']] as [$uri, $startTls, $label]) {
    $c = connect($uri, $startTls);
    report($c !== false, "$label: connection" . ($startTls ? ' and StartTLS' : ''));
    if ($c === false) { continue; }
    report(@ldap_bind($c, $bindDn, $bindPw), "$label: bind as the agent (ldapAgentName)", ldap_error($c));

    // The wizard counts users, in pages.
    $users = paged_search($c, $base, '(&(|(objectclass=inetOrgPerson)))', ['dn'], 5, $pages);
    $plain = ldap_get_entries($c, ldap_search($c, $base, '(&(|(objectclass=inetOrgPerson)))', ['dn']));
    report($users !== false && count($users) === $plain['count'] && $pages >= ($plain['count'] / 5),
        "$label: paged user count (page size 5) equals a plain search: " . count($users ?: []) . " users in $pages pages",
        ldap_error($c));

    // Login: user name, then mail address, through the login filter.
    $userAttrs = ['dn', 'uid', 'samaccountname', 'memberof', 'mail', 'displayname', 'jpegphoto',
                  'thumbnailphoto', 'entryuuid', 'nsuniqueid', 'objectguid', 'guid', 'ipauniqueid'];
    foreach (['alice', 'alice@contoso.com'] as $login) {
        $l = ldap_escape($login, '', LDAP_ESCAPE_FILTER);
        $filter = "(&(&(|(objectclass=inetOrgPerson)))(|(uid=$l)(|(mailPrimaryAddress=$l)(mail=$l))))";
        $res = ldap_search($c, $base, $filter, $userAttrs);
        $e = $res ? ldap_get_entries($c, $res) : ['count' => 0];
        report($e['count'] === 1 && dn_norm($e[0]['dn']) === dn_norm($aliceDn),
            "$label: login filter finds alice by '$login'", $e['count'] . ' entries');
        if ($e['count'] === 1) {
            report(($e[0]['displayname'][0] ?? '') === 'Alice Smith' && ($e[0]['mail'][0] ?? '') === 'alice@contoso.com',
                "$label: displayname and mail as Nextcloud reads them (lower-cased keys)");
        }
    }

    // UUID detection: the first of Nextcloud's candidates the entry has.
    $r = ldap_read($c, $aliceDn, 'objectclass=*', ['entryuuid', 'nsuniqueid', 'objectguid', 'guid', 'ipauniqueid']);
    $e = $r ? ldap_get_entries($c, $r) : ['count' => 0];
    $uuidAttr = null;
    foreach (['entryuuid', 'nsuniqueid', 'objectguid', 'guid', 'ipauniqueid'] as $a) {
        if ($e['count'] && isset($e[0][$a])) { $uuidAttr = $a; break; }
    }
    report($uuidAttr === 'entryuuid' && preg_match('/^[0-9a-f-]{36}$/', $e[0]['entryuuid'][0]) === 1,
        "$label: UUID attribute detected: entryuuid (" . ($e[0]['entryuuid'][0] ?? '-') . ')');

    // Groups: memberof of the user, the group list, a group's members.
    $r = ldap_read($c, $aliceDn, '(objectclass=*)', ['memberof']);
    $e = $r ? ldap_get_entries($c, $r) : ['count' => 0];
    $memberOf = $e['count'] ? array_map('dn_norm', array_slice($e[0]['memberof'] ?? ['count' => 0], 1)) : [];
    report(in_array(dn_norm("cn=VPN Users,$groups"), $memberOf, true) && in_array(dn_norm("cn=All Staff,$groups"), $memberOf, true),
        "$label: memberof of alice lists VPN Users and (nested) All Staff");
    $gs = paged_search($c, $base, '(&(|(objectclass=groupOfNames)))', ['cn', 'dn', 'member', 'memberuid', 'gidnumber'], 10, $gpages);
    $names = $gs === false ? [] : array_map(fn($g) => $g['cn'][0], $gs);
    report(in_array('VPN Users', $names, true) && in_array('R&D, Europe + "Special"', $names, true),
        "$label: group list (paged, page size 10): " . count($names) . " groups in $gpages pages");
    $r = ldap_read($c, "cn=VPN Users,$groups", '(objectclass=*)', ['member', 'memberuid', 'uniquemember']);
    $e = $r ? ldap_get_entries($c, $r) : ['count' => 0];
    $members = $e['count'] ? array_map('dn_norm', array_slice($e[0]['member'] ?? ['count' => 0], 1)) : [];
    report(in_array(dn_norm($aliceDn), $members, true), "$label: VPN Users' member lists alice");

    // The share dialog's user search.
    $res = ldap_search($c, $base, '(&(|(objectclass=inetOrgPerson))(|(uid=*ali*)(displayname=*ali*)(mail=*ali*)))', ['uid']);
    $e = $res ? ldap_get_entries($c, $res) : ['count' => 0];
    $uids = [];
    for ($i = 0; $i < $e['count']; $i++) { $uids[] = $e[$i]['uid'][0]; }
    report(in_array('alice', $uids, true) && in_array('alice-4163e669', $uids, true),
        "$label: user search *ali* finds alice and alice-4163e669", implode(',', $uids));
    ldap_unbind($c);

    // The password check: a bind as the user on a new connection.
    $u = connect($uri, $startTls);
    report($u !== false && @ldap_bind($u, $aliceDn, $alicePw), "$label: alice's password accepted by a bind as her DN",
        $u ? ldap_error($u) : 'no connection');
    $u = connect($uri, $startTls);
    $ok = $u !== false && @ldap_bind($u, $aliceDn, 'wrong-password');
    report(!$ok && $u !== false && ldap_errno($u) === 49, "$label: a wrong password is invalidCredentials (49)",
        $u ? ldap_errno($u) . ' ' . ldap_error($u) : 'no connection');
}

echo "php-ldap: $passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
