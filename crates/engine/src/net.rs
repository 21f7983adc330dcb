//! The network rules of every outbound call a tool makes (webhooks, their OAuth2 token
//! endpoints): which hosts an assistant may reach, checked where it cannot be dodged.
//!
//! - With `safety.strict`, only hosts matching `safety.allowed_domains` are reached:
//!   exact hosts, IP literals, and `*.example.com` for the subdomains of example.com.
//! - Loopback, private, link-local (cloud metadata among them), CGNAT, multicast and other
//!   special addresses are refused unless the assistant lists that exact host.
//! - The check is made on the resolved addresses, by the client's own resolver, so the
//!   connection goes to an address that was checked (no second lookup), and again on
//!   every redirect hop.

use agentdeck_model::Safety;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Redirects followed before a call gives up.
const MAX_REDIRECTS: usize = 5;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An assistant's network rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetRules {
    strict: bool,
    /// Lowercased, without a trailing dot.
    allowed: Vec<String>,
}

impl NetRules {
    pub fn of(safety: &Safety) -> NetRules {
        let mut allowed: Vec<String> = safety
            .allowed_domains
            .iter()
            .map(|d| normalize_host(d))
            .filter(|d| !d.is_empty())
            .collect();
        allowed.sort();
        allowed.dedup();
        NetRules {
            strict: safety.strict,
            allowed,
        }
    }

    /// The host is listed as it is (not through a wildcard).
    fn lists_exactly(&self, host: &str) -> bool {
        self.allowed.iter().any(|d| d == host)
    }

    fn matches(&self, host: &str) -> bool {
        self.allowed.iter().any(|d| match d.strip_prefix("*.") {
            Some(parent) => host
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => d == host,
        })
    }

    /// Checks a URL before anything is sent to it: its scheme, the strict allow list,
    /// and the address when the host is an IP literal (a name is checked when resolved).
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{url}: only http and https URLs are allowed, not {}",
                url.scheme()
            ));
        }
        let Some(host) = url.host_str().map(normalize_host) else {
            return Err(format!("{url}: the URL has no host"));
        };
        if self.strict && !self.matches(&host) {
            return Err(format!(
                "{host} is not in this assistant's safety.allowed_domains (safety.strict is on)"
            ));
        }
        // A name is checked when it is resolved; an IP literal is not resolved.
        match host.parse::<IpAddr>() {
            Ok(ip) => self.check_address(&host, ip),
            Err(_) => Ok(()),
        }
    }

    /// A resolved (or literal) address of `host`.
    fn check_address(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        match special(ip) {
            Some(kind) if !self.lists_exactly(host) => Err(format!(
                "{host} is {ip}, a {kind} address, which tools may not reach unless the \
                 assistant lists \"{host}\" in safety.allowed_domains"
            )),
            _ => Ok(()),
        }
    }

    /// An HTTP client that keeps these rules: its resolver checks every address, its
    /// redirect policy checks every hop, and it uses no proxy from the environment.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, String> {
        let rules = Arc::new(self.clone());
        let hops = rules.clone();
        reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(CheckedResolver { rules })
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match hops.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(format!("redirect refused: {why}")),
                }
            }))
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|err| format!("could not make an HTTP client: {err}"))
    }
}

fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// What kind of address tools may not reach by default, if it is one.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else if v6.segments()[..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible (deprecated) addresses reach IPv4 hosts.
                Some("IPv4-compatible")
            } else if first == 0x64 && v6.segments()[1] == 0xff9b {
                // NAT64 maps the IPv4 address in its last 32 bits.
                let o = v6.octets();
                special_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
                    .map(|_| "NAT64 of a special IPv4")
            } else if first == 0x2002 {
                // 6to4 carries an IPv4 address in bits 16-47 (2002:7f00:1:: is 127.0.0.1).
                let o = v6.octets();
                special_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5])).map(|_| "6to4 of a special IPv4")
            } else if first == 0x2001 && v6.segments()[1] == 0 {
                // Teredo: the client's IPv4 address, inverted, in the last 32 bits, and
                // the server's in bits 32-63.
                let o = v6.octets();
                let client = Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]);
                let server = Ipv4Addr::new(o[4], o[5], o[6], o[7]);
                special_v4(client)
                    .or_else(|| special_v4(server))
                    .map(|_| "Teredo of a special IPv4")
            } else {
                None
            }
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        // 169.254.169.254 serves cloud instance metadata.
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("CGNAT")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a == 0 {
        Some("unspecified (\"this network\")")
    } else if ip.is_documentation() {
        Some("documentation")
    } else if a >= 240 {
        Some("reserved")
    } else if a == 192 && b == 0 && c == 0 {
        Some("IETF protocol assignment")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else {
        None
    }
}

/// Resolves with the system resolver, then lets through only addresses the rules allow:
/// the connection is made to one of those, never to a second lookup's answer.
struct CheckedResolver {
    rules: Arc<NetRules>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.rules.clone();
        Box::pin(async move {
            let host = normalize_host(name.as_str());
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|err| format!("{host} could not be resolved: {err}"))?
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            // One refused address refuses the name: a name that is partly internal
            // is not one to trust with the rest.
            for addr in &found {
                rules.check_address(&host, addr.ip())?;
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP error's messages without its URL: a URL may carry credentials
/// (`https://user:secret@host`), and these messages reach models, logs and telemetry.
pub fn http_error(err: reqwest::Error) -> String {
    error_chain(&err.without_url())
}

/// A URL as it may be shown: without user name and password.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

/// Every message of an error's chain, for a tool output that says what went wrong.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(strict: bool, allowed: &[&str]) -> NetRules {
        NetRules::of(&Safety {
            strict,
            allowed_domains: allowed.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn credentials_in_urls_are_not_shown() {
        assert_eq!(
            shown_url("https://user:s3cret@hooks.example.com/x?y=1"),
            "https://hooks.example.com/x?y=1"
        );
    }

    #[test]
    fn special_addresses_are_named() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("100.64.0.1", "CGNAT"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("fd00::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("64:ff9b::7f00:1", "NAT64 of a special IPv4"),
            ("2002:7f00:1::", "6to4 of a special IPv4"),
            ("2002:a9fe:a9fe::1", "6to4 of a special IPv4"),
            // Teredo with the client 127.0.0.1 (inverted: 80ff:fffe).
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                "Teredo of a special IPv4",
            ),
        ] {
            assert_eq!(special(ip.parse().unwrap()), Some(kind), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "100.128.0.1",
            "2002:808:808::1",
        ] {
            assert_eq!(special(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn strict_rules_match_exact_hosts_wildcards_and_literals() {
        let strict = rules(true, &["*.lawfirm.com", "api.example.org", "8.8.8.8"]);
        assert!(strict.check_url(&url("https://docs.lawfirm.com/x")).is_ok());
        assert!(strict.check_url(&url("https://a.b.lawfirm.com/x")).is_ok());
        assert!(strict.check_url(&url("https://API.Example.org./x")).is_ok());
        assert!(strict.check_url(&url("http://8.8.8.8/")).is_ok());
        for refused in [
            "https://lawfirm.com/",
            "https://evillawfirm.com/",
            "https://lawfirm.com.evil.net/",
            "https://example.org/",
            "http://8.8.4.4/",
        ] {
            let why = strict.check_url(&url(refused)).unwrap_err();
            assert!(why.contains("allowed_domains"), "{refused}: {why}");
        }
        assert!(strict.check_url(&url("ftp://docs.lawfirm.com/")).is_err());
    }

    #[test]
    fn special_literals_need_the_exact_host_listed() {
        let open = rules(false, &[]);
        assert!(open.check_url(&url("https://example.com/")).is_ok());
        let why = open.check_url(&url("http://127.0.0.1:8080/")).unwrap_err();
        assert!(why.contains("loopback"), "{why}");
        assert!(
            open.check_url(&url("http://169.254.169.254/latest/meta-data"))
                .unwrap_err()
                .contains("metadata")
        );
        assert!(open.check_url(&url("http://[::1]/")).is_err());
        let listed = rules(false, &["127.0.0.1"]);
        assert!(listed.check_url(&url("http://127.0.0.1:8080/")).is_ok());
        assert!(listed.check_url(&url("http://127.0.0.2/")).is_err());
        // A wildcard never lets a special address through.
        let wild = rules(false, &["*.internal.corp"]);
        assert!(
            wild.check_address("db.internal.corp", "10.0.0.5".parse().unwrap())
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_when_resolved() {
        let resolver = CheckedResolver {
            rules: Arc::new(rules(false, &["127.0.0.1"])),
        };
        let Err(why) = resolver.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost was let through");
        };
        assert!(why.to_string().contains("loopback"), "{why}");
        let resolver = CheckedResolver {
            rules: Arc::new(rules(false, &["localhost"])),
        };
        assert!(resolver.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
