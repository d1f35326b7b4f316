//! Simple paged results (RFC 2696): the per-connection table of open paged searches and the
//! cookies that name them.
//!
//! A cookie is `id (8 bytes) | cursor (8 bytes) | HMAC-SHA256(id | cursor)` (32 bytes), under
//! a key drawn for each connection and checked with `ring::hmac::verify`. A cookie therefore cannot be forged, used on
//! another connection, or replayed once its page has been served (the cursor moves on).

use ldap3_proto::proto::LdapSearchRequest;
use ring::hmac;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Open paged searches kept per connection; starting one more forgets the oldest.
pub(crate) const MAX_OPEN_PAGED_SEARCHES: usize = 8;

/// Open paged searches per identity across all its connections
/// (`server.max_paged_searches_per_identity`): a client that opens connection after
/// connection cannot keep unbounded results (and the directory versions they ran on) alive.
#[derive(Debug)]
pub struct PagedQuota {
    max_per_identity: usize,
    counts: Mutex<HashMap<String, usize>>,
}

/// One open paged search's place in its identity's quota; released when dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    quota: Arc<PagedQuota>,
    identity: String,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.quota.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.identity) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.identity);
            }
        }
    }
}

impl PagedQuota {
    pub fn new(max_per_identity: usize) -> Arc<PagedQuota> {
        Arc::new(PagedQuota {
            max_per_identity: max_per_identity.max(1),
            counts: Mutex::new(HashMap::new()),
        })
    }

    fn acquire(self: &Arc<Self>, identity: &str) -> Option<Ticket> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(identity.to_owned()).or_insert(0);
        if *n >= self.max_per_identity {
            return None;
        }
        *n += 1;
        Some(Ticket {
            quota: Arc::clone(self),
            identity: identity.to_owned(),
        })
    }

    /// Paged searches `identity` holds open now.
    pub fn open(&self, identity: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(identity).copied().unwrap_or(0)
    }
}

/// A new paged search that would need more pages could not be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{identity} has {max} paged searches open (server.max_paged_searches_per_identity); \
     finish or abandon earlier ones (page size 0) first"
)]
pub(crate) struct QuotaExceeded {
    pub identity: String,
    pub max: usize,
}

/// An HMAC-SHA256 tag, kept whole: `hmac::verify` checks the full tag in constant time.
const MAC_LEN: usize = 32;
const COOKIE_LEN: usize = 8 + 8 + MAC_LEN;

/// Why a cookie was refused. Each maps to `unwillingToPerform` with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CookieError {
    #[error("paged results cookie is invalid (not issued on this connection)")]
    Invalid,
    #[error(
        "paged results cookie has expired (search finished, abandoned or evicted); start the search again"
    )]
    Expired,
    #[error("paged results cookie is stale: send the cookie from the last page")]
    Stale,
    #[error(
        "paged search changed between pages: send the same search request with the cookie (RFC 2696)"
    )]
    Changed,
}

/// One open paged search: the request it answers, its full result and how far it has got.
#[derive(Debug)]
pub(crate) struct PagedSearch<T> {
    id: u64,
    pub request: LdapSearchRequest,
    pub results: T,
    pub len: usize,
    pub pos: usize,
    last_used: Instant,
    _ticket: Option<Ticket>,
}

/// The next page to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub range: std::ops::Range<usize>,
    /// Cookie for the response control; empty on the last page.
    pub cookie: Vec<u8>,
}

pub(crate) struct PagedSearches<T> {
    key: hmac::Key,
    next_id: u64,
    open: VecDeque<PagedSearch<T>>,
}

impl<T> std::fmt::Debug for PagedSearches<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedSearches")
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}

impl<T> Default for PagedSearches<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PagedSearches<T> {
    pub(crate) fn new() -> Self {
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut k);
        // A random start makes ids unpredictable too, though the MAC is what protects them.
        let mut id = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        PagedSearches {
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
            next_id: u64::from_be_bytes(id),
            open: VecDeque::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Forget every open paged search (after a bind the old results are not the new identity's).
    pub(crate) fn clear(&mut self) {
        self.open.clear();
    }

    /// Forget searches whose next page has not been asked for within `idle`: their results
    /// and the directory version they ran on are released.
    pub(crate) fn expire(&mut self, now: Instant, idle: Duration) {
        self.open
            .retain(|s| now.saturating_duration_since(s.last_used) < idle);
    }

    /// First page of a new search over `len` results. The search is kept only if more pages
    /// follow, counted against `identity`'s quota; when the quota is full this connection's
    /// own oldest search makes room, and failing that the search is refused.
    pub(crate) fn start(
        &mut self,
        request: LdapSearchRequest,
        results: T,
        len: usize,
        page_size: usize,
        quota: (&Arc<PagedQuota>, &str),
    ) -> Result<Page, QuotaExceeded> {
        self.start_at(request, results, len, page_size, quota, Instant::now())
    }

    fn start_at(
        &mut self,
        request: LdapSearchRequest,
        results: T,
        len: usize,
        page_size: usize,
        (quota, identity): (&Arc<PagedQuota>, &str),
        now: Instant,
    ) -> Result<Page, QuotaExceeded> {
        let end = len.min(page_size);
        if end >= len {
            return Ok(Page {
                range: 0..len,
                cookie: Vec::new(),
            });
        }
        if self.open.len() >= MAX_OPEN_PAGED_SEARCHES {
            self.open.pop_front();
        }
        let ticket = match quota.acquire(identity) {
            Some(t) => t,
            None => {
                self.open.pop_front();
                quota.acquire(identity).ok_or_else(|| QuotaExceeded {
                    identity: identity.to_owned(),
                    max: quota.max_per_identity,
                })?
            }
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.open.push_back(PagedSearch {
            id,
            request,
            results,
            len,
            pos: end,
            last_used: now,
            _ticket: Some(ticket),
        });
        Ok(Page {
            range: 0..end,
            cookie: self.cookie(id, end),
        })
    }

    /// Find the open search a cookie names, checking it was issued here, is the latest cookie
    /// of that search and comes with the same request.
    pub(crate) fn resume(
        &mut self,
        cookie: &[u8],
        request: &LdapSearchRequest,
    ) -> Result<&mut PagedSearch<T>, CookieError> {
        let (id, pos) = self.check(cookie)?;
        let search = self
            .open
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(CookieError::Expired)?;
        if search.pos != pos {
            return Err(CookieError::Stale);
        }
        if search.request != *request {
            return Err(CookieError::Changed);
        }
        Ok(search)
    }

    /// The next page of the search named by `cookie`; a page size of 0 abandons it (RFC 2696
    /// §3) and returns an empty page with an empty cookie. A finished search is forgotten.
    pub(crate) fn next_page(
        &mut self,
        cookie: &[u8],
        request: &LdapSearchRequest,
        page_size: usize,
    ) -> Result<(Page, T), CookieError>
    where
        T: Clone,
    {
        let search = self.resume(cookie, request)?;
        let id = search.id;
        let start = search.pos;
        let end = if page_size == 0 {
            start
        } else {
            search.len.min(start.saturating_add(page_size))
        };
        search.pos = end;
        search.last_used = Instant::now();
        let results = search.results.clone();
        let finished = page_size == 0 || end >= search.len;
        let cookie = if finished {
            self.open.retain(|s| s.id != id);
            Vec::new()
        } else {
            self.cookie(id, end)
        };
        Ok((
            Page {
                range: start..end,
                cookie,
            },
            results,
        ))
    }

    fn cookie(&self, id: u64, pos: usize) -> Vec<u8> {
        let mut c = Vec::with_capacity(COOKIE_LEN);
        c.extend_from_slice(&id.to_be_bytes());
        c.extend_from_slice(&(pos as u64).to_be_bytes());
        let tag = hmac::sign(&self.key, &c);
        c.extend_from_slice(tag.as_ref());
        c
    }

    fn check(&self, cookie: &[u8]) -> Result<(u64, usize), CookieError> {
        if cookie.len() != COOKIE_LEN {
            return Err(CookieError::Invalid);
        }
        let (body, mac) = cookie.split_at(16);
        hmac::verify(&self.key, body, mac).map_err(|_| CookieError::Invalid)?;
        let mut id = [0u8; 8];
        let mut pos = [0u8; 8];
        id.copy_from_slice(body.get(..8).ok_or(CookieError::Invalid)?);
        pos.copy_from_slice(body.get(8..16).ok_or(CookieError::Invalid)?);
        let pos = usize::try_from(u64::from_be_bytes(pos)).map_err(|_| CookieError::Invalid)?;
        Ok((u64::from_be_bytes(id), pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapDerefAliases, LdapFilter, LdapSearchScope};

    fn quota() -> Arc<PagedQuota> {
        PagedQuota::new(1000)
    }

    fn req(filter: &str) -> LdapSearchRequest {
        LdapSearchRequest {
            base: "ou=people,dc=contoso,dc=com".into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Equality("objectClass".into(), filter.into()),
            attrs: vec!["uid".into()],
        }
    }

    #[test]
    fn pages_through_and_forgets_at_the_end() {
        let mut p: PagedSearches<u8> = PagedSearches::new();
        let first = p
            .start(req("posixAccount"), 7, 5, 2, (&quota(), "cn=t"))
            .unwrap();
        assert_eq!(first.range, 0..2);
        assert_eq!(first.cookie.len(), COOKIE_LEN);
        let (second, r) = p.next_page(&first.cookie, &req("posixAccount"), 2).unwrap();
        assert_eq!((second.range.clone(), r), (2..4, 7));
        // The first cookie was used: replaying it is refused.
        assert_eq!(
            p.next_page(&first.cookie, &req("posixAccount"), 2)
                .unwrap_err(),
            CookieError::Stale
        );
        let (last, _) = p
            .next_page(&second.cookie, &req("posixAccount"), 2)
            .unwrap();
        assert_eq!(last.range, 4..5);
        assert!(last.cookie.is_empty());
        assert_eq!(p.open_count(), 0);
        assert_eq!(
            p.next_page(&second.cookie, &req("posixAccount"), 2)
                .unwrap_err(),
            CookieError::Expired
        );
    }

    #[test]
    fn single_page_is_not_kept() {
        let mut p: PagedSearches<()> = PagedSearches::new();
        let page = p.start(req("x"), (), 3, 3, (&quota(), "cn=t")).unwrap();
        assert_eq!((page.range, page.cookie.is_empty()), (0..3, true));
        assert_eq!(p.open_count(), 0);
    }

    #[test]
    fn page_size_zero_abandons() {
        let mut p: PagedSearches<()> = PagedSearches::new();
        let first = p.start(req("x"), (), 10, 3, (&quota(), "cn=t")).unwrap();
        let (page, _) = p.next_page(&first.cookie, &req("x"), 0).unwrap();
        assert!(page.range.is_empty() && page.cookie.is_empty());
        assert_eq!(p.open_count(), 0);
    }

    #[test]
    fn cookies_do_not_cross_connections_or_survive_tampering() {
        let mut a: PagedSearches<()> = PagedSearches::new();
        let mut b: PagedSearches<()> = PagedSearches::new();
        let ca = a
            .start(req("x"), (), 10, 3, (&quota(), "cn=t"))
            .unwrap()
            .cookie;
        let _ = b.start(req("x"), (), 10, 3, (&quota(), "cn=t")).unwrap();
        assert_eq!(
            b.next_page(&ca, &req("x"), 3).unwrap_err(),
            CookieError::Invalid
        );
        for i in 0..ca.len() {
            let mut t = ca.clone();
            t[i] ^= 0x01;
            assert_eq!(
                a.next_page(&t, &req("x"), 3).unwrap_err(),
                CookieError::Invalid,
                "byte {i}"
            );
        }
        assert_eq!(
            a.next_page(&ca[..10], &req("x"), 3).unwrap_err(),
            CookieError::Invalid
        );
        assert_eq!(
            a.next_page(b"", &req("x"), 3).unwrap_err(),
            CookieError::Invalid
        );
        // Still usable after all the refusals.
        assert!(a.next_page(&ca, &req("x"), 3).is_ok());
    }

    #[test]
    fn changed_request_is_refused() {
        let mut p: PagedSearches<()> = PagedSearches::new();
        let c = p
            .start(req("x"), (), 10, 3, (&quota(), "cn=t"))
            .unwrap()
            .cookie;
        assert_eq!(
            p.next_page(&c, &req("y"), 3).unwrap_err(),
            CookieError::Changed
        );
    }

    #[test]
    fn oldest_is_evicted() {
        let mut p: PagedSearches<usize> = PagedSearches::new();
        let cookies: Vec<_> = (0..=MAX_OPEN_PAGED_SEARCHES)
            .map(|i| {
                p.start(req("x"), i, 10, 1, (&quota(), "cn=t"))
                    .unwrap()
                    .cookie
            })
            .collect();
        assert_eq!(p.open_count(), MAX_OPEN_PAGED_SEARCHES);
        assert_eq!(
            p.next_page(&cookies[0], &req("x"), 1).unwrap_err(),
            CookieError::Expired
        );
        let (_, r) = p.next_page(&cookies[1], &req("x"), 1).unwrap();
        assert_eq!(r, 1);
    }

    #[test]
    fn one_identity_cannot_hold_more_than_its_quota_across_connections() {
        let quota = PagedQuota::new(3);
        let mut conns: Vec<PagedSearches<()>> = (0..3).map(|_| PagedSearches::new()).collect();
        for c in conns.iter_mut() {
            c.start(req("x"), (), 10, 3, (&quota, "cn=svc")).unwrap();
        }
        assert_eq!(quota.open("cn=svc"), 3);
        // A fourth connection has nothing of its own to give up: refused.
        let mut fourth: PagedSearches<()> = PagedSearches::new();
        let e = fourth
            .start(req("x"), (), 10, 3, (&quota, "cn=svc"))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("server.max_paged_searches_per_identity")
        );
        // A connection that holds one trades its oldest for the new one.
        assert!(
            conns[0]
                .start(req("y"), (), 10, 3, (&quota, "cn=svc"))
                .is_ok()
        );
        assert_eq!(conns[0].open_count(), 1);
        // Other identities are unaffected; single pages need no quota.
        assert!(
            fourth
                .start(req("x"), (), 10, 3, (&quota, "cn=other"))
                .is_ok()
        );
        assert!(fourth.start(req("x"), (), 3, 3, (&quota, "cn=svc")).is_ok());
        // Closing a connection gives its searches back.
        drop(conns.pop());
        assert_eq!(quota.open("cn=svc"), 2);
    }

    #[test]
    fn idle_searches_expire() {
        let quota = quota();
        let mut p: PagedSearches<()> = PagedSearches::new();
        let t0 = Instant::now();
        let c = p
            .start_at(req("x"), (), 10, 3, (&quota, "cn=t"), t0)
            .unwrap()
            .cookie;
        p.expire(t0 + Duration::from_secs(59), Duration::from_secs(60));
        assert_eq!(p.open_count(), 1);
        p.expire(t0 + Duration::from_secs(61), Duration::from_secs(60));
        assert_eq!(p.open_count(), 0);
        assert_eq!(quota.open("cn=t"), 0);
        assert_eq!(
            p.next_page(&c, &req("x"), 3).unwrap_err(),
            CookieError::Expired
        );
    }
}
