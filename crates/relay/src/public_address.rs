//! The attachment client's fence: it reaches public addresses only. Attachment URLs come
//! from webhooks and from agents' replies, so a URL (or a name re-pointed between two
//! lookups, or a redirect) must not make the relay read its own network. IP literals,
//! every redirect and every DNS answer are checked; the configured Graph hosts are exempt,
//! so a test can point the relay at metasim on 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The HTTP client for attachments: every name resolved through [`PublicOnly`], every
/// redirect (at most 5) checked with [`fetchable`]. `exempt` holds the Graph bases' hosts
/// and ports.
pub fn client(exempt: &[(String, Option<u16>)]) -> Result<reqwest::Client, reqwest::Error> {
    let redirects = exempt.to_vec();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(30))
        .dns_resolver(PublicOnly {
            exempt_hosts: exempt.iter().map(|(host, _)| host.clone()).collect(),
        })
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if let Err(refusal) = fetchable(attempt.url(), &redirects) {
                attempt.error(refusal)
            } else {
                attempt.follow()
            }
        }))
        .build()
}

/// Whether the relay fetches attachments from `url`: http(s) only, and an IP address in
/// it must be public unless it is one of the configured Graph bases (`exempt`). Host
/// names are checked when they are resolved ([`PublicOnly`]).
pub fn fetchable(url: &reqwest::Url, exempt: &[(String, Option<u16>)]) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the attachment's address is not an http(s) URL".into());
    }
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return Err("the attachment's URL has no host".into());
    };
    // The URL parser writes every IP address in its canonical form, IPv6 in brackets.
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(());
    };
    let port = url.port_or_known_default();
    if is_public(ip) || exempt.iter().any(|(h, p)| *h == host && *p == port) {
        Ok(())
    } else {
        Err("the attachment's address is not a public one".into())
    }
}

/// Not loopback, private, link-local, shared (CGNAT), documentation, benchmarking,
/// multicast, reserved or unspecified; IPv4 inside IPv6 is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    fn public_v4(ip: Ipv4Addr) -> bool {
        let [a, b, c, _] = ip.octets();
        !(ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.is_broadcast()
            || ip.is_documentation()
            || ip.is_unspecified()
            || ip.is_multicast()
            || a == 0
            || a >= 240
            || (a == 100 && (b & 0xc0) == 64)
            || (a == 198 && (b & 0xfe) == 18)
            || (a == 192 && b == 0 && c == 0))
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // NAT64 and the deprecated IPv4-compatible form reach IPv4 hosts.
                || (s[0] == 0x0064 && s[1] == 0xff9b)
                || s[..6] == [0; 6])
        }
    }
}

/// A host name that resolves to no public address.
#[derive(Debug, thiserror::Error)]
#[error("the attachment's host {0} has no public address")]
pub(crate) struct NotPublic(String);

/// A resolver that keeps only public addresses (except for the configured Graph hosts),
/// so no name, even one re-pointed between two lookups, leads into the relay's network.
#[derive(Debug)]
struct PublicOnly {
    exempt_hosts: Vec<String>,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let exempt = self.exempt_hosts.contains(&host);
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = found.filter(|a| exempt || is_public(a.ip())).collect();
            if kept.is_empty() {
                return Err(Box::new(NotPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched_from() {
        for public in [
            "157.240.22.35",
            "8.8.8.8",
            "2a03:2880:f12f:83:face:b00c:0:25de",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        let exempt = [("127.0.0.1".to_owned(), Some(4000))];
        let check = |url: &str| fetchable(&reqwest::Url::parse(url).unwrap(), &exempt);
        assert!(check("https://scontent.xx.fbcdn.net/v/t1/a.jpg?oe=1").is_ok());
        assert!(check("http://157.240.22.35/a.jpg").is_ok());
        assert!(check("http://127.0.0.1:4000/media-download/1").is_ok());
        for refused in [
            "http://127.0.0.1:4001/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433/",
            "http://[::1]:4000/",
            "ftp://files.example.com/a.jpg",
            "file:///etc/passwd",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
    }
}
