use std::sync::Arc;

use super::windows::{civil_from_days, days_from_civil};
use super::*;
use crate::config::LimitsConfig;
use crate::config::limits::validate;
use crate::keys::{KeyLimits, KeyTable, usd_to_nanos};

#[test]
fn calendar_windows() {
    // 2026-11-28T09:30:15Z
    let t = days_from_civil(2026, 11, 28) as u64 * 86_400 + 9 * 3600 + 30 * 60 + 15;
    let w = Windows::at(t);
    assert_eq!(civil_from_days(w.day as i64), (2026, 11, 28));
    assert_eq!(w.month, 2026 * 12 + 10);
    assert_eq!(w.minute_left, 45);
    assert_eq!(w.day_left, 86_400 - (9 * 3600 + 30 * 60 + 15));
    // 2 days 14.5 h and 45 s to 2026-12-01.
    assert_eq!(w.month_left, 2 * 86_400 + w.day_left);
    // December rolls into January of the next year.
    let dec = days_from_civil(2026, 12, 31) as u64 * 86_400 + 86_399;
    let w = Windows::at(dec);
    assert_eq!((w.month_left, w.day_left, w.minute_left), (1, 1, 1));
    assert_eq!(Windows::at(dec + 1).month, 2027 * 12);
    // Leap day.
    assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
    assert_eq!(days_from_civil(1970, 1, 1), 0);
}

fn why(r: Result<(), Refused>) -> Option<(Refusal, u64)> {
    r.err().map(|r| (r.why, r.used))
}

#[test]
fn windows_count_and_roll() {
    let l = KeyLimits {
        rpm: Some(2),
        tpm: Some(100),
        daily: Some(usd_to_nanos(1.0)),
        monthly: Some(usd_to_nanos(10.0)),
        ..Default::default()
    };
    let mut c = Counters::default();
    let w = Windows::at(6_000_000);
    assert!(c.admit(&l, &w, 0).is_ok());
    assert!(c.admit(&l, &w, 0).is_ok());
    assert_eq!(why(c.admit(&l, &w, 0)), Some((Refusal::Requests, 2)));
    // Two minutes on, nothing of that minute is left in the sliding one.
    let w2 = Windows::at(6_000_120);
    assert!(c.admit(&l, &w2, 0).is_ok());
    // Tokens over the limit refuse the next request of the minute.
    c.record(&w2, 150, 0, Reservation::default());
    assert_eq!(why(c.admit(&l, &w2, 0)), Some((Refusal::Tokens, 150)));
    // Spend: the day's budget, then a new day.
    c.record(&w2, 0, usd_to_nanos(1.0), Reservation::default());
    let w3 = Windows::at(6_000_240);
    assert_eq!(
        why(c.admit(&l, &w3, 0)),
        Some((Refusal::Daily, usd_to_nanos(1.0)))
    );
    let tomorrow = Windows::at(6_000_240 + 86_400);
    assert!(c.admit(&l, &tomorrow, 0).is_ok());
    // The month keeps counting across days.
    c.record(&tomorrow, 0, usd_to_nanos(9.5), Reservation::default());
    let later = Windows::at(6_000_240 + 2 * 86_400);
    assert!(matches!(
        why(c.admit(&l, &later, 0)),
        Some((Refusal::Monthly, _))
    ));
}

#[test]
fn prompts_are_reserved_at_admission_and_corrected_after() {
    let l = KeyLimits {
        tpm: Some(100),
        ..Default::default()
    };
    let w = Windows::at(6_000_000);
    let mut c = Counters::default();
    // Two requests admitted together see each other's prompts: the third
    // is refused before either answer is counted.
    assert!(c.admit(&l, &w, 60).is_ok());
    assert!(c.admit(&l, &w, 60).is_ok());
    assert_eq!(why(c.admit(&l, &w, 60)), Some((Refusal::Tokens, 120)));
    // The answers used fewer tokens than reserved (10 and 20 of 60 each):
    // the corrections give them back.
    let r = Reservation {
        minute: w.minute,
        tokens: 60,
    };
    c.record(&w, 10, 0, r);
    c.record(&w, 20, 0, r);
    assert_eq!(c.usage().tokens, (0, 30));
    assert!(c.admit(&l, &w, 60).is_ok());
    // An answer in the next minute takes its reservation back from the
    // minute it was made in (now the previous one) and counts its own
    // tokens in the new one.
    let next = Windows::at(6_000_060);
    c.record(&next, 25, 0, r);
    assert_eq!(c.usage().tokens, (30, 25));
    // A reservation from longer ago is gone with its minute.
    let later = Windows::at(6_000_600);
    c.record(&later, 5, 0, r);
    assert_eq!(c.usage().tokens, (0, 5));
    // Keys without a token limit reserve nothing.
    let free = ClientKey::test("free", KeyLimits::default());
    assert_eq!(Limiter::reservation(&free, 500), 0);
    let limited = ClientKey::test("t", l);
    assert_eq!(Limiter::reservation(&limited, 500), 500);
}

#[test]
fn parallel_slots_are_held_until_dropped() {
    let store = MemoryStore::default();
    let key = ClientKey::test(
        "k",
        KeyLimits {
            parallel: Some(2),
            ..Default::default()
        },
    );
    let w = Windows::at(6_000_000);
    let a = store.admit(&key, &w, 0).unwrap();
    let b = store.admit(&key, &w, 0).unwrap();
    let refused = store.admit(&key, &w, 0).err().unwrap();
    assert_eq!((refused.why, refused.used), (Refusal::Parallel, 2));
    let e = refused.error(&key, &w);
    assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(1)));
    assert!(e.message.contains("2 requests in flight"), "{}", e.message);
    assert_eq!(store.usage(&key, &w).in_flight, 2);
    // A finished request frees its slot; minutes passing do not.
    drop(a);
    let later = Windows::at(6_000_600);
    let c = store.admit(&key, &later, 0).unwrap();
    assert!(store.admit(&key, &later, 0).is_err());
    drop((b, c));
    assert_eq!(store.usage(&key, &later).in_flight, 0);
    // A key without the limit holds nothing.
    let free = ClientKey::test(
        "free",
        KeyLimits {
            rpm: Some(100),
            ..Default::default()
        },
    );
    let _slots: Vec<Slot> = (0..10)
        .map(|_| store.admit(&free, &w, 0).unwrap())
        .collect();
    assert_eq!(store.usage(&free, &w).in_flight, 0);
}

#[test]
fn the_minute_slides_across_its_boundary() {
    let l = KeyLimits {
        rpm: Some(10),
        ..Default::default()
    };
    let mut c = Counters::default();
    // Ten requests in the last second of a minute (6,000,000 s is a
    // minute boundary)…
    let end = Windows::at_ms(5_999_999_500);
    for _ in 0..10 {
        assert!(c.admit(&l, &end, 0).is_ok());
    }
    let refused = c.admit(&l, &end, 0).unwrap_err();
    assert_eq!((refused.why, refused.used), (Refusal::Requests, 10));
    // …and the first half-second of the next one: a fixed window would
    // admit ten more; the sliding minute still holds 9 of them (10 ×
    // 59.5/60), so one passes and the next is refused.
    let start = Windows::at_ms(6_000_000_500);
    assert!(c.admit(&l, &start, 0).is_ok());
    let r = c.admit(&l, &start, 0).unwrap_err();
    assert_eq!((r.why, r.used), (Refusal::Requests, 10));
    // It says when one will pass: 10 × (60 - t)/60 + 1 < 10 → t > 6 s.
    assert_eq!(r.retry, 6);
    // Half-way into the minute, 5 of the previous ten and 1 are left.
    let half = Windows::at_ms(6_000_030_000);
    let admitted = (0..10).filter(|_| c.admit(&l, &half, 0).is_ok()).count();
    assert_eq!(admitted, 4);
    // A minute with no traffic in between forgets it all.
    let mut c = Counters::default();
    for _ in 0..10 {
        assert!(c.admit(&l, &end, 0).is_ok());
    }
    let later = Windows::at_ms(6_000_060_500);
    assert!(c.admit(&l, &later, 0).is_ok());
}

#[test]
fn sliding_figures_and_waits() {
    assert_eq!(sliding(0, 7, 0), 7);
    assert_eq!(sliding(60, 0, 0), 60);
    assert_eq!(sliding(60, 5, 30_000), 35);
    assert_eq!(sliding(60, 5, 59_999), 5);
    assert_eq!(sliding(u64::MAX, u64::MAX, 0), u64::MAX);
    // This minute alone is at the limit: wait for its end, then until
    // its fading share is below the limit (right away when equal).
    assert_eq!(sliding_retry(0, 10, 10, 45_000), 16);
    // Twice the limit this minute: the end of it, then half of the next.
    assert_eq!(sliding_retry(0, 20, 10, 45_000), 46);
    // The previous minute's share: 20 × (60 - t)/60 + 0 < 10 → t > 30 s.
    assert_eq!(sliding_retry(20, 0, 10, 10_000), 21);
    // Never less than a second.
    assert_eq!(sliding_retry(20, 0, 10, 59_999), 1);
    // A wait computed this way is enough: just after it, one passes.
    for (prev, curr, limit, ms) in [(37, 3, 12, 5_123), (0, 12, 12, 59_000), (100, 50, 60, 0)] {
        let wait = sliding_retry(prev, curr, limit, ms);
        let then = ms + wait * 1000;
        let (p, c) = if then >= 60_000 {
            (curr, 0)
        } else {
            (prev, curr)
        };
        assert!(
            sliding(p, c, then % 60_000) < limit,
            "{prev} {curr} {limit} {ms}: wait {wait}"
        );
    }
}

#[test]
fn redis_settings_are_checked() {
    let cfg = |url: &str, ca: Option<&str>| LimitsConfig {
        backend: Backend::Redis,
        url: Some(url.into()),
        ca_file: ca.map(Into::into),
        ..LimitsConfig::default()
    };
    let key_of = |c: &LimitsConfig| {
        validate(c)
            .err()
            .and_then(|e| e.downcast::<crate::config::KeyError>().ok())
            .map(|e| e.key)
    };
    assert_eq!(key_of(&cfg("redis://127.0.0.1:6379", None)), None);
    assert_eq!(key_of(&cfg("rediss://127.0.0.1:6379", None)), None);
    assert_eq!(
        key_of(&cfg("redis://127.0.0.1:6379", Some("/etc/hostname"))),
        Some("limits.ca_file".into())
    );
    assert_eq!(
        key_of(&cfg("rediss://127.0.0.1:6379", Some("/no/such/ca.pem"))),
        Some("limits.ca_file".into())
    );
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    assert_eq!(
        key_of(&cfg("rediss://127.0.0.1:6379", not_pem.to_str())),
        Some("limits.ca_file".into())
    );
    assert_eq!(
        key_of(&cfg("http://127.0.0.1:6379", None)),
        Some("limits.url".into())
    );
}

#[test]
fn spend_in_nanos() {
    let s = Spend {
        prompt_tokens: 1000,
        completion_tokens: 500,
        cost_usd: 0.00045,
        reserved: Reservation::default(),
    };
    // 0.00045 USD.
    assert_eq!(s.amounts(), (1500, 450_000));
    assert_eq!(Spend::default().amounts(), (0, 0));
}

#[test]
fn refusal_messages_name_key_and_budget() {
    let key = ClientKey::test(
        "team-a",
        KeyLimits {
            rpm: Some(3),
            daily: Some(usd_to_nanos(5.0)),
            ..Default::default()
        },
    );
    let w = Windows::at(6_000_000);
    let e = Refusal::Requests.error(&key, &w, 3, 17);
    assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(17)));
    assert!(e.message.contains("retry in 17 s"), "{}", e.message);
    assert!(e.message.contains("`team-a`") && e.message.contains("3 requests per minute"));
    let e = Refusal::Daily.error(&key, &w, usd_to_nanos(5.5), 0);
    assert_eq!(e.status.as_u16(), 402);
    assert_eq!(e.code.as_deref(), Some("budget_exceeded"));
    assert!(
        e.message.contains("daily budget") && e.message.contains("$5.0000"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn flush_waits_for_usage_writes_on_their_way() {
    // A "Redis" that accepts connections and never answers: each write
    // waits out its timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let cfg = crate::config::Config::parse(&format!(
        r#"
        [keys.k]
        key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        requests_per_minute = 10
        [limits]
        backend = "redis"
        url = "redis://{addr}"
        timeout_ms = 300
        "#
    ))
    .unwrap();
    let table = Quotas::new(
        Arc::new(KeyTable::from_config(&cfg.keys, &cfg.server).unwrap()),
        cfg.limits.clone(),
    );
    let key = table.keys.keys()[0].clone();
    let limiter = Limiter::default();
    let spend = Spend {
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_usd: 0.000015,
        reserved: Reservation::default(),
    };
    limiter.record(&table, &key, spend);
    limiter.record(&table, &key, spend);
    assert_eq!(limiter.pending_writes(), 2);
    let started = std::time::Instant::now();
    assert!(limiter.flush(std::time::Duration::from_secs(5)).await);
    assert_eq!(limiter.pending_writes(), 0);
    // It waited for them (each gave up after its 300 ms timeout).
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    // And a flush that cannot wait long enough says so (a new limiter
    // and quotas: this store now skips Redis for a second after the
    // failures).
    let limiter = Limiter::default();
    let table = Quotas::new(
        Arc::new(KeyTable::from_config(&cfg.keys, &cfg.server).unwrap()),
        cfg.limits.clone(),
    );
    limiter.record(&table, &key, spend);
    assert!(!limiter.flush(std::time::Duration::from_millis(10)).await);
}

/// A figure, not a check: `cargo test --release -p switchyard
/// memory_admission -- --ignored --nocapture`.
#[test]
#[ignore]
fn memory_admission_cost() {
    let store = MemoryStore::default();
    let key = ClientKey::test(
        "k",
        KeyLimits {
            rpm: Some(u64::MAX),
            ..Default::default()
        },
    );
    let n = 100_000u32;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let w = Windows::now();
        assert!(store.admit(&key, &w, 0).is_ok());
    }
    let per = start.elapsed() / n;
    println!("memory admission (clock read + lookup + count): {per:?} per request");
}
