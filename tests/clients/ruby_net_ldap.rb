#!/usr/bin/ruby
# Ruby net-ldap (Debian's ruby-net-ldap) against a running o365-ldap, doing what GitLab does with it
# (omniauth-ldap for sign-in, Gitlab::Auth::Ldap::Adapter and Person for lookups and the daily
# LDAP sync):
#   - encryption simple_tls (LDAPS) and start_tls, verifying the server against the CA (ca_file);
#   - bind as bind_dn, then omniauth-ldap's bind_as: search the user with
#     "(&(uid=alice)(memberOf=...))" (uid plus the user_filter) and bind as the entry found;
#   - Person.find_by_uid / find_by_email: "(uid=alice)" and "(|(mail=...)(email=...)(userPrincipalName=...))"
#     asking for GitLab's attribute lists (username: uid userid sAMAccountName, email: mail email
#     userPrincipalName, name: cn, first_name: givenName, last_name: sn);
#   - the sync: a base search on each user's DN, every user through net-ldap's automatic paged
#     search (RFC 2696, 126 per page), and group lookups ((&(objectclass=groupOfNames)(cn=...)))
#     with the user found among the group's members.
# Run by tests/clients/ruby_net_ldap.sh, which starts `o365-ldap demo` and passes LDAPS_PORT,
# LDAP_PORT, CA, BIND_DN, BIND_PW, BASE. Prints ok/FAIL lines and "ruby-net-ldap: N passed, M failed".
require 'net/ldap'
require 'openssl'

$passed = 0
$failed = 0

def report(ok, what, detail = nil)
  if ok
    $passed += 1
    puts "ok   - #{what}"
  else
    $failed += 1
    puts "FAIL - #{what}#{detail ? ": #{detail}" : ''}"
  end
end

env = ENV
ca, bind_dn, bind_pw, base = env.fetch('CA'), env.fetch('BIND_DN'), env.fetch('BIND_PW'), env.fetch('BASE')
people = "ou=people,#{base}"
groups = "ou=groups,#{base}"
alice_dn = "uid=alice,#{people}"
alice_pw = 'Alice-Passw0rd!'
tls = { ca_file: ca, verify_mode: OpenSSL::SSL::VERIFY_PEER }

def ldap_for(port, method, tls, auth)
  Net::LDAP.new(host: 'localhost', port: port.to_i,
                encryption: { method: method, tls_options: tls },
                auth: auth, connect_timeout: 10)
end

service = { method: :simple, username: bind_dn, password: bind_pw }
gitlab_attrs = %w[dn uid userid sAMAccountName mail email userPrincipalName cn givenName sn]

[[:simple_tls, env.fetch('LDAPS_PORT'), 'LDAPS'], [:start_tls, env.fetch('LDAP_PORT'), 'StartTLS']].each do |method, port, label|
  ldap = ldap_for(port, method, tls, service)
  report(ldap.bind, "#{label}: bind as the service account", ldap.get_operation_result.inspect)

  # omniauth-ldap: bind_as with uid plus GitLab's user_filter.
  user_filter = "(memberOf=cn=VPN Users,#{groups})"
  filter = Net::LDAP::Filter.join(Net::LDAP::Filter.eq('uid', 'alice'), Net::LDAP::Filter.construct(user_filter))
  found = ldap.bind_as(base: base, filter: filter, password: alice_pw, size: 1)
  report(found.is_a?(Array) && found.first && found.first.dn == alice_dn,
         "#{label}: bind_as finds alice with uid + user_filter and binds as her", ldap.get_operation_result.inspect)
  bad = ldap_for(port, method, tls, service).bind_as(base: base, filter: filter, password: 'wrong-password', size: 1)
  report(bad == false, "#{label}: bind_as with a wrong password fails")
  outsider = Net::LDAP::Filter.join(Net::LDAP::Filter.eq('uid', 'dan.brown'), Net::LDAP::Filter.construct(user_filter))
  report(ldap_for(port, method, tls, service).bind_as(base: base, filter: outsider, password: 'x', size: 1) == false,
         "#{label}: bind_as finds no one outside the user_filter group (dan.brown)")
end

# The server's certificate is checked: with a CA file that does not hold the demo CA, no bind.
other_ca = { ca_file: '/etc/ssl/certs/ca-certificates.crt', verify_mode: OpenSSL::SSL::VERIFY_PEER }
refused = begin
  !ldap_for(env.fetch('LDAPS_PORT'), :simple_tls, other_ca, service).bind
rescue StandardError
  true
end
report(refused, 'LDAPS: a CA file without the demo CA is refused (the certificate is verified)')

ldap = ldap_for(env.fetch('LDAPS_PORT'), :simple_tls, tls, service)
ldap.open do |conn|
  # Person.find_by_uid
  entries = conn.search(base: base, filter: Net::LDAP::Filter.eq('uid', 'alice'), attributes: gitlab_attrs) || []
  report(entries.size == 1 && entries.first.dn == alice_dn, 'find_by_uid: (uid=alice) finds alice',
         conn.get_operation_result.inspect)
  if (e = entries.first)
    report(e[:mail].first == 'alice@contoso.com' && e[:cn].first == 'Alice Smith' && e[:givenname].first == 'Alice' &&
           e[:sn].first == 'Smith' && e[:userprincipalname].first == 'alice@contoso.com' && e[:samaccountname].first == 'alice',
           'find_by_uid: mail, cn, givenName, sn, userPrincipalName and sAMAccountName as GitLab maps them')
  end
  # Person.find_by_email
  email = 'alice@contoso.com'
  f = Net::LDAP::Filter.eq('mail', email) | Net::LDAP::Filter.eq('email', email) | Net::LDAP::Filter.eq('userPrincipalName', email)
  entries = conn.search(base: base, filter: f, attributes: gitlab_attrs) || []
  report(entries.map(&:dn) == [alice_dn], 'find_by_email: mail, email or userPrincipalName finds alice',
         entries.map(&:dn).inspect)
  # The sync reads each user by DN.
  entries = conn.search(base: alice_dn, scope: Net::LDAP::SearchScope_BaseObject, filter: '(objectClass=*)',
                        attributes: gitlab_attrs) || []
  report(entries.size == 1, 'sync: base search on alice\'s DN')
  entries = conn.search(base: "uid=nobody,#{people}", scope: Net::LDAP::SearchScope_BaseObject, filter: '(objectClass=*)')
  report(entries.nil? && conn.get_operation_result.code == 32, 'sync: a vanished user is noSuchObject (GitLab blocks the account)',
         conn.get_operation_result.inspect)
  # Every user: net-ldap pages automatically when the root DSE lists the paged-results control.
  report(conn.search_root_dse[:supportedcontrol].include?('1.2.840.113556.1.4.319'),
         'the root DSE lists the paged-results control (net-ldap then pages every search)')
  users = conn.search(base: people, filter: Net::LDAP::Filter.eq('objectClass', 'posixAccount'), attributes: %w[uid]) || []
  report(users.size > 40 && users.map(&:dn).uniq.size == users.size,
         "sync: every user through a paged search (#{users.size}, each once)", conn.get_operation_result.inspect)
  # Group sync (GitLab EE group links): the group by cn, then its members.
  g = conn.search(base: groups, filter: '(&(objectclass=groupOfNames)(cn=VPN Users))', attributes: %w[cn member memberuid]) || []
  report(g.size == 1 && g.first[:member].map(&:downcase).include?(alice_dn.downcase),
         'group sync: VPN Users lists alice in member')
  g = conn.search(base: groups, filter: Net::LDAP::Filter.eq('cn', 'R&D, Europe + "Special"'), attributes: %w[cn]) || []
  report(g.size == 1, 'group sync: a group whose name holds , + and " is found by cn (filter escaping)', g.map(&:dn).inspect)
  nested = conn.search(base: people, filter: Net::LDAP::Filter.ex('memberOf:1.2.840.113556.1.4.1941', "cn=All Staff,#{groups}"),
                       attributes: %w[uid]) || []
  report(nested.map { |x| x[:uid].first }.include?('alice'),
         'user_filter with the in-chain rule (memberOf:1.2.840.113556.1.4.1941:=All Staff) finds alice')
end

puts "ruby-net-ldap: #{$passed} passed, #{$failed} failed"
exit($failed.zero? ? 0 : 1)
