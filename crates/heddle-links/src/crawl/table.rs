//! The URL table: one entry per normalised URL (a 128-bit hash of it, so the visited set
//! stays compact), which is claimed exactly once and then holds the fetch's outcome.
//! References that arrive while their target is being fetched wait in the entry and are
//! resolved when it completes; references to a completed target are resolved at once.
//! A reference that resolves to nothing wrong is forgotten; only findings are kept.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::{Finding, FindingKind};

/// A URL's identity: two independent 64-bit SipHashes of its normalised text (a
/// collision between two URLs of one crawl has odds around 2^-100).
pub(crate) type Key = u128;

pub(crate) fn key(url: &str) -> Key {
    let mut a = std::hash::DefaultHasher::new();
    0xA5u8.hash(&mut a);
    url.hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    0x5Au8.hash(&mut b);
    url.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// The hash an anchor set holds for one anchor name.
pub(crate) fn anchor_hash(name: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

/// A reference waiting for its target's outcome.
pub(crate) struct Waiter {
    pub page: Arc<str>,
    pub line: u32,
    /// The resolved target as written, fragment included.
    pub target: Box<str>,
    pub fragment: Option<Box<str>>,
    /// Redirects followed so far.
    pub hops: u32,
}

/// What a fine URL tells about fragments into it.
pub(crate) enum Body {
    /// HTML that was read: its sorted anchor hashes.
    Anchors(Box<[u64]>),
    /// Not HTML (by the Content-Type of the GET or the HEAD): fragments are not checked,
    /// as browsers give them their own meaning (a PDF page, a media time) or ignore them.
    NotHtml,
    /// Checked with HEAD only, and it is (or may be) HTML: the URL is kept so that the
    /// first fragment to need its anchors has it read once with GET.
    Unread(Box<str>),
    /// HEAD succeeded but the GET for its anchors did not: fragments into it get this.
    Unreadable(FindingKind, Arc<str>),
}

/// What fetching a URL concluded.
pub(crate) enum Outcome {
    /// Fine; what fragments into it resolve against.
    Ok(Body),
    /// Broken or unknown, with the reason.
    Fail(FindingKind, Arc<str>),
    /// Redirected to another entry.
    Redirect(Key),
}

enum Entry {
    Pending(Vec<Waiter>),
    /// Fine by HEAD, being read with GET for the anchors its fragment waiters need.
    Refetching(Vec<Waiter>),
    Done(Outcome),
}

pub(crate) struct Table {
    map: HashMap<Key, Entry>,
    pub findings: Vec<Finding>,
    /// URLs (checked with HEAD only) that a fragment needs read with GET: the caller
    /// must take them (`take_refetches`) and fetch each once.
    refetches: Vec<(Key, Box<str>)>,
    max_redirects: u32,
}

/// The result of looking a reference up.
pub(crate) enum Claim {
    /// First sight of this URL: the caller must fetch it.
    New,
    /// Already known (the reference was resolved or is waiting).
    Known,
}

impl Table {
    pub fn new(max_redirects: u32) -> Self {
        Table {
            map: HashMap::new(),
            findings: Vec::new(),
            refetches: Vec::new(),
            max_redirects,
        }
    }

    /// Number of distinct URLs seen.
    pub fn urls(&self) -> usize {
        self.map.len()
    }

    /// Claim `k` with no reference (the start URL, a redirect target).
    pub fn claim(&mut self, k: Key) -> Claim {
        match self.map.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => Claim::Known,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Entry::Pending(Vec::new()));
                Claim::New
            }
        }
    }

    /// A reference to `k`: claims it if new, else resolves or parks the reference.
    pub fn reference(&mut self, k: Key, w: Waiter) -> Claim {
        if let std::collections::hash_map::Entry::Vacant(v) = self.map.entry(k) {
            v.insert(Entry::Pending(vec![w]));
            return Claim::New;
        }
        self.walk(k, w);
        Claim::Known
    }

    /// The URLs that must now be read with GET for their anchors (each handed out once;
    /// complete each with the GET's outcome).
    pub fn take_refetches(&mut self) -> Vec<(Key, Box<str>)> {
        std::mem::take(&mut self.refetches)
    }

    /// Record `k`'s outcome and resolve the references waiting for it.
    pub fn complete(&mut self, k: Key, outcome: Outcome) {
        let refetched = matches!(self.map.get(&k), Some(Entry::Refetching(_)));
        let outcome = match outcome {
            // A GET after a good HEAD: the URL stays fine, only fragments learn more.
            Outcome::Fail(kind, reason) if refetched => Outcome::Ok(Body::Unreadable(kind, reason)),
            Outcome::Redirect(_) if refetched => Outcome::Ok(Body::Unreadable(
                FindingKind::Unknown,
                Arc::from("redirected on GET, though not on HEAD"),
            )),
            o => o,
        };
        debug_assert!(!(refetched && matches!(outcome, Outcome::Ok(Body::Unread(_)))));
        let old = self.map.insert(k, Entry::Done(outcome));
        if let Some(Entry::Pending(waiters) | Entry::Refetching(waiters)) = old {
            for w in waiters {
                self.walk(k, w);
            }
        }
    }

    /// What a reference without fragment to `k` would conclude now: `None` if fine or
    /// still pending.
    pub fn verdict(&mut self, k: Key) -> Option<(FindingKind, String)> {
        let before = self.findings.len();
        let probe = Waiter {
            page: Arc::from(""),
            line: 0,
            target: Box::from(""),
            fragment: None,
            hops: 0,
        };
        self.walk(k, probe);
        if self.findings.len() > before {
            let f = self.findings.pop().expect("just pushed");
            Some((f.kind, f.reason))
        } else {
            None
        }
    }

    /// Follow `w` from `k` through redirects to an outcome (or a pending entry, where it
    /// parks), recording a finding if the outcome is bad.
    fn walk(&mut self, start: Key, mut w: Waiter) {
        let mut seen: Vec<Key> = Vec::new();
        let mut k = start;
        loop {
            if seen.contains(&k) {
                return self.found(w, FindingKind::Redirects, "redirect loop".into());
            }
            seen.push(k);
            let Some(entry) = self.map.get_mut(&k) else {
                return; // Unreachable: every redirect target is claimed first.
            };
            match entry {
                Entry::Pending(list) => {
                    list.push(w);
                    return;
                }
                Entry::Refetching(list) => {
                    // Fine by HEAD; only a fragment needs the GET's anchors.
                    if w.fragment.as_deref().is_some_and(|f| !trivial_fragment(f)) {
                        list.push(w);
                    }
                    return;
                }
                Entry::Done(Outcome::Redirect(next)) => {
                    w.hops += 1;
                    if w.hops > self.max_redirects {
                        let reason = format!("more than {} redirects", self.max_redirects);
                        return self.found(w, FindingKind::Redirects, reason);
                    }
                    k = *next;
                }
                Entry::Done(Outcome::Fail(kind, reason)) => {
                    let (kind, reason) = (*kind, reason.to_string());
                    let reason = match w.hops {
                        0 => reason,
                        1 => format!("{reason} (after a redirect)"),
                        n => format!("{reason} (after {n} redirects)"),
                    };
                    return self.found(w, kind, reason);
                }
                Entry::Done(Outcome::Ok(body)) => {
                    let Some(frag) = w.fragment.as_deref() else {
                        return;
                    };
                    if trivial_fragment(frag) {
                        return;
                    }
                    match body {
                        Body::NotHtml => return,
                        Body::Anchors(anchors) => {
                            if fragment_found(frag, anchors) {
                                return;
                            }
                            let reason = format!("no id or name {frag:?} in the page");
                            return self.found(w, FindingKind::BrokenFragment, reason);
                        }
                        Body::Unreadable(kind, reason) => {
                            let (kind, reason) = (*kind, reason.to_string());
                            let reason =
                                format!("the page could not be read for its ids: {reason}");
                            return self.found(w, kind, reason);
                        }
                        Body::Unread(url) => {
                            // First fragment into a URL checked with HEAD: read it once.
                            let url = std::mem::take(url);
                            *entry = Entry::Refetching(vec![w]);
                            self.refetches.push((k, url));
                            return;
                        }
                    }
                }
            }
        }
    }

    fn found(&mut self, w: Waiter, kind: FindingKind, reason: String) {
        self.findings.push(Finding {
            page: w.page.to_string(),
            line: w.line,
            target: w.target.into(),
            kind,
            reason,
        });
    }
}

/// The empty fragment and `top` need no anchor (the HTML standard scrolls to the top).
fn trivial_fragment(frag: &str) -> bool {
    frag.is_empty() || frag.eq_ignore_ascii_case("top")
}

/// Whether a fragment names an anchor: as written or percent-decoded (or is trivial).
fn fragment_found(frag: &str, anchors: &[u64]) -> bool {
    if trivial_fragment(frag) {
        return true;
    }
    let has = |name: &str| anchors.binary_search(&anchor_hash(name)).is_ok();
    if has(frag) {
        return true;
    }
    let decoded = percent_encoding::percent_decode_str(frag).decode_utf8_lossy();
    decoded != frag && has(&decoded)
}
