// ldapts (npm, pinned in package.json / package-lock.json) against a running o365-ldap, doing what
// Node.js applications do with it; the flow is n8n's LDAP login and user sync
// (packages/cli/src/ldap: bind as the admin DN, search the login id combined with the user filter,
// verify the password by a bind on a new client, page through every user for the sync), plus the
// group checks Node apps add (a group search by member, Compare on member) and Who-am-I.
// LDAPS with the CA in tlsOptions, and StartTLS on the plain port.
// Run by tests/clients/ldapts.sh, which starts `o365-ldap demo` and passes LDAPS_URI, LDAP_URI, CA,
// BIND_DN, BIND_PW, BASE. Prints ok/FAIL lines and "ldapts: N passed, M failed".
import { readFileSync } from 'node:fs';
import { Client, InvalidCredentialsError, escapeFilter } from 'ldapts';

let passed = 0;
let failed = 0;
function report(ok, what, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok   - ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL - ${what}${detail !== undefined ? `: ${detail}` : ''}`);
  }
}
const FAILED = Symbol('failed');
// Runs fn; on an exception reports a failure and returns FAILED.
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (e) {
    report(false, what, `${e.name}: ${e.message}`);
    return FAILED;
  }
}

const env = process.env;
const { LDAPS_URI, LDAP_URI, CA, BIND_DN, BIND_PW, BASE } = env;
const people = `ou=people,${BASE}`;
const groups = `ou=groups,${BASE}`;
const aliceDN = `uid=alice,${people}`;
const alicePW = 'Alice-Passw0rd!';
const tlsOptions = { ca: [readFileSync(CA)], minVersion: 'TLSv1.2' };
const same = (a, b) => a.toLowerCase() === b.toLowerCase();

async function newClient(secure) {
  if (secure === 'ldaps') {
    return new Client({ url: LDAPS_URI, tlsOptions, timeout: 10000, connectTimeout: 10000 });
  }
  const client = new Client({ url: LDAP_URI, timeout: 10000, connectTimeout: 10000 });
  await client.startTLS(tlsOptions);
  return client;
}

for (const secure of ['ldaps', 'startTLS']) {
  const label = secure === 'ldaps' ? 'LDAPS' : 'StartTLS';
  const admin = await attempt(`${label}: connect`, () => newClient(secure));
  if (admin === FAILED) continue;
  if (await attempt(`${label}: bind as the admin DN`, () => admin.bind(BIND_DN, BIND_PW)) !== FAILED) {
    report(true, `${label}: bind as the admin DN`);
  }

  // Login: loginIdAttribute + userFilter, the login escaped.
  const loginId = 'alice';
  const userFilter = '(objectClass=inetOrgPerson)';
  const found = await attempt(`${label}: login search`, () =>
    admin.search(BASE, {
      scope: 'sub',
      filter: `(&${escapeFilter`(uid=${loginId})`}${userFilter})`,
      attributes: ['uid', 'mail', 'givenName', 'sn', 'entryUUID', 'memberOf'],
    }));
  if (found !== FAILED) {
    const e = found.searchEntries;
    report(e.length === 1 && same(e[0].dn, aliceDN), `${label}: login search finds alice`, JSON.stringify(e.map((x) => x.dn)));
    if (e.length === 1) {
      report(e[0].mail === 'alice@contoso.com' && e[0].givenName === 'Alice' && e[0].sn === 'Smith'
        && e[0].entryUUID === 'a1ce0000-0000-4000-8000-000000000001',
        `${label}: mail, givenName, sn and entryUUID (n8n's ldapId) read`);
      const memberOf = [].concat(e[0].memberOf || []);
      report(memberOf.some((g) => same(g, `cn=VPN Users,${groups}`)), `${label}: memberOf lists VPN Users`);
    }
  }
  const injected = await attempt(`${label}: login search with filter characters`, () =>
    admin.search(BASE, { filter: `(&${escapeFilter`(uid=${'*)(uid=*'})`}${userFilter})`, attributes: ['uid'] }));
  if (injected !== FAILED) report(injected.searchEntries.length === 0, `${label}: an escaped login with filter characters finds nobody`);

  // The password, checked by a bind on a new client.
  const user = await attempt(`${label}: second connection`, () => newClient(secure));
  if (user !== FAILED) {
    const ok = await attempt(`${label}: alice binds with her password`, () => user.bind(aliceDN, alicePW));
    if (ok !== FAILED) report(true, `${label}: alice binds with her password`);
    const who = await attempt(`${label}: Who-am-I`, () => user.exop('1.3.6.1.4.1.4203.1.11.3'));
    if (who !== FAILED) report(who.value === `dn:${aliceDN}`, `${label}: Who-am-I after alice's bind names her DN`, who.value);
    await user.unbind();
  }
  const bad = await newClient(secure).catch(() => null);
  try {
    if (!bad) throw new Error("no connection");
    await bad.bind(aliceDN, 'wrong-password');
    report(false, `${label}: a wrong password is refused`, 'the bind succeeded');
  } catch (e) {
    report(e instanceof InvalidCredentialsError, `${label}: a wrong password is refused with InvalidCredentialsError`, e.name);
  }
  if (bad) await bad.unbind().catch(() => {});

  // User sync: every user, in pages (n8n's searchPageSize), and page by page.
  const paged = await attempt(`${label}: paged search`, () =>
    admin.search(people, { filter: '(&(uid=*)(objectClass=inetOrgPerson))', attributes: ['uid'], paged: { pageSize: 5 } }));
  const plain = await attempt(`${label}: plain search`, () =>
    admin.search(people, { filter: '(&(uid=*)(objectClass=inetOrgPerson))', attributes: ['uid'] }));
  if (paged !== FAILED && plain !== FAILED) {
    const dns = new Set(paged.searchEntries.map((x) => x.dn.toLowerCase()));
    report(paged.searchEntries.length === plain.searchEntries.length && dns.size === plain.searchEntries.length
      && plain.searchEntries.length > 5,
    `${label}: paged user sync (page size 5) returns every user once (${paged.searchEntries.length} of ${plain.searchEntries.length})`);
  }
  let pages = 0;
  let total = 0;
  let biggest = 0;
  await attempt(`${label}: searchPaginated`, async () => {
    for await (const page of admin.searchPaginated(people, {
      filter: '(objectClass=posixAccount)', attributes: ['1.1'], paged: { pageSize: 7 },
    })) {
      pages += 1;
      total += page.searchEntries.length;
      biggest = Math.max(biggest, page.searchEntries.length);
    }
  });
  report(pages >= Math.ceil(total / 7) && biggest <= 7 && total > 7,
    `${label}: searchPaginated walks ${total} users in ${pages} pages of at most 7`);

  // Groups: by member, nested by the in-chain rule, and Compare on member.
  const g = await attempt(`${label}: group search by member`, () =>
    admin.search(groups, { filter: escapeFilter`(&(objectClass=groupOfNames)(member=${aliceDN}))`, attributes: ['cn'] }));
  if (g !== FAILED) {
    const cns = g.searchEntries.map((x) => x.cn);
    report(cns.includes('VPN Users') && cns.includes('Linux Admins'), `${label}: groups with alice as member`, JSON.stringify(cns));
  }
  const n = await attempt(`${label}: nested group search`, () =>
    admin.search(people, {
      filter: escapeFilter`(memberOf:1.2.840.113556.1.4.1941:=${`cn=All Staff,${groups}`})`, attributes: ['uid'],
    }));
  if (n !== FAILED) report(n.searchEntries.some((x) => x.uid === 'alice'), `${label}: in-chain memberOf search finds alice under All Staff`);
  const yes = await attempt(`${label}: compare`, () => admin.compare(`cn=VPN Users,${groups}`, 'member', aliceDN));
  const no = await attempt(`${label}: compare`, () => admin.compare(`cn=VPN Users,${groups}`, 'member', `uid=dan.brown,${people}`));
  report(yes === true && no === false, `${label}: Compare member of VPN Users (alice true, dan.brown false)`);
  await admin.unbind();
}

// The server's certificate is checked: with a CA that did not issue it, no connection.
const stranger = new Client({
  url: LDAPS_URI, tlsOptions: { ca: [readFileSync('/etc/ssl/certs/ca-certificates.crt')] }, connectTimeout: 10000,
});
try {
  await stranger.bind(BIND_DN, BIND_PW);
  report(false, 'LDAPS: a CA list without the demo CA is refused', 'the bind succeeded');
} catch (e) {
  report(/certificate|self.signed|issuer/i.test(`${e.code} ${e.message}`),
    'LDAPS: a CA list without the demo CA is refused (the certificate is verified)', `${e.code} ${e.message}`);
}
await stranger.unbind().catch(() => {});

console.log(`ldapts: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
