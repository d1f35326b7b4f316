//! Tests of `throttle.rs`: budgets, familiarity, trusted sources, repeats, bounds.

use super::*;

fn limits(n: u32, window: u64, lockout: u64) -> Limits {
    Limits {
        max_failures: n,
        window: Duration::from_secs(window),
        lockout: Duration::from_secs(lockout),
    }
}

fn policy(familiar: u32, unfamiliar: u32, address: u32) -> Policy {
    Policy {
        familiar: limits(familiar, 900, 600),
        unfamiliar: limits(unfamiliar, 900, 600),
        address: limits(address, 300, 600),
        trusted: vec!["10.8.0.0/16".parse().unwrap()],
        familiar_for: Duration::from_secs(30 * 86_400),
    }
}

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// `n` attempts with distinct wrong passwords; returns how many were admitted.
fn fail_n(
    t: &Throttle,
    account: &str,
    subject: Subject,
    from: &str,
    n: usize,
    now: Instant,
) -> usize {
    let mut admitted = 0;
    for i in 0..n {
        if let Ok(a) = t.begin_at(account, subject, ip(from), (&format!("wrong{i}"), b""), now) {
            admitted += 1;
            t.finish_at(a, Ending::Failure, now);
        }
    }
    admitted
}

fn succeed(t: &Throttle, account: &str, subject: Subject, from: &str, now: Instant) -> bool {
    match t.begin_at(account, subject, ip(from), ("right", b""), now) {
        Ok(a) => {
            t.finish_at(a, Ending::Success, now);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn a_stranger_cannot_lock_a_user_out_of_a_familiar_address() {
    let t = Throttle::new(policy(5, 3, 100));
    let t0 = Instant::now();
    assert!(succeed(&t, "user:c/alice", Subject::User, "192.0.2.1", t0));
    // 30 guesses from elsewhere: only the unfamiliar budget is spent.
    assert_eq!(
        fail_n(&t, "user:c/alice", Subject::User, "198.51.100.9", 30, t0),
        3
    );
    assert_eq!(
        t.begin_at(
            "user:c/alice",
            Subject::User,
            ip("203.0.113.5"),
            ("x", b""),
            t0
        )
        .unwrap_err(),
        Refusal::Unfamiliar
    );
    // Alice, at home, still binds.
    assert!(succeed(&t, "user:c/alice", Subject::User, "192.0.2.1", t0));
    // A success at home does not refill the stranger's budget.
    assert_eq!(
        fail_n(&t, "user:c/alice", Subject::User, "198.51.100.9", 5, t0),
        0
    );
}

#[test]
fn distinct_wrong_passwords_reach_the_check_at_most_both_budgets() {
    let t = Throttle::new(policy(5, 3, 1000));
    let t0 = Instant::now();
    assert!(succeed(&t, "user:c/bob", Subject::User, "192.0.2.1", t0));
    let mut checked = fail_n(&t, "user:c/bob", Subject::User, "192.0.2.1", 50, t0);
    for n in 0..50 {
        let from = ip(&format!("198.51.100.{n}"));
        let guess = format!("other-{n}");
        if let Ok(a) = t.begin_at("user:c/bob", Subject::User, from, (&guess, b""), t0) {
            checked += 1;
            t.finish_at(a, Ending::Failure, t0);
        }
    }
    assert_eq!(checked, 5 + 3);
}

#[test]
fn service_accounts_are_never_locked_per_account() {
    let t = Throttle::new(policy(5, 3, 20));
    let t0 = Instant::now();
    assert!(succeed(
        &t,
        "service:vpn",
        Subject::Service,
        "192.0.2.50",
        t0
    ));
    // Attackers from 40 addresses, 20 guesses each (each address's own budget).
    for n in 0..40 {
        let from = format!("198.51.100.{n}");
        assert_eq!(
            fail_n(&t, "service:vpn", Subject::Service, &from, 25, t0),
            20
        );
    }
    // The gateway binds from its own address, and from a new one.
    assert!(succeed(
        &t,
        "service:vpn",
        Subject::Service,
        "192.0.2.50",
        t0
    ));
    assert!(succeed(
        &t,
        "service:vpn",
        Subject::Service,
        "192.0.2.51",
        t0
    ));
}

#[test]
fn a_trusted_gateway_is_throttled_per_account_only() {
    let t = Throttle::new(policy(5, 3, 20));
    let t0 = Instant::now();
    // 300 users mistype three times each through the gateway.
    for u in 0..300 {
        assert_eq!(
            fail_n(
                &t,
                &format!("user:c/u{u}"),
                Subject::User,
                "10.8.0.1",
                3,
                t0
            ),
            3
        );
    }
    // Users with the right password, and the service account, still bind.
    assert!(succeed(&t, "user:c/u7", Subject::User, "10.8.0.1", t0));
    assert!(succeed(&t, "user:c/new", Subject::User, "10.8.0.1", t0));
    assert!(succeed(&t, "service:vpn", Subject::Service, "10.8.0.1", t0));
    // One user's own failures still lock that user (familiar budget).
    assert_eq!(
        fail_n(&t, "user:c/u1", Subject::User, "10.8.0.1", 10, t0),
        2
    );
    assert_eq!(
        t.begin_at("user:c/u1", Subject::User, ip("10.8.0.1"), ("x", b""), t0)
            .unwrap_err(),
        Refusal::Account
    );
}

#[test]
fn a_locked_address_still_admits_accounts_familiar_with_it() {
    let t = Throttle::new(policy(5, 3, 4));
    let t0 = Instant::now();
    assert!(succeed(
        &t,
        "service:vpn",
        Subject::Service,
        "192.0.2.7",
        t0
    ));
    assert!(succeed(&t, "user:c/carol", Subject::User, "192.0.2.7", t0));
    for u in 0..4 {
        fail_n(
            &t,
            &format!("user:c/x{u}"),
            Subject::User,
            "192.0.2.7",
            1,
            t0,
        );
    }
    assert_eq!(
        t.begin_at(
            "user:c/dave",
            Subject::User,
            ip("192.0.2.7"),
            ("pw", b""),
            t0
        )
        .unwrap_err(),
        Refusal::Address
    );
    assert!(succeed(
        &t,
        "service:vpn",
        Subject::Service,
        "192.0.2.7",
        t0
    ));
    assert!(succeed(&t, "user:c/carol", Subject::User, "192.0.2.7", t0));
    // Another address is unaffected.
    assert!(succeed(&t, "user:c/dave", Subject::User, "192.0.2.8", t0));
}

#[test]
fn a_repeated_wrong_password_is_answered_without_counting() {
    let t = Throttle::new(policy(3, 3, 100));
    let t0 = Instant::now();
    let a = t
        .begin_at(
            "user:c/erin",
            Subject::User,
            ip("192.0.2.1"),
            ("old", b""),
            t0,
        )
        .unwrap();
    t.finish_at(a, Ending::Failure, t0);
    for _ in 0..50 {
        assert_eq!(
            t.begin_at(
                "user:c/erin",
                Subject::User,
                ip("192.0.2.1"),
                ("old", b""),
                t0
            )
            .unwrap_err(),
            Refusal::Repeat
        );
    }
    // Only one failure was counted: two more distinct guesses are still admitted.
    assert_eq!(
        fail_n(&t, "user:c/erin", Subject::User, "192.0.2.1", 2, t0),
        2
    );
    // After the window the old password is checked again.
    let later = t0 + Duration::from_secs(901);
    assert!(
        t.begin_at(
            "user:c/erin",
            Subject::User,
            ip("192.0.2.1"),
            ("old", b""),
            later
        )
        .is_ok()
    );
}

#[test]
fn a_new_version_checks_a_failed_password_again() {
    // The admin set a local password equal to one that failed before: the stored hash is
    // part of the tag, so the password is checked, not taken for a repeat.
    let t = Throttle::new(policy(3, 3, 100));
    let t0 = Instant::now();
    let a = t
        .begin_at("user:c/f", Subject::User, None, ("pw", b"hash-1"), t0)
        .unwrap();
    t.finish_at(a, Ending::Failure, t0);
    assert_eq!(
        t.begin_at("user:c/f", Subject::User, None, ("pw", b"hash-1"), t0)
            .unwrap_err(),
        Refusal::Repeat
    );
    assert!(
        t.begin_at("user:c/f", Subject::User, None, ("pw", b"hash-2"), t0)
            .is_ok()
    );
}

#[test]
fn account_unlocks_after_lockout() {
    let t = Throttle::new(policy(5, 3, 100));
    let t0 = Instant::now();
    assert_eq!(
        fail_n(&t, "user:c/g", Subject::User, "192.0.2.1", 10, t0),
        3
    );
    let at = |s| t0 + Duration::from_secs(s);
    assert!(
        t.begin_at(
            "user:c/g",
            Subject::User,
            ip("192.0.2.1"),
            ("n", b""),
            at(599)
        )
        .is_err()
    );
    assert!(
        t.begin_at(
            "user:c/g",
            Subject::User,
            ip("192.0.2.1"),
            ("n", b""),
            at(601)
        )
        .is_ok()
    );
}

#[test]
fn concurrent_attempts_cannot_exceed_the_limit() {
    let t = Throttle::new(policy(3, 3, 100));
    let now = Instant::now();
    let held: Vec<_> = (0..10)
        .filter_map(|i| {
            t.begin_at("a", Subject::User, None, (&i.to_string(), b""), now)
                .ok()
        })
        .collect();
    assert_eq!(held.len(), 3);
}

#[test]
fn neutral_endings_are_not_counted() {
    let t = Throttle::new(policy(2, 2, 100));
    let now = Instant::now();
    for i in 0..10 {
        let a = t
            .begin_at(
                "a",
                Subject::User,
                ip("192.0.2.1"),
                (&i.to_string(), b""),
                now,
            )
            .unwrap();
        t.finish_at(a, Ending::Neutral, now);
    }
    assert_eq!(fail_n(&t, "a", Subject::User, "192.0.2.1", 5, now), 2);
}

#[test]
fn address_limit_spans_accounts_unfamiliar_with_it() {
    let t = Throttle::new(policy(5, 3, 4));
    let now = Instant::now();
    for n in 0..4 {
        fail_n(
            &t,
            &format!("user{n}"),
            Subject::User,
            "2001:db8::1",
            1,
            now,
        );
    }
    assert_eq!(
        t.begin_at("user9", Subject::User, ip("2001:db8::1"), ("p", b""), now)
            .unwrap_err(),
        Refusal::Address
    );
    assert!(
        t.begin_at("user9", Subject::User, ip("2001:db8::2"), ("p", b""), now)
            .is_ok()
    );
}

#[test]
fn ipv4_mapped_addresses_match_trusted_ipv4_blocks() {
    let t = Throttle::new(policy(5, 3, 1));
    let now = Instant::now();
    for u in 0..5 {
        assert_eq!(
            fail_n(
                &t,
                &format!("u{u}"),
                Subject::User,
                "::ffff:10.8.1.2",
                1,
                now
            ),
            1
        );
    }
}

#[test]
fn memory_is_bounded_and_eviction_is_batched() {
    let t = Throttle::with_capacity(policy(5, 3, 5), 100);
    let now = Instant::now();
    for n in 0..1000u64 {
        let later = now + Duration::from_millis(n);
        let from = format!("198.51.{}.{}", n / 250, n % 250);
        if let Ok(a) = t.begin_at(
            &format!("u{n}"),
            Subject::User,
            ip(&from),
            ("p", b""),
            later,
        ) {
            t.finish_at(a, Ending::Failure, later);
        }
    }
    let st = t.state.lock().unwrap();
    assert!(st.accounts.map.len() <= 100);
    assert!(st.addresses.map.len() <= 100);
}
