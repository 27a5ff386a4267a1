//! The egress rule, enforced for every request an adapter builds. It has two
//! halves. The host name (and port) must be the provider's `base_url` host or
//! one of its `allowed_hosts` (an empty list allows nothing more). And the
//! address must be public: loopback, private, link-local (cloud metadata),
//! CGNAT, multicast and unspecified addresses are refused, unless the
//! provider's own `base_url` names such an address or `localhost` (local
//! models, tests) — even then a metadata address only when `base_url` names
//! exactly it. IP literals are checked before sending; names are checked
//! after resolution by the client's resolver (`EgressResolver`), which
//! drops internal answers, so a DNS answer cannot bend an allowed public
//! name to an internal address. Never sends anything itself.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use crate::config::{ProviderConfig, url_host};

/// The resolver of the outbound client: the system's (`getaddrinfo`, on a
/// blocking thread), minus every internal address. `localhost` and
/// `*.localhost` are loopback without asking DNS (RFC 6761); only providers
/// whose `base_url` is local get that far ([`address_refused`]).
#[derive(Clone, Copy)]
pub(super) struct EgressResolver;

/// A name resolved only to addresses the egress rule refuses.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{name}` resolves only to internal addresses ({addrs}), which no provider may reach by name"
)]
pub(super) struct InternalAnswer {
    name: String,
    addrs: String,
}

impl tower_service::Service<Name> for EgressResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let name = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if is_localhost_name(&name) {
                let addrs: Vec<SocketAddr> = vec![
                    (Ipv4Addr::LOCALHOST, 0).into(),
                    (Ipv6Addr::LOCALHOST, 0).into(),
                ];
                return Ok(addrs.into_iter());
            }
            let all: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if public.is_empty() && !all.is_empty() {
                let addrs = all
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(InternalAnswer { name, addrs }) as _);
            }
            Ok(public.into_iter())
        })
    }
}

pub(super) fn refused_by_resolver(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.is::<InternalAnswer>() {
            return true;
        }
        cur = e.source();
    }
    false
}

pub(super) fn is_localhost_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Cloud instance metadata endpoints (AWS, GCP, Azure: 169.254.169.254;
/// AWS ECS task metadata; Alibaba; AWS over IPv6).
pub(super) fn is_metadata(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            matches!(
                v4.octets(),
                [169, 254, 169, 254] | [169, 254, 170, 2] | [100, 100, 100, 200]
            )
        }
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

/// An IPv4-mapped or NAT64 IPv6 address as the IPv4 address it carries.
pub(super) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            ip
        }
        v4 => v4,
    }
}

/// Whether `ip` is an address no public API lives at.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // CGNAT, 100.64/10
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        }
    }
}

/// The address half of the egress rule for a URL (IP literals and
/// `localhost` names; other names are checked by [`EgressResolver`]):
/// `Some(reason)` when refused.
pub(super) fn address_refused(provider: &ProviderConfig, url: &url::Url) -> Option<String> {
    let base = provider.base();
    let base_ip = base.and_then(|b| match b.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    });
    let base_is_local = base_ip.is_some_and(is_internal)
        || base.and_then(|b| b.host_str()).is_some_and(|h| {
            is_localhost_name(h.trim_end_matches('.').to_ascii_lowercase().as_str())
        });
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            return (is_localhost_name(&name) && !base_is_local).then(|| {
                "`localhost` is reachable only by providers whose base_url is local".to_owned()
            });
        }
        None => return Some("the URL has no host".to_owned()),
    };
    if is_metadata(ip) && base_ip != Some(ip) {
        return Some(format!("{ip} is a cloud metadata address"));
    }
    if is_internal(ip) && !base_is_local {
        return Some(format!(
            "{ip} is a loopback, private or link-local address, reachable only by providers whose base_url names one"
        ));
    }
    None
}

pub(super) fn allowed(provider: &ProviderConfig, host: &str) -> bool {
    if url_host(&provider.base_url).as_deref() == Some(host) {
        return true;
    }
    provider.allowed_hosts.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == host || host.rsplit_once(':').is_some_and(|(h, _)| h == a)
    })
}
