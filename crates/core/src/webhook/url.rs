//! Which URLs a webhook may call: http(s) only, never a link-local, cloud metadata or
//! unspecified address. Checked when a subscription is written (the URL as given) and again
//! by the delivery transport for every address the host name resolves to.

use crate::error::DomainError;
// `core::net`: address values only, no IO.
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Host names of cloud instance-metadata services (compared without case and trailing dot).
pub const METADATA_HOSTS: [&str; 5] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// The AWS instance-metadata service's IPv6 address.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// The host of a checked URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost {
    /// A DNS name (lower case, without a trailing dot).
    Name(String),
    /// An IP address literal.
    Ip(IpAddr),
}

/// A URL the engine may call, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// `https` (true) or `http`.
    pub https: bool,
    /// The host.
    pub host: UrlHost,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
}

/// Why a resolved or literal address may not be called (`None`: it may).
///
/// Loopback and private addresses are allowed (a relay on the same host or network is the
/// usual receiver); link-local addresses (169.254.0.0/16, fe80::/10, which is where cloud
/// metadata services answer), the metadata addresses themselves, unspecified, broadcast and
/// multicast addresses are not. IPv4-mapped IPv6 addresses are judged as the IPv4 address.
pub fn address_refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_refused(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_refused(v4);
            }
            if v6 == AWS_METADATA_V6 {
                Some("a cloud metadata address")
            } else if v6.is_unspecified() {
                Some("an unspecified address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                Some("a link-local address (fe80::/10)")
            } else {
                None
            }
        }
    }
}

fn v4_refused(v4: Ipv4Addr) -> Option<&'static str> {
    if v4 == Ipv4Addr::new(169, 254, 169, 254) {
        Some("a cloud metadata address")
    } else if v4.is_link_local() {
        Some("a link-local address (169.254.0.0/16)")
    } else if v4.is_unspecified() {
        Some("an unspecified address")
    } else if v4.is_broadcast() {
        Some("a broadcast address")
    } else if v4.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

fn refused(url: &str, reason: impl Into<String>) -> DomainError {
    DomainError::UnsafeWebhookUrl {
        url: url.chars().take(200).collect(),
        reason: reason.into(),
    }
}

/// Checks a webhook URL: `http://` or `https://`, a host, an optional port, no credentials,
/// no white space or control characters, and a host that is neither a refused address
/// ([`address_refused`]) nor a metadata host name ([`METADATA_HOSTS`]), nor a number that a
/// resolver would read as an address (`2852039166`, `0xa9fea9fe`).
pub fn check_url(url: &str) -> Result<WebhookUrl, DomainError> {
    if url.len() > MAX_URL_BYTES {
        return Err(refused(url, format!("longer than {MAX_URL_BYTES} bytes")));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused(url, "white space or control characters"));
    }
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(refused(url, "only http:// and https:// URLs are called"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(refused(
            url,
            "credentials in the URL are not allowed (the signature authenticates the engine)",
        ));
    }
    let (host, port) = split_host_port(authority).map_err(|reason| refused(url, reason))?;
    let port = match port {
        Some(p) => p,
        None if https => 443,
        None => 80,
    };
    let host = if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| refused(url, "an unclosed IPv6 address"))?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| refused(url, "not an IPv6 address"))?;
        UrlHost::Ip(IpAddr::V6(ip))
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        UrlHost::Ip(IpAddr::V4(ip))
    } else {
        let name = host.trim_end_matches('.');
        check_name(name).map_err(|reason| refused(url, reason))?;
        UrlHost::Name(name.to_owned())
    };
    if let UrlHost::Ip(ip) = &host
        && let Some(reason) = address_refused(*ip)
    {
        return Err(refused(url, format!("the host is {reason}")));
    }
    Ok(WebhookUrl { https, host, port })
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let rest = &authority[end + 1..];
                match rest.strip_prefix(':') {
                    Some(port) => (&authority[..=end], Some(port)),
                    None if rest.is_empty() => (authority, None),
                    None => return Err("text after the IPv6 address"),
                }
            }
            None => return Err("an unclosed IPv6 address"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("the port is not a number in 1..=65535"),
            Ok(p) => Some(p),
        },
    };
    Ok((host, port))
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 253 {
        return Err("not a host name");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err("not a host name (letters, digits, '-', '_' and '.')");
    }
    if METADATA_HOSTS.contains(&name) {
        return Err("the host is a cloud metadata service");
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        return Err("a number that is not a dotted IPv4 address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https_hosts() {
        let u = check_url("https://hooks.example.com/services/T0/B0").expect("ok");
        assert!(u.https);
        assert_eq!(u.port, 443);
        assert_eq!(u.host, UrlHost::Name("hooks.example.com".into()));
        let u = check_url("http://127.0.0.1:8080/hook?x=1").expect("ok");
        assert_eq!(u.port, 8080);
        assert_eq!(u.host, UrlHost::Ip("127.0.0.1".parse().expect("ip")));
        assert!(check_url("http://[::1]:9000/").is_ok());
        assert!(check_url("http://10.0.0.5/relay").is_ok());
    }

    #[test]
    fn refuses_what_it_must() {
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://x/",
            "javascript:alert(1)",
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.1.1/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://0.0.0.0:80/",
            "http://[::]/",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://user:pass@example.com/",
            "http://example.com:0/",
            "http://example.com:99999/",
            "http:///path",
            "http://exa mple.com/",
            "http://[::1/",
        ] {
            let e = check_url(url).expect_err(url);
            assert_eq!(e.code(), "unsafe_webhook_url", "{url}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(MAX_URL_BYTES))).is_err());
    }
}
