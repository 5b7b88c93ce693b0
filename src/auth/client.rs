//! The address a request comes from, for throttling and the security log. Behind a reverse
//! proxy named in `TRUSTED_PROXIES` it is read from the proxy's `Forwarded` or
//! `X-Forwarded-For` header (the nearest address that is not itself a trusted proxy);
//! otherwise it is the connection's, so a header a client writes itself is never believed.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// When the connection's address is unknown (test requests, a Unix socket).
pub const UNKNOWN: &str = "unknown";

pub fn address(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return UNKNOWN.to_string();
    };
    if !trusted_proxies.contains(&peer) {
        return peer.to_string();
    }
    let header = |name: &str| {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let forwarded: Vec<IpAddr> = forwarded_for(&header("forwarded"));
    let chain = if forwarded.is_empty() {
        x_forwarded_for(&header("x-forwarded-for"))
    } else {
        forwarded
    };
    nearest_untrusted(&chain, trusted_proxies)
        .unwrap_or(peer)
        .to_string()
}

/// The address nearest the service that is not a trusted proxy (headers list the client first
/// and each proxy appends the address it heard from).
fn nearest_untrusted(chain: &[IpAddr], trusted: &[IpAddr]) -> Option<IpAddr> {
    chain.iter().rev().find(|a| !trusted.contains(a)).copied()
}

/// The `for=` addresses of an RFC 7239 `Forwarded` header, in order; obfuscated or unknown
/// identifiers are skipped.
fn forwarded_for(value: &str) -> Vec<IpAddr> {
    value
        .split(',')
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| {
            let (name, v) = pair.trim().split_once('=')?;
            name.eq_ignore_ascii_case("for").then(|| parse_node(v))?
        })
        .collect()
}

fn x_forwarded_for(value: &str) -> Vec<IpAddr> {
    value.split(',').filter_map(parse_node).collect()
}

/// `192.0.2.43`, `"[2001:db8::1]:4711"`, `192.0.2.43:8080`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse().ok().or_else(|| {
        let (host, port) = node.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_direct_client_is_its_connection_whatever_it_claims() {
        let req = TestRequest::default()
            .peer_addr("198.51.100.7:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "10.9.9.9"))
            .to_http_request();
        assert_eq!(address(&req, &[]), "198.51.100.7");
        assert_eq!(address(&req, &[ip("203.0.113.1")]), "198.51.100.7");
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_client_counts() {
        let proxy = ip("203.0.113.1");
        let req = |name: &str, value: &str| {
            TestRequest::default()
                .peer_addr("203.0.113.1:443".parse().unwrap())
                .insert_header((name.to_string(), value.to_string()))
                .to_http_request()
        };
        // A client may write its own header; the proxy appends what it heard from.
        assert_eq!(
            address(&req("X-Forwarded-For", "10.9.9.9, 198.51.100.7"), &[proxy]),
            "198.51.100.7"
        );
        assert_eq!(
            address(
                &req("Forwarded", "for=\"[2001:db8::1]:4711\";proto=https"),
                &[proxy]
            ),
            "2001:db8::1"
        );
        assert_eq!(
            address(
                &req("Forwarded", "for=192.0.2.60:80, for=_hidden"),
                &[proxy]
            ),
            "192.0.2.60"
        );
        // A proxy with no usable header is itself the client.
        assert_eq!(
            address(&req("X-Forwarded-For", "garbage"), &[proxy]),
            "203.0.113.1"
        );
    }

    #[test]
    fn no_connection_address_is_unknown() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(address(&req, &[]), UNKNOWN);
    }
}
