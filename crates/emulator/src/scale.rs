//! A deterministic scale tenant for benchmarks: N users and M groups with realistic names,
//! duplicates, departments and membership, generated from a seed (`o365-ldap emulator --users N`).
//!
//! The same seed always gives the same tenant (ids, names, membership), on every machine: the
//! generator uses its own splitmix64 stream rather than `rand`, whose algorithms may change
//! between versions.

use std::net::SocketAddr;

use anyhow::Context;
use serde_json::{Value, json};

use model::time::iso;

use super::fixture::{Fixture, FixtureApp, JsonObject};
use super::{EmulatorOptions, start};

/// The sync application's client id and secret in every scale tenant.
pub const CLIENT_ID: &str = "5ca1e000-0000-4000-8000-00000000a991";
pub const CLIENT_SECRET: &str = "scale-emulator-secret";
/// The default verified domain; the directory's base DN is `dc=scale,dc=example`.
pub const DOMAIN: &str = "scale.example";
pub const SUBDOMAIN: &str = "eu.scale.example";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleSpec {
    pub users: usize,
    pub groups: usize,
    pub seed: u64,
}

/// splitmix64: tiny, fast and stable across versions, which is all a fixture generator needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant for fixtures.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.get(self.below(xs.len())).copied().unwrap_or("x")
    }

    /// A random version-4 GUID.
    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

const GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Wei",
    "Fatima",
    "Olumide",
    "Siobhán",
    "José",
    "Zoë",
    "Björn",
    "Anaïs",
    "Hiroshi",
    "Priya",
    "Mohammed",
    "Ana",
    "Dmitri",
    "Ingrid",
    "Kwame",
    "Léa",
    "Mateo",
    "Aoife",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Lucas",
    "Mia",
    "Arjun",
    "Chloé",
    "Yusuf",
    "Freya",
];
const SURNAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sánchez",
    "O'Brien",
    "Müller",
    "Nguyen",
    "Kowalski",
    "van der Berg",
    "Okafor",
    "Yamamoto",
    "Patel",
    "Dubois",
    "Rossi",
    "Larsen",
    "Ivanova",
    "Chen",
    "Kim",
    "MacLeod",
    "Fernández",
    "Novak",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "IT Operations",
    "Legal",
    "Customer Support",
    "Research & Development",
    "Facilities",
    "Procurement",
    "Product",
    "Security",
    "Data, Analytics + BI",
    "Executive Office",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Analyst",
    "Director",
    "Specialist",
    "Coordinator",
    "Consultant",
    "Administrator",
    "Associate",
];
const TEAM_WORDS: &[&str] = &[
    "Platform",
    "Payments",
    "Identity",
    "Mobile",
    "Web",
    "Data",
    "Infra",
    "Growth",
    "Billing",
    "Search",
    "Core",
    "Edge",
    "Storage",
    "Compliance",
    "Partners",
    "EMEA",
    "APAC",
    "Americas",
];
const TEAM_KINDS: &[&str] = &[
    "Team",
    "Admins",
    "On-call",
    "Readers",
    "Developers",
    "Project",
    "Committee",
    "Guild",
];

/// `createdDateTime` between 2015-01-01 and 2024-12-31, as Graph formats it.
fn created(rng: &mut Rng) -> String {
    const START: u64 = 1_420_070_400; // 2015-01-01T00:00:00Z
    const SPAN: u64 = 10 * 365 * 86_400;
    let t = START + rng.next() % SPAN;
    iso(i64::try_from(t).unwrap_or(0))
}

/// A login-safe lower-case ASCII form of a name part (`Siobhán` → `siobhan`, `O'Brien` → `obrien`).
fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'í' | 'ï' => Some('i'),
            'ó' | 'ö' | 'ô' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            'ç' => Some('c'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `k` distinct indices in `0..n`, spread over the whole range: a random start and a stride
/// coprime with `n` visit every index once, with no set to check for repeats.
fn spread(rng: &mut Rng, n: usize, k: usize) -> impl Iterator<Item = usize> {
    let k = k.min(n);
    let start = rng.below(n);
    let mut stride = if n > 1 { 1 + rng.below(n - 1) } else { 1 };
    while n > 1 && gcd(stride, n) != 1 {
        stride += 1;
        if stride >= n {
            stride = 1;
        }
    }
    (0..k).map(move |i| (start + i * stride) % n.max(1))
}

/// Generates the tenant. About 100k users and 1k groups take well under a second.
///
/// Shape: users spread over departments, ~2% disabled, ~1% guests (`#EXT#` UPNs), ~1% on the
/// subdomain reusing a local part from the main domain (uid collisions the sync must resolve),
/// display names repeat as they do in real companies. Groups: one per department, a few big
/// ones (thousands of members), most with 10–200 members, ~5% nesting earlier groups, one
/// empty group and two groups sharing a display name.
pub fn generate(spec: ScaleSpec) -> Fixture {
    let mut rng = Rng(spec.seed ^ 0x0365_1DA9_0000_0000);
    let tenant_id = rng.guid();
    let n = spec.users;

    let mut users: Vec<JsonObject> = Vec::with_capacity(n);
    let mut user_ids: Vec<String> = Vec::with_capacity(n);
    let mut user_dept: Vec<usize> = Vec::with_capacity(n);
    let mut main_locals: Vec<String> = Vec::new();
    for i in 0..n {
        let id = rng.guid();
        let given = rng.pick(GIVEN);
        let surname = rng.pick(SURNAMES);
        let dept = rng.below(DEPARTMENTS.len());
        let roll = rng.below(1000);
        let base_local = format!("{}.{}{}", ascii_slug(given), ascii_slug(surname), i);
        let (upn, mail, user_type) = if roll < 10 {
            let ext = format!("{}_partner{}.example", ascii_slug(given), i % 97);
            (
                format!("{base_local}_{ext}#EXT#@{DOMAIN}"),
                Some(format!("{base_local}@partner{}.example", i % 97)),
                "Guest",
            )
        } else if roll < 20 && !main_locals.is_empty() {
            // Same local part as an existing user on the main domain: a uid collision.
            // Taken out of the pool so two subdomain users never share a UPN.
            let k = rng.below(main_locals.len());
            let other = if k < main_locals.len() {
                main_locals.swap_remove(k)
            } else {
                base_local.clone()
            };
            let upn = format!("{other}@{SUBDOMAIN}");
            (upn.clone(), Some(upn), "Member")
        } else {
            let upn = format!("{base_local}@{DOMAIN}");
            main_locals.push(base_local.clone());
            (upn.clone(), Some(upn), "Member")
        };
        // Real directories have "Smith, John" and plain "John Smith" side by side.
        let display = if i % 7 == 0 {
            format!("{surname}, {given}")
        } else {
            format!("{given} {surname}")
        };
        let mut u = JsonObject::new();
        u.insert("id".into(), json!(id));
        u.insert("userPrincipalName".into(), json!(upn));
        u.insert("displayName".into(), json!(display));
        u.insert("givenName".into(), json!(given));
        u.insert("surname".into(), json!(surname));
        u.insert("mail".into(), mail.map_or(Value::Null, Value::from));
        u.insert(
            "jobTitle".into(),
            json!(format!("{} {}", DEPARTMENTS[dept], rng.pick(TITLES))),
        );
        u.insert("department".into(), json!(DEPARTMENTS[dept]));
        u.insert("employeeId".into(), json!(format!("{}", 100_000 + i)));
        u.insert(
            "businessPhones".into(),
            json!([format!("+1 425 555 {:04}", i % 10_000)]),
        );
        u.insert("accountEnabled".into(), json!(rng.below(100) >= 2));
        u.insert("userType".into(), json!(user_type));
        u.insert("createdDateTime".into(), json!(created(&mut rng)));
        users.push(u);
        user_ids.push(id);
        user_dept.push(dept);
    }

    let m = spec.groups;
    let mut groups: Vec<JsonObject> = Vec::with_capacity(m);
    let mut group_ids: Vec<String> = Vec::with_capacity(m);
    for gi in 0..m {
        let id = rng.guid();
        let (name, description, members): (String, String, Vec<String>) = if gi < DEPARTMENTS.len()
        {
            // Department groups: everyone in the department (thousands in a big tenant).
            let dept = gi;
            let members = user_dept
                .iter()
                .enumerate()
                .filter(|(_, d)| **d == dept)
                .filter_map(|(ui, _)| user_ids.get(ui).cloned())
                .collect();
            (
                format!("dept-{}", DEPARTMENTS[dept]),
                format!("Everyone in {}", DEPARTMENTS[dept]),
                members,
            )
        } else if gi == DEPARTMENTS.len() {
            ("Empty Project".into(), "No members yet".into(), Vec::new())
        } else {
            let size = match rng.below(100) {
                0..=1 => 1000 + rng.below(4000),
                2..=29 => 10 + rng.below(30),
                _ => 10 + rng.below(190),
            };
            let mut members: Vec<String> = spread(&mut rng, n, size)
                .filter_map(|ui| user_ids.get(ui).cloned())
                .collect();
            // Nesting: some groups contain 1–3 earlier (non-department) groups, never cycles.
            let first_nestable = DEPARTMENTS.len() + 1;
            if gi > first_nestable + 3 && rng.below(100) < 5 {
                let k = 1 + rng.below(3);
                let span = gi - first_nestable;
                for sub in spread(&mut rng, span, k) {
                    if let Some(gid) = group_ids.get(first_nestable + sub) {
                        members.push(gid.clone());
                    }
                }
            }
            // Two groups share a display name (the sync must resolve the collision).
            let name = if gi == DEPARTMENTS.len() + 2 {
                format!("{} {}", TEAM_WORDS[0], TEAM_KINDS[0])
            } else {
                format!("{} {} {}", rng.pick(TEAM_WORDS), rng.pick(TEAM_KINDS), gi)
            };
            (name, format!("Group {gi}"), members)
        };
        let name = if gi == DEPARTMENTS.len() + 1 {
            format!("{} {}", TEAM_WORDS[0], TEAM_KINDS[0])
        } else {
            name
        };
        let mut g = JsonObject::new();
        g.insert("id".into(), json!(id));
        g.insert("displayName".into(), json!(name));
        g.insert("description".into(), json!(description));
        g.insert("groupTypes".into(), json!([]));
        g.insert("mailEnabled".into(), json!(false));
        g.insert("securityEnabled".into(), json!(true));
        g.insert("mail".into(), Value::Null);
        g.insert("createdDateTime".into(), json!(created(&mut rng)));
        g.insert("members".into(), json!(members));
        groups.push(g);
        group_ids.push(id);
    }

    let domain = |name: &str, default: bool, initial: bool| -> JsonObject {
        let mut d = JsonObject::new();
        d.insert("id".into(), json!(name));
        d.insert("authenticationType".into(), json!("Managed"));
        d.insert("isDefault".into(), json!(default));
        d.insert("isInitial".into(), json!(initial));
        d.insert("isRoot".into(), json!(!name.starts_with("eu.")));
        d.insert("isVerified".into(), json!(true));
        d.insert("supportedServices".into(), json!(["Email"]));
        d
    };
    let mut organization = JsonObject::new();
    organization.insert("displayName".into(), json!("Scale Example Corp"));
    Fixture {
        tenant_id,
        organization,
        domains: vec![
            domain(DOMAIN, true, false),
            domain(SUBDOMAIN, false, false),
            domain("scaleexample.onmicrosoft.com", false, true),
        ],
        apps: vec![FixtureApp {
            client_id: CLIENT_ID.into(),
            display_name: Some("o365-ldap directory sync".into()),
            secrets: vec![CLIENT_SECRET.into()],
            permissions: vec![
                "User.Read.All".into(),
                "GroupMember.Read.All".into(),
                "Domain.Read.All".into(),
            ],
            ..FixtureApp::default()
        }],
        users,
        groups,
        ..Fixture::default()
    }
}

/// `o365-ldap emulator --users N --groups M [--seed S]`: generate and serve until Ctrl-C.
pub async fn run_cli(
    spec: ScaleSpec,
    listen: SocketAddr,
    opts: EmulatorOptions,
) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let fixture = generate(spec);
    let tenant_id = fixture.tenant_id.clone();
    let generated_ms = t0.elapsed().as_millis();
    let running = start(fixture, opts, listen)
        .await
        .context("starting the Graph emulator with the scale tenant")?;
    println!(
        "Graph emulator listening on {}; tenant {}; client_id {}; secret {}; {} users, {} groups (seed {}, generated in {} ms)",
        running.base_url(),
        tenant_id,
        CLIENT_ID,
        CLIENT_SECRET,
        spec.users,
        spec.groups,
        spec.seed,
        generated_ms
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(users: usize, groups: usize, seed: u64) -> ScaleSpec {
        ScaleSpec {
            users,
            groups,
            seed,
        }
    }

    #[test]
    fn same_seed_same_tenant_other_seed_other_tenant() {
        let a = generate(spec(500, 40, 7));
        let b = generate(spec(500, 40, 7));
        let c = generate(spec(500, 40, 8));
        assert_eq!(a, b);
        assert_ne!(a.tenant_id, c.tenant_id);
        assert_ne!(a.users, c.users);
    }

    #[test]
    fn generated_tenant_is_valid_for_the_emulator() {
        let f = generate(spec(2000, 120, 1));
        assert_eq!(f.users.len(), 2000);
        assert_eq!(f.groups.len(), 120);
        let v = f.validate();
        assert!(v.is_ok(), "{:?}", v.err());
    }

    #[test]
    fn tenant_has_collisions_guests_disabled_empty_and_nested_groups() {
        let f = generate(spec(5000, 300, 3));
        let upn = |u: &JsonObject| {
            u.get("userPrincipalName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        assert!(f.users.iter().any(|u| upn(u).contains("#EXT#")));
        assert!(f.users.iter().any(|u| upn(u).ends_with(SUBDOMAIN)));
        assert!(
            f.users
                .iter()
                .any(|u| u.get("accountEnabled") == Some(&json!(false)))
        );
        let ids: std::collections::HashSet<&str> = f
            .groups
            .iter()
            .filter_map(|g| g.get("id").and_then(Value::as_str))
            .collect();
        let members = |g: &JsonObject| {
            g.get("members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        assert!(f.groups.iter().any(|g| members(g).is_empty()));
        assert!(f.groups.iter().any(|g| {
            members(g)
                .iter()
                .any(|m| m.as_str().is_some_and(|m| ids.contains(m)))
        }));
        assert!(f.groups.iter().any(|g| members(g).len() >= 1000));
        let names: Vec<&str> = f
            .groups
            .iter()
            .filter_map(|g| g.get("displayName").and_then(Value::as_str))
            .collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert!(unique.len() < names.len(), "two groups share a name");
    }

    #[test]
    fn dates_are_valid_calendar_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(19_782 * 86_400), "2024-02-29T00:00:00Z");
        let mut rng = Rng(1);
        for _ in 0..1000 {
            let d = created(&mut rng);
            assert!(
                d.starts_with("20") && d.ends_with('Z') && d.len() == 20,
                "{d}"
            );
        }
    }
}
