//! Client keys (`[keys.NAME]`) and the admin key: who may call the gateway.
//!
//! A key is kept only as the SHA-256 of its text, whether the config gives
//! the hash itself (`key_sha256`, so the plaintext never sits in a file) or
//! names an environment variable or file the host reads at load time. A
//! presented key is hashed and compared with every configured hash in
//! constant time, so neither the comparison nor the position of a match
//! leaks through timing. Nothing here ever logs or echoes a key; errors name
//! the key's config name at most.
//!
//! What a key may spend is data here ([`KeyLimits`]); counting and
//! enforcing it is [`crate::limits`]'s job, which sits above this module.
//! This module never counts anything and never reads a key after load.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderMap, StatusCode, header};
use subtle::{ConditionallySelectable as _, ConstantTimeEq as _};

use crate::config::keys::{admin_source, hash_key, source_of};
use crate::config::{KeyConfig, ServerConfig};
use crate::error::ApiError;

/// Nano-USD per USD: spend is counted in integers, so sums are exact and
/// Redis can add them atomically with INCRBY.
pub const NANOS: f64 = 1e9;

/// The limits of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeyLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    pub parallel: Option<u64>,
    /// Nano-USD per UTC day.
    pub daily: Option<u64>,
    /// Nano-USD per UTC month.
    pub monthly: Option<u64>,
}

pub(crate) fn usd_to_nanos(usd: f64) -> u64 {
    // `as` saturates; validation keeps the value finite and non-negative.
    (usd * NANOS).round() as u64
}

impl KeyLimits {
    /// The limits a key's config sets.
    pub fn of(k: &KeyConfig) -> KeyLimits {
        KeyLimits {
            rpm: k.requests_per_minute,
            tpm: k.tokens_per_minute,
            parallel: k.max_parallel_requests,
            daily: k.daily_budget_usd.map(usd_to_nanos),
            monthly: k.monthly_budget_usd.map(usd_to_nanos),
        }
    }

    /// Whether the key has any limit at all (if not, nothing is counted).
    pub fn any(&self) -> bool {
        self.rpm.is_some()
            || self.tpm.is_some()
            || self.parallel.is_some()
            || self.daily.is_some()
            || self.monthly.is_some()
    }
}

/// One configured client key, resolved.
pub struct ClientKey {
    /// The key's name in the config (what errors and logs name).
    pub name: String,
    hash: [u8; 32],
    /// Routes and models it may use (empty: all).
    pub models: Vec<String>,
    /// Its limits and budgets.
    pub limits: KeyLimits,
    /// Whose cached answers it may be served (`cache_scope`, default its
    /// name).
    pub cache_scope: String,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name only: not even the hash is printed.
        f.debug_struct("ClientKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A key with these limits (tests).
    #[cfg(test)]
    pub(crate) fn test(name: &str, limits: KeyLimits) -> ClientKey {
        ClientKey {
            name: name.into(),
            hash: hash_key(name),
            models: vec![],
            limits,
            cache_scope: name.into(),
        }
    }

    /// Whether the key may name `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }

    /// 403 for a model the key may not use.
    pub fn not_allowed(&self, model: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!(
                "The key `{}` may not use the model `{model}`; it may use: {}.",
                self.name,
                self.models.join(", ")
            ),
        )
        .code("model_not_allowed")
        .param("model")
    }
}

/// Every client key of a generation, and the admin key.
pub struct KeyTable {
    keys: Vec<Arc<ClientKey>>,
    admin: Option<[u8; 32]>,
}

/// The keys a request presents: `Authorization: Bearer …` (OpenAI) and
/// `x-api-key: …` (Anthropic), both accepted on every endpoint.
fn presented(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    let x_api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    bearer
        .into_iter()
        .chain(x_api_key)
        .filter(|k| !k.is_empty())
}

/// Whether two hashes are equal, in constant time: the bytes are folded
/// into one word by XOR/OR (no data-dependent branch), and `subtle` compares
/// that word with zero. A fraction of the cost of a byte-wise `ct_eq`, which
/// matters when a table holds many keys.
fn ct_eq32(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    let mut diff = 0u64;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (mut wx, mut wy) = ([0u8; 8], [0u8; 8]);
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        diff |= u64::from_le_bytes(wx) ^ u64::from_le_bytes(wy);
    }
    diff.ct_eq(&0)
}

/// Index of the hash among `hashes` equal to `h`, comparing with every one
/// in constant time (no early exit, no branch on a match).
fn find(hashes: impl Iterator<Item = [u8; 32]>, h: &[u8; 32]) -> Option<usize> {
    let mut found = u64::MAX;
    for (i, k) in hashes.enumerate() {
        found.conditional_assign(&(i as u64), ct_eq32(&k, h));
    }
    usize::try_from(found).ok().filter(|_| found != u64::MAX)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
        .code("invalid_api_key")
}

impl KeyTable {
    /// The keys of `keys` and `[server]`'s admin key, read and hashed.
    pub fn from_config(
        keys: &BTreeMap<String, KeyConfig>,
        server: &ServerConfig,
    ) -> anyhow::Result<KeyTable> {
        let mut out = Vec::with_capacity(keys.len());
        for (name, k) in keys {
            let hash = source_of(name, k).resolve()?;
            out.push(Arc::new(ClientKey {
                name: name.clone(),
                hash,
                models: k.models.clone(),
                limits: KeyLimits::of(k),
                cache_scope: k.cache_scope.clone().unwrap_or_else(|| name.clone()),
            }));
        }
        let admin = admin_source(server);
        let admin = if admin.env.is_none() && admin.file.is_none() && admin.sha256.is_none() {
            None
        } else {
            Some(admin.resolve()?)
        };
        Ok(KeyTable { keys: out, admin })
    }

    /// Every configured key.
    pub fn keys(&self) -> &[Arc<ClientKey>] {
        &self.keys
    }

    /// Whether client keys are configured (then every `/v1` request needs one).
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The caller's key: `Ok(None)` when no keys are configured, the key
    /// when one presented matches, else 401.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<ClientKey>>, ApiError> {
        if !self.enabled() {
            return Ok(None);
        }
        let mut any = false;
        for k in presented(headers) {
            any = true;
            let h = hash_key(k);
            if let Some(i) = find(self.keys.iter().map(|k| k.hash), &h) {
                return Ok(self.keys.get(i).cloned());
            }
        }
        Err(if any {
            unauthorized("Invalid API key: it is not one of this gateway's keys.")
        } else {
            unauthorized(
                "Missing API key: send one of this gateway's keys as `Authorization: Bearer KEY` or `x-api-key: KEY`.",
            )
        })
    }

    /// Allow an admin request: open when neither client keys nor an admin
    /// key are configured; otherwise only with the admin key.
    pub fn admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(admin) = &self.admin else {
            if !self.enabled() {
                return Ok(());
            }
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "The admin endpoints are disabled: client keys are configured but no admin key is ([server] admin_key_env, admin_key_file or admin_key_sha256).",
            )
            .code("admin_disabled"));
        };
        let mut any = false;
        for k in presented(headers) {
            any = true;
            if find(std::iter::once(*admin), &hash_key(k)).is_some() {
                return Ok(());
            }
        }
        Err(if any {
            unauthorized("Invalid admin key.")
        } else {
            unauthorized(
                "The admin endpoints need the admin key as `Authorization: Bearer KEY` or `x-api-key: KEY`.",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::parse_hash;
    use http::HeaderValue;

    fn table(keys: &[(&str, &str)]) -> KeyTable {
        let cfg: BTreeMap<String, KeyConfig> = keys
            .iter()
            .map(|(name, key)| {
                (
                    (*name).to_owned(),
                    KeyConfig {
                        key_env: None,
                        key_file: None,
                        key_sha256: Some(hex::encode(hash_key(key))),
                        models: vec!["m".into()],
                        requests_per_minute: None,
                        tokens_per_minute: None,
                        max_parallel_requests: None,
                        daily_budget_usd: None,
                        monthly_budget_usd: None,
                        cache_scope: None,
                    },
                )
            })
            .collect();
        let server = crate::config::ServerConfig {
            admin_key_sha256: Some(hex::encode(hash_key("admin-secret"))),
            ..Default::default()
        };
        KeyTable::from_config(&cfg, &server).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hash_is_sha256_hex() {
        // printf %s abc | sha256sum
        assert_eq!(
            hex::encode(hash_key("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(
            parse_hash("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")
                .is_some()
        );
        assert!(parse_hash("ba78").is_none());
        assert!(parse_hash(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn both_header_styles_authenticate() {
        let t = table(&[("a", "key-a"), ("b", "key-b")]);
        let k = t
            .authenticate(&headers(&[("authorization", "Bearer key-b")]))
            .unwrap()
            .unwrap();
        assert_eq!(k.name, "b");
        let k = t
            .authenticate(&headers(&[("x-api-key", "key-a")]))
            .unwrap()
            .unwrap();
        assert_eq!(k.name, "a");
        // A wrong bearer with a right x-api-key still passes.
        let k = t
            .authenticate(&headers(&[
                ("authorization", "Bearer nope"),
                ("x-api-key", "key-a"),
            ]))
            .unwrap()
            .unwrap();
        assert_eq!(k.name, "a");
        let e = t.authenticate(&headers(&[])).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("Missing"));
        let e = t
            .authenticate(&headers(&[("authorization", "Bearer key-c")]))
            .unwrap_err();
        assert_eq!(e.status, 401);
        assert!(!e.message.contains("key-c"), "never echo a key");
        // Admin key is not a client key and vice versa.
        assert!(
            t.authenticate(&headers(&[("x-api-key", "admin-secret")]))
                .is_err()
        );
        assert!(t.admin(&headers(&[("x-api-key", "key-a")])).is_err());
        assert!(
            t.admin(&headers(&[("authorization", "bearer admin-secret")]))
                .is_ok()
        );
    }

    #[test]
    fn no_keys_is_open() {
        let t = KeyTable::from_config(&BTreeMap::new(), &crate::config::ServerConfig::default())
            .unwrap();
        assert!(t.authenticate(&headers(&[])).unwrap().is_none());
        assert!(t.admin(&headers(&[])).is_ok());
    }

    #[test]
    fn allowed_models() {
        let t = table(&[("a", "key-a")]);
        let k = t
            .authenticate(&headers(&[("x-api-key", "key-a")]))
            .unwrap()
            .unwrap();
        assert!(k.allows("m") && !k.allows("other"));
        let e = k.not_allowed("other");
        assert_eq!(e.status, 403);
        assert!(e.message.contains("`other`") && e.message.contains("`a`"));
    }

    /// A figure, not a check: `cargo test --release -p switchyard
    /// key_check_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn key_check_cost() {
        let names: Vec<(String, String)> = (0..100)
            .map(|i| (format!("k{i}"), format!("sk-{i:040}")))
            .collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .map(|(n, k)| (n.as_str(), k.as_str()))
            .collect();
        let t = table(&pairs);
        let h = headers(&[(
            "authorization",
            "Bearer sk-0000000000000000000000000000000000000050",
        )]);
        let n = 100_000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            assert!(t.authenticate(&h).unwrap().is_some());
        }
        println!(
            "key check (SHA-256 + compare with 100 keys): {:?} per request",
            start.elapsed() / n
        );
    }

    #[test]
    fn constant_time_find_sees_every_hash() {
        let hs = [[1u8; 32], [2u8; 32], [3u8; 32]];
        assert_eq!(find(hs.iter().copied(), &[2u8; 32]), Some(1));
        assert_eq!(find(hs.iter().copied(), &[4u8; 32]), None);
    }
}
