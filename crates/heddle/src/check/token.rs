//! Replay tokens: one printable string that reproduces a schedule exactly.
//!
//! Layout (then base64url without padding, behind the `hc1.` prefix):
//! `version: u8 = 1`, `flags: u8` (bit 0: the failure was the step budget, so a replay
//! stops where the recording did), `fingerprint: u64 LE` (a hash of every step's thread,
//! operation and source location, to detect a replay that ran something else), the
//! number of steps as a varint (so a token cut short in a copy is refused, not replayed
//! in part), then the choices run-length encoded as varint pairs `(thread, run length)`.

use std::fmt;

const VERSION: u8 = 1;
const PREFIX: &str = "hc";

/// Why a replay token was refused.
///
/// ```
/// use heddle::check::TokenError;
/// let err = heddle::check::Checker::replay_schedule("nonsense").unwrap_err();
/// assert!(matches!(err, TokenError::Malformed(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token this checker wrote (truncated, or not a token at all).
    Malformed(String),
    /// Written by a checker with another format version.
    Version {
        /// The version in the token.
        found: u32,
        /// The version this checker reads.
        supported: u32,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(
                f,
                "not a heddle replay token ({why}); copy the whole `hc1.…` string from the failure report"
            ),
            TokenError::Version { found, supported } => write!(
                f,
                "this replay token has format version {found}, but this heddle reads version \
                 {supported}: re-run the checker with this heddle to get a new token"
            ),
        }
    }
}

impl std::error::Error for TokenError {}

pub(crate) struct Schedule {
    pub(crate) choices: Vec<usize>,
    pub(crate) fingerprint: u64,
    /// The recorded execution failed by running out of steps at its last choice.
    pub(crate) step_budget: bool,
}

/// Bit 0 of the flags byte.
const STEP_BUDGET: u8 = 1;

pub(crate) fn encode(choices: &[usize], fingerprint: u64, step_budget: bool) -> String {
    let mut bytes = vec![VERSION, if step_budget { STEP_BUDGET } else { 0 }];
    bytes.extend_from_slice(&fingerprint.to_le_bytes());
    varint(&mut bytes, choices.len() as u64);
    let mut i = 0;
    while i < choices.len() {
        let t = choices[i];
        let run = choices[i..].iter().take_while(|&&c| c == t).count();
        varint(&mut bytes, t as u64);
        varint(&mut bytes, run as u64);
        i += run;
    }
    format!("{PREFIX}{VERSION}.{}", base64(&bytes))
}

pub(crate) fn decode(token: &str) -> Result<Schedule, TokenError> {
    let token = token.trim();
    let Some(rest) = token.strip_prefix(PREFIX) else {
        return Err(TokenError::Malformed("it does not start with `hc`".into()));
    };
    let Some((version, body)) = rest.split_once('.') else {
        return Err(TokenError::Malformed("no `.` after the version".into()));
    };
    let version: u32 = version
        .parse()
        .map_err(|_| TokenError::Malformed("the version is not a number".into()))?;
    if version != u32::from(VERSION) {
        return Err(TokenError::Version {
            found: version,
            supported: u32::from(VERSION),
        });
    }
    let bytes = unbase64(body).ok_or_else(|| TokenError::Malformed("bad characters".into()))?;
    if bytes.len() < 11 || bytes[0] != VERSION {
        return Err(TokenError::Malformed("too short".into()));
    }
    let flags = bytes[1];
    if flags & !STEP_BUDGET != 0 {
        return Err(TokenError::Malformed("unknown flags".into()));
    }
    let fingerprint = u64::from_le_bytes(bytes[2..10].try_into().expect("8 bytes"));
    let mut pos = 10;
    let steps = read_varint(&bytes, &mut pos)?;
    if steps > 100_000_000 {
        return Err(TokenError::Malformed("impossible step count".into()));
    }
    let mut choices = Vec::with_capacity(steps as usize);
    while pos < bytes.len() {
        let t = read_varint(&bytes, &mut pos)?;
        let run = read_varint(&bytes, &mut pos)?;
        if run == 0 || choices.len() as u64 + run > steps {
            return Err(TokenError::Malformed("impossible run length".into()));
        }
        choices.extend(std::iter::repeat_n(t as usize, run as usize));
    }
    if choices.len() as u64 != steps {
        return Err(TokenError::Malformed(format!(
            "truncated: {} of its {steps} steps",
            choices.len()
        )));
    }
    Ok(Schedule {
        choices,
        fingerprint,
        step_budget: flags & STEP_BUDGET != 0,
    })
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, TokenError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| TokenError::Malformed("truncated".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(TokenError::Malformed("overlong number".into()))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    let values: Option<Vec<u32>> = text
        .bytes()
        .map(|c| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32))
        .collect();
    let values = values?;
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &v)| n | v << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for choices in [vec![], vec![0], vec![0, 0, 1, 1, 1, 0, 2, 300, 300]] {
            for step_budget in [false, true] {
                let token = encode(&choices, 0xdead_beef, step_budget);
                let s = decode(&token).unwrap();
                assert_eq!(s.choices, choices);
                assert_eq!(s.fingerprint, 0xdead_beef);
                assert_eq!(s.step_budget, step_budget);
            }
        }
    }

    #[test]
    fn other_version_is_refused() {
        let token = encode(&[0, 1], 7, false).replacen("hc1.", "hc2.", 1);
        assert_eq!(
            decode(&token).err(),
            Some(TokenError::Version {
                found: 2,
                supported: 1
            })
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(decode("hc1.!!"), Err(TokenError::Malformed(_))));
        assert!(matches!(decode("xyz"), Err(TokenError::Malformed(_))));
        assert!(matches!(decode("hc1.AA"), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn truncated_is_refused() {
        let choices: Vec<usize> = (0..40).map(|i| i % 3).collect();
        let token = encode(&choices, 1, false);
        for cut in 1..token.len() - 4 {
            let short = &token[..token.len() - cut];
            assert!(
                matches!(decode(short), Err(TokenError::Malformed(_))),
                "{short:?} decoded"
            );
        }
    }
}
