//! Standards conformance through a real client (OpenLDAP's `ldapsearch`/`ldapcompare`), on the
//! contoso tenant with inactive users served locked: assertion values that are not UTF-8 (RFC
//! 4511 §4.1.6), the syntax checks that make invalid assertions Undefined (RFC 4517), attribute
//! options (RFC 4512 §2.5) and Active Directory's "enabled users" filter. The differential test
//! (`tests/conformance/differential.sh`) compares the same and much more with slapd.

use crate::common::clients::{ldapcompare, ldapsearch, ldif_values};
use crate::common::harness::{BASE, Env, Running, SERVICE, SERVICE_PASSWORD};
use std::collections::BTreeSet;

async fn locked_tenant() -> Running {
    let env = Env::contoso().await;
    let cfg = env.config_with("", "  [tenant.users]\n  inactive = \"lock\"\n");
    Running::start_with(env, cfg).await
}

impl Running {
    /// The uids a filter selects (searched as the service account over LDAPS), or the
    /// ldapsearch exit code when it failed.
    async fn uids(&self, filter: &str) -> Result<BTreeSet<String>, i32> {
        let bind = (SERVICE, SERVICE_PASSWORD);
        let out = ldapsearch(&self.ca(), &self.ldaps(), bind, BASE, &[], filter, &["uid"]).await;
        if out.code != 0 {
            return Err(out.code);
        }
        Ok(ldif_values(&out.stdout, "uid").into_iter().collect())
    }

    async fn compare(&self, dn: &str, assertion: &str) -> i32 {
        let bind = (SERVICE, SERVICE_PASSWORD);
        ldapcompare(&self.ca(), &self.ldaps(), bind, dn, assertion)
            .await
            .code
    }
}

fn set(uids: &[&str]) -> Result<BTreeSet<String>, i32> {
    Ok(uids.iter().map(|s| s.to_string()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_assertions_are_undefined_not_errors() {
    let r = locked_tenant().await;
    // Non-UTF-8 values: the request is valid, the item Undefined, the connection stays.
    for f in [
        r"(|(uid=alice)(cn=\ff))",
        r"(|(uid=alice)(cn=Zo\c3))",
        r"(|(uid=alice)(cn=\fe*))",
        r"(|(uid=alice)(sshPublicKey=\00\ff))",
        r"(|(uid=alice)(cn:caseIgnoreMatch:=\c0\80))",
    ] {
        assert_eq!(r.uids(f).await, set(&["alice"]), "{f}");
    }
    for f in [
        r"(&(uid=alice)(!(cn=\ff)))",
        r"(cn=\ed\a0\80)",
        // Invalid INTEGER, UUID, OID, Boolean and empty Directory String assertions.
        "(&(uid=alice)(!(uidNumber=0290193)))",
        "(uidNumber=+290193)",
        "(uidNumber>= 300000)",
        "(entryUUID={a1ce0000-0000-4000-8000-000000000001})",
        "(&(uid=alice)(!(objectClass= person )))",
        "(nsAccountLock=true)",
        "(&(uid=alice)(!(description=)))",
        // Options make a description unrecognised.
        "(uid;x-opt=alice)",
        "(&(uid=alice)(!(uid;x-opt=bob)))",
    ] {
        assert_eq!(r.uids(f).await, set(&[]), "{f}");
    }
    // An Octet String takes any octets: a valid value no entry holds, so its negation is True.
    assert_eq!(
        r.uids(r"(&(uid=alice)(!(sshPublicKey=\00\ff)))").await,
        set(&["alice"])
    );
    // INTEGER is unbounded.
    let everyone = r.uids("(uidNumber=*)").await.unwrap();
    assert!(everyone.len() > 40, "{everyone:?}");
    assert_eq!(
        r.uids("(uidNumber<=99999999999999999999)").await,
        Ok(everyone.clone())
    );
    // Compare: an invalid value is an error (invalidAttributeSyntax, 21), not compareFalse.
    let alice = format!("uid=alice,ou=people,{BASE}");
    assert_eq!(r.compare(&alice, "uidNumber:0290193").await, 21);
    assert_eq!(r.compare(&alice, "nsAccountLock:true").await, 21);
    assert_eq!(r.compare(&alice, "memberOf:not a dn").await, 21);
    assert_eq!(r.compare(&alice, "cn:: /w==").await, 21);
    assert_eq!(r.compare(&alice, "uid;x-opt:alice").await, 17);
    assert_eq!(r.compare(&alice, "uid:ALICE").await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_enabled_users_filter_returns_exactly_the_enabled_users() {
    let r = locked_tenant().await;
    let enabled = r
        .uids("(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))")
        .await
        .unwrap();
    let disabled = r
        .uids("(&(objectCategory=person)(objectClass=user)(userAccountControl:1.2.840.113556.1.4.803:=2))")
        .await
        .unwrap();
    let unlocked = r
        .uids("(&(objectClass=inetOrgPerson)(!(nsAccountLock=TRUE)))")
        .await
        .unwrap();
    assert_eq!(disabled, set(&["dave.disabled"]).unwrap());
    assert_eq!(enabled, unlocked);
    assert!(!enabled.contains("dave.disabled") && enabled.contains("alice"));
    // 512 and 514 exactly; the OR rule (804) agrees.
    assert_eq!(
        r.uids("(userAccountControl=514)").await,
        set(&["dave.disabled"])
    );
    assert_eq!(
        r.uids("(userAccountControl=512)").await,
        Ok(enabled.clone())
    );
    assert_eq!(
        r.uids("(userAccountControl:1.2.840.113556.1.4.804:=3)")
            .await,
        set(&["dave.disabled"])
    );
}
