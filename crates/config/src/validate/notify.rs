//! `[notify]`: one webhook source at most, a webhook URL that is https (http for loopback)
//! and never echoed (it holds the webhook's token), and e-mail addresses at both ends.

use super::{Problems, is_domain};

/// `[notify]`: one webhook source at most, a usable URL, and e-mail with both ends.
pub(super) fn notify(n: &crate::NotifyConfig, p: &mut Problems) {
    if n.webhook_url.is_some() && n.webhook_url_file.is_some() {
        p.push(
            "notify.webhook_url",
            "is set together with notify.webhook_url_file; keep one (the file keeps the URL's \
             token out of the config)",
        );
    }
    if let Some(url) = &n.webhook_url {
        webhook_url("notify.webhook_url", url, p);
    }
    for (i, to) in n.email_to.iter().enumerate() {
        if !is_mail_address(to) {
            p.push(
                format!("notify.email_to[{i}]"),
                format!("`{to}` is not an e-mail address; write e.g. \"it@contoso.com\""),
            );
        }
    }
    match &n.email_from {
        None if !n.email_to.is_empty() => p.push(
            "notify.email_from",
            "is not set but notify.email_to is; set the mailbox the e-mail is sent from, e.g. \
             \"o365-ldap@contoso.com\" (the app needs the Mail.Send permission)",
        ),
        Some(from) if !is_mail_address(from) => p.push(
            "notify.email_from",
            format!("`{from}` is not an e-mail address; write e.g. \"o365-ldap@contoso.com\""),
        ),
        _ => {}
    }
}

/// A webhook URL: https (http for loopback hosts). Never echoed: its path or query holds the
/// token that lets anyone post to the channel.
pub(crate) fn webhook_url(key: &str, value: &str, p: &mut Problems) {
    let url = match url::Url::parse(value.trim()) {
        Ok(u) => u,
        Err(e) => {
            p.push(
                key,
                format!("is not a valid absolute URL ({e}); paste the incoming webhook's URL"),
            );
            return;
        }
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => p.push(
            key,
            "must be an https:// URL (http:// only for loopback hosts)",
        ),
    }
}

fn is_mail_address(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !local.chars().any(|c| c.is_whitespace() || c.is_control())
            && is_domain(domain)
    })
}
