//! RFC 4515 filter strings → `LdapFilter`, for tests that search a `Snapshot` directly
//! (`ldap3_proto`'s own string parser rejects spaces and `&` in values, which RFC 4515 allows).

#![allow(dead_code)]

use ldap3_proto::proto::{LdapFilter, LdapMatchingRuleAssertion, LdapSubstringFilter};

pub fn parse(s: &str) -> LdapFilter {
    let mut p = P {
        s: s.as_bytes(),
        i: 0,
    };
    let f = p.filter();
    assert_eq!(p.i, s.len(), "trailing input in filter {s:?}");
    f
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn eat(&mut self, c: u8) {
        assert_eq!(
            self.s.get(self.i),
            Some(&c),
            "expected {:?} at {}",
            c as char,
            self.i
        );
        self.i += 1;
    }

    fn filter(&mut self) -> LdapFilter {
        self.eat(b'(');
        let f = match self.s.get(self.i) {
            Some(b'&') => {
                self.i += 1;
                LdapFilter::And(self.list())
            }
            Some(b'|') => {
                self.i += 1;
                LdapFilter::Or(self.list())
            }
            Some(b'!') => {
                self.i += 1;
                LdapFilter::Not(Box::new(self.filter()))
            }
            _ => self.item(),
        };
        self.eat(b')');
        f
    }

    fn list(&mut self) -> Vec<LdapFilter> {
        let mut v = Vec::new();
        while self.s.get(self.i) == Some(&b'(') {
            v.push(self.filter());
        }
        v
    }

    fn item(&mut self) -> LdapFilter {
        let start = self.i;
        while !matches!(
            self.s.get(self.i),
            Some(b'=') | Some(b'~') | Some(b'>') | Some(b'<') | None
        ) {
            self.i += 1;
        }
        let lhs = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
        let op = self.s[self.i];
        self.i += 1;
        if op != b'=' {
            self.eat(b'=');
        }
        let vstart = self.i;
        while !matches!(self.s.get(self.i), Some(b')') | None) {
            self.i += 1;
        }
        let raw = &self.s[vstart..self.i];
        if let Some(rest) = lhs.strip_suffix(':') {
            // attr:rule: or attr:dn:rule:
            let parts: Vec<&str> = rest.split(':').collect();
            let dn_attributes = parts.contains(&"dn");
            let type_ = Some(parts[0].to_string()).filter(|s| !s.is_empty());
            let matching_rule = parts[1..]
                .iter()
                .find(|p| **p != "dn")
                .map(|s| s.to_string());
            return LdapFilter::Extensible(LdapMatchingRuleAssertion {
                matching_rule,
                type_,
                match_value: unescape(raw),
                dn_attributes,
            });
        }
        match op {
            b'~' => LdapFilter::Approx(lhs, unescape(raw)),
            b'>' => LdapFilter::GreaterOrEqual(lhs, unescape(raw)),
            b'<' => LdapFilter::LessOrEqual(lhs, unescape(raw)),
            _ if raw == b"*" => LdapFilter::Present(lhs),
            _ if raw.contains(&b'*') => {
                let pieces: Vec<String> = raw.split(|c| *c == b'*').map(unescape).collect();
                let n = pieces.len();
                LdapFilter::Substring(
                    lhs,
                    LdapSubstringFilter {
                        initial: Some(pieces[0].clone()).filter(|s| !s.is_empty()),
                        any: pieces[1..n - 1]
                            .iter()
                            .filter(|s| !s.is_empty())
                            .cloned()
                            .collect(),
                        final_: Some(pieces[n - 1].clone()).filter(|s| !s.is_empty()),
                    },
                )
            }
            _ => LdapFilter::Equality(lhs, unescape(raw)),
        }
    }
}

fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 2 < raw.len() + 1 {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).expect("hex escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 filter value")
}
