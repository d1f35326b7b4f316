//! User binds end to end: the Graph/Entra emulator with its password grant, the
//! server's real code path, one sync round, then `ldapwhoami` and `ldap3` binding as users
//! over LDAPS and StartTLS; throttling proven with the emulator's grant counter.

use crate::common::clients::{connect, tool};
use crate::common::harness::{Env, Running};
use emulator::Mutation;
use o365_ldap::cli::serve::Server;

const ALICE_PW: &str = "Alice-Passw0rd!";
const ALICE_DN: &str = "uid=alice,ou=people,dc=contoso,dc=com";
const ALICE_ID: &str = "a1ce0000-0000-4000-8000-000000000001";
const CHRIS_ID: &str = "566bf9d7-c55a-45f8-91a6-e55e9b9b1325";
const NORA_ID: &str = "c1d77cff-b7de-4c0c-9d96-cf7f265beda9";

impl Running {
    async fn with_auth(auth: &str) -> Running {
        let env = Env::contoso().await;
        Running::with_auth_in(env, auth).await
    }

    async fn with_auth_in(env: Env, auth: &str) -> Running {
        let cfg = env.config_with("", &format!("\n[auth]\n{auth}\n"));
        Running::start_with(env, cfg).await
    }
    fn grants(&self, upn: &str) -> u64 {
        let stats = self.env.emu.as_ref().expect("emulator runs").stats();
        stats.password_grants_by_user.get(upn).copied().unwrap_or(0)
    }
    /// Bind with ldap3 over LDAPS; the result code and diagnostic text.
    async fn bind(&self, name: &str, pw: &str) -> (u32, String) {
        let mut ldap = connect(&self.ldaps(), &self.ca(), false).await;
        let res = ldap.simple_bind(name, pw).await.expect("bind answered");
        let _ = ldap.unbind().await;
        (res.rc, res.text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_bind_by_dn_upn_and_mail_over_ldaps_and_starttls() {
    let r = Running::with_auth("user_bind = \"entra\"\ncache_ttl = \"0s\"").await;
    // ldapwhoami over LDAPS by UPN, and over StartTLS by DN.
    let ldaps = r.ldaps();
    let run = tool(
        &r.ca(),
        "ldapwhoami",
        &[
            "-x",
            "-H",
            &ldaps,
            "-D",
            "alice@contoso.com",
            "-w",
            ALICE_PW,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), format!("dn:{ALICE_DN}"));
    let ldap = r.ldap();
    let run = tool(
        &r.ca(),
        "ldapwhoami",
        &["-x", "-ZZ", "-H", &ldap, "-D", ALICE_DN, "-w", ALICE_PW],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), format!("dn:{ALICE_DN}"));
    // ldap3 over StartTLS by DN (case differs), then a search of the own tenant works.
    let mut c = connect(&r.ldap(), &r.ca(), true).await;
    let res = c
        .simple_bind("UID=Alice,OU=People,DC=contoso,DC=com", ALICE_PW)
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let who = c.extended(ldap3::exop::WhoAmI).await.unwrap();
    assert_eq!(who.1.rc, 0);
    let _ = c.unbind().await;
    // ldap3 over LDAPS by UPN in another case.
    assert_eq!(r.bind("ALICE@Contoso.com", ALICE_PW).await.0, 0);
    // Wrong password → 49; unknown names → 49 without a grant request.
    let (rc, text) = r.bind("alice@contoso.com", "alice-passw0rd!").await;
    assert_eq!(rc, 49, "{text}");
    let before = r.grants("nobody@contoso.com");
    let (rc, _) = r.bind("nobody@contoso.com", "x").await;
    assert_eq!(rc, 49);
    assert_eq!(r.grants("nobody@contoso.com"), before);
    // Password not trimmed: a trailing space is a different password.
    assert_eq!(
        r.bind("alice@contoso.com", &format!("{ALICE_PW} ")).await.0,
        49
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_and_conditional_access_are_explained() {
    let env = Env::contoso().await;
    let emu = env.emu.as_ref().unwrap();
    for (id, signin) in [(CHRIS_ID, "mfa"), (NORA_ID, "conditional_access")] {
        let mut patch = serde_json::Map::new();
        patch.insert("_password".into(), "Right-Passw0rd!".into());
        patch.insert("_signin".into(), signin.into());
        emu.mutate(Mutation::UpdateUser {
            id: id.into(),
            patch,
        })
        .await
        .expect("mutation applies");
    }
    let r = Running::with_auth_in(env, "user_bind = \"entra\"").await;
    let (rc, text) = r.bind("chris.lee@contoso.com", "Right-Passw0rd!").await;
    assert_eq!(rc, 49);
    assert!(text.contains("MFA"), "{text}");
    assert!(text.contains("auth.user_bind = \"local\""), "{text}");
    let (rc, text) = r.bind("nora.quinn@contoso.com", "Right-Passw0rd!").await;
    assert_eq!(rc, 49);
    assert!(text.contains("Conditional Access"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_wrong_binds_reach_entra_at_most_ten_times() {
    let r = Running::with_auth("user_bind = \"entra\"\nfailure_delay = \"0s\"").await;
    let mut throttled = 0;
    for n in 0..30 {
        let (rc, text) = r.bind("bob@contoso.com", &format!("guess-{n}")).await;
        assert_eq!(rc, 49, "{text}");
        if text.contains("too many failed binds") {
            throttled += 1;
        }
    }
    let grants = r.grants("bob@contoso.com");
    assert!(grants <= 10, "{grants} grant requests");
    assert!(grants >= 1);
    assert!(throttled >= 20, "{throttled}");
    // Locked out locally: even the right password is not checked (and Entra not asked).
    let (rc, text) = r.bind("bob@contoso.com", "Bob-Passw0rd!").await;
    assert_eq!(rc, 49);
    assert!(text.contains("too many failed binds"), "{text}");
    assert_eq!(r.grants("bob@contoso.com"), grants);
    // Other users are unaffected (the address limit is higher).
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
}

/// Users behind a VPN gateway mistype all morning: they all bind through the gateway's one
/// address. Users with the right password, and the gateway's service account, keep binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateways_mistyping_users_never_lock_out_the_others() {
    use crate::common::harness::{SERVICE, SERVICE_PASSWORD};
    let mistypers = [
        "carol.white@contoso.com",
        "dan.brown@contoso.com",
        "emma.davis@contoso.com",
        "fatima.khan@contoso.com",
        "george.martin@contoso.com",
        "hiro.tanaka@contoso.com",
        "isabel.garcia@contoso.com",
        "jack.wilson@contoso.com",
    ];
    // Without trusted_sources, the address limit (here 5) is reached, yet the service account
    // and alice, who bound from this address before, keep binding; a user binding through it
    // for the first time has to wait.
    let r = Running::with_auth(
        "user_bind = \"entra\"\nfailure_delay = \"0s\"\nmax_failures_per_ip = 5\ncache_ttl = \"0s\"",
    )
    .await;
    assert_eq!(r.bind(SERVICE, SERVICE_PASSWORD).await.0, 0);
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    for upn in mistypers {
        for n in 0..2 {
            assert_eq!(r.bind(upn, &format!("typo-{n}")).await.0, 49);
        }
    }
    assert_eq!(r.bind(SERVICE, SERVICE_PASSWORD).await.0, 0);
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    let (rc, text) = r.bind("bob@contoso.com", "Bob-Passw0rd!").await;
    assert_eq!(rc, 49);
    assert!(text.contains("too many failed binds"), "{text}");
    r.server.stop().await;

    // With the gateway listed in trusted_sources, nobody but the mistyping users is affected,
    // and each of them only by their own failures.
    let r = Running::with_auth(
        "user_bind = \"entra\"\nfailure_delay = \"0s\"\nmax_failures_per_ip = 5\n\
         cache_ttl = \"0s\"\ntrusted_sources = [\"127.0.0.0/8\", \"::1\"]",
    )
    .await;
    for upn in mistypers {
        for n in 0..4 {
            assert_eq!(r.bind(upn, &format!("typo-{n}")).await.0, 49);
        }
    }
    assert_eq!(r.bind(SERVICE, SERVICE_PASSWORD).await.0, 0);
    assert_eq!(r.bind("bob@contoso.com", "Bob-Passw0rd!").await.0, 0);
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    // A phone retrying one old password neither locks its owner out nor reaches Entra again.
    let before = r.grants("alice@contoso.com");
    for _ in 0..20 {
        assert_eq!(r.bind("alice@contoso.com", "old-Passw0rd!").await.0, 49);
    }
    assert_eq!(r.grants("alice@contoso.com"), before + 1);
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    // Brute force through the gateway still reaches Entra at most the familiar budget.
    let before = r.grants("carol.white@contoso.com");
    for n in 0..30 {
        assert_eq!(
            r.bind("carol.white@contoso.com", &format!("guess-{n}"))
                .await
                .0,
            49
        );
    }
    assert!(r.grants("carol.white@contoso.com") - before <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_users_never_bind() {
    let r = Running::with_auth("user_bind = \"entra_or_local\"").await;
    for pw in ["anything", "Dave-Passw0rd!", ""] {
        if pw.is_empty() {
            continue;
        }
        let (rc, _) = r.bind("dave.disabled@contoso.com", pw).await;
        assert_eq!(rc, 49);
    }
    assert_eq!(r.grants("dave.disabled@contoso.com"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_passwords_work_without_entra() {
    let env = Env::contoso().await;
    {
        // Before the server opens the database (redb: one process, one handle).
        let store = o365_ldap::store::Store::open(&env.data_dir()).unwrap();
        o365_ldap::auth::set_password(&store, "contoso", ALICE_ID, " local, \"pw\" + ").unwrap();
    }
    let r = Running::with_auth_in(env, "user_bind = \"local\"").await;
    assert_eq!(r.bind("alice@contoso.com", " local, \"pw\" + ").await.0, 0);
    assert_eq!(r.bind(ALICE_DN, " local, \"pw\" + ").await.0, 0);
    // The Microsoft 365 password is not accepted in local mode, and Entra is never asked.
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 49);
    let (rc, text) = r.bind("bob@contoso.com", "Bob-Passw0rd!").await;
    assert_eq!(rc, 49);
    assert!(text.contains("no directory password"), "{text}");
    assert_eq!(
        r.grants("alice@contoso.com") + r.grants("bob@contoso.com"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_avoids_grants_and_outages_give_unavailable() {
    let r = Running::with_auth("user_bind = \"entra\"\ncache_ttl = \"10m\"").await;
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    assert_eq!(
        r.grants("alice@contoso.com"),
        1,
        "second bind served from the cache"
    );
    let Running { mut env, server } = r;
    env.stop_graph().await;
    let r = Running { env, server };
    // Within the TTL the cached password still binds; anything else cannot be checked → 52.
    assert_eq!(r.bind("alice@contoso.com", ALICE_PW).await.0, 0);
    let (rc, text) = r.bind("bob@contoso.com", "Bob-Passw0rd!").await;
    assert_eq!(rc, 52, "{text}");
    let (rc, _) = r.bind("alice@contoso.com", "other").await;
    assert_eq!(rc, 52);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_password_through_the_admin_socket_while_serving() {
    use o365_ldap::admin::{Request, client};
    let r = Running::with_auth("user_bind = \"entra_or_local\"\ncache_ttl = \"0s\"").await;
    let sock = r.env.dir.path().join("admin.sock");
    let set = Request::SetPassword {
        user: "bob".into(),
        password: Some("Local pw ".into()),
    };
    let data = client::call(&sock, &set, |_| {})
        .await
        .expect("set-password");
    assert!(
        data["message"].as_str().unwrap().contains("uid=bob"),
        "{data}"
    );
    // entra_or_local: the local password is checked first, without asking Entra.
    assert_eq!(r.bind("bob@contoso.com", "Local pw ").await.0, 0);
    assert_eq!(r.grants("bob@contoso.com"), 0);
    // Remove it: the Microsoft 365 password works again (through Entra).
    let rm = Request::SetPassword {
        user: "bob@contoso.com".into(),
        password: None,
    };
    let data = client::call(&sock, &rm, |_| {}).await.expect("remove");
    assert!(
        data["message"].as_str().unwrap().contains("removed"),
        "{data}"
    );
    assert_eq!(r.bind("bob@contoso.com", "Bob-Passw0rd!").await.0, 0);
    assert_eq!(r.grants("bob@contoso.com"), 1);
    // Unknown users are an error, not a silent success.
    let bad = Request::SetPassword {
        user: "nobody@contoso.com".into(),
        password: Some("x".into()),
    };
    assert!(client::call(&sock, &bad, |_| {}).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_users_are_served_but_never_bind() {
    let env = Env::contoso().await;
    let cfg = env.config_with(
        "",
        "\n  [tenant.users]\n  inactive = \"lock\"\n\n[auth]\nuser_bind = \"entra\"\n",
    );
    let server = Server::start(cfg, false).await.expect("server starts");
    server
        .engine
        .sync_tenant("contoso")
        .await
        .expect("first round succeeds");
    let r = Running { env, server };
    // The disabled user is served, locked.
    let snap = r.server.engine.snapshot().load_full();
    let dave = snap.find_eq("userPrincipalName", "dave.disabled@contoso.com");
    assert_eq!(dave.len(), 1, "served when users.inactive = \"lock\"");
    assert_eq!(snap.entry(dave[0]).first("nsAccountLock"), Some("TRUE"));
    let (rc, text) = r.bind("dave.disabled@contoso.com", "any-password").await;
    assert_eq!(rc, 49);
    assert!(text.contains("locked"), "{text}");
    assert_eq!(
        r.grants("dave.disabled@contoso.com"),
        0,
        "Entra is never asked"
    );
}
