//! Validation of the configured Graph and login endpoints, and the same-origin rule that keeps the
//! bearer token from being sent anywhere but the configured Graph root.

use super::error::GraphError;
use url::{Host, Url};

/// Parse and check an endpoint URL from the config: `https://`, or `http://` only for a loopback
/// host (127.0.0.0/8, ::1, localhost) so a test emulator can run without TLS while a typo can
/// never send a secret in clear text. `key` names the setting in the error (`tenant.graph_url`).
/// A trailing `/` is removed from the path so joins are predictable.
pub fn validate_endpoint(key: &str, value: &str) -> Result<Url, GraphError> {
    let bad = |message: String| GraphError::Config {
        key: key.to_owned(),
        message,
    };
    let mut url = Url::parse(value.trim()).map_err(|e| {
        bad(format!(
            "not a valid URL ({e}); expected e.g. https://graph.microsoft.com"
        ))
    })?;
    // The message never echoes the value: a URL with user:password@ would leak it.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user name or password".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not contain a query (?…) or fragment (#…)".into()));
    }
    let host = url
        .host()
        .ok_or_else(|| bad("has no host name".into()))?
        .to_owned();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(bad(format!(
                "http:// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost), not {host}; use https://"
            )));
        }
        other => {
            return Err(bad(format!(
                "scheme {other}:// is not supported; use https://"
            )));
        }
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

/// Loopback hosts, where plain HTTP cannot leave the machine.
pub fn is_loopback(host: &Host<String>) -> bool {
    match host {
        Host::Ipv4(a) => a.is_loopback(),
        Host::Ipv6(a) => a.is_loopback(),
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

/// Same scheme, host and port (default ports filled in).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> String {
        match validate_endpoint("tenant.graph_url", v) {
            Ok(u) => u.to_string(),
            Err(e) => panic!("{v}: {e}"),
        }
    }

    fn err(v: &str) -> String {
        match validate_endpoint("tenant.graph_url", v) {
            Ok(u) => panic!("{v} accepted as {u}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn https_is_allowed_anywhere() {
        assert_eq!(
            ok("https://graph.microsoft.com"),
            "https://graph.microsoft.com/"
        );
        assert_eq!(
            ok("https://graph.microsoft.us/"),
            "https://graph.microsoft.us/"
        );
        assert_eq!(
            ok("https://microsoftgraph.chinacloudapi.cn:8443/prefix/"),
            "https://microsoftgraph.chinacloudapi.cn:8443/prefix"
        );
    }

    #[test]
    fn http_is_allowed_for_loopback_only() {
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(ok("http://127.1.2.3:1"), "http://127.1.2.3:1/");
        assert_eq!(ok("http://[::1]:9000/"), "http://[::1]:9000/");
        assert_eq!(ok("http://LOCALHOST:9000"), "http://localhost:9000/");
    }

    #[test]
    fn http_to_a_public_host_is_refused_naming_the_key() {
        let e = err("http://graph.microsoft.com");
        assert_eq!(
            e,
            "tenant.graph_url: http:// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost), \
not graph.microsoft.com; use https://"
        );
        assert!(err("http://10.0.0.1:8080").contains("loopback"));
        assert!(err("http://[::2]:80").contains("loopback"));
        // A name that merely starts with "localhost" is a public name.
        assert!(err("http://localhost.example.com").contains("loopback"));
        assert!(err("http://128.0.0.1").contains("loopback"));
    }

    #[test]
    fn other_mistakes_are_refused_without_echoing_secrets() {
        assert!(err("ftp://graph.microsoft.com").contains("ftp://"));
        assert!(err("graph.microsoft.com").contains("not a valid URL"));
        let e = err("https://user:hunter2@graph.microsoft.com");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(err("https://graph.microsoft.com/?x=1").contains("query"));
    }

    #[test]
    fn origin_comparison_fills_default_ports() {
        let a = Url::parse("https://graph.microsoft.com/v1.0/users").unwrap();
        let b = Url::parse("https://GRAPH.microsoft.com:443/v1.0/users?$skiptoken=x").unwrap();
        let c = Url::parse("https://graph.microsoft.com:8443/v1.0/users").unwrap();
        let d = Url::parse("http://graph.microsoft.com/v1.0/users").unwrap();
        assert!(same_origin(&a, &b));
        assert!(!same_origin(&a, &c));
        assert!(!same_origin(&a, &d));
    }
}
