//! systemd's readiness protocol (`Type=notify`): one datagram to `$NOTIFY_SOCKET` per state
//! change. Without the variable (not started by systemd) every call does nothing.

use std::os::unix::net::UnixDatagram;

fn send(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        // A leading '@' names a socket in the abstract namespace.
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = sent {
        tracing::warn!("cannot tell systemd {state:?}: {e}");
    }
}

/// Serving: systemd considers the unit started.
pub fn ready() {
    send("READY=1\nSTATUS=serving");
}

pub fn reloading() {
    send("RELOADING=1\nSTATUS=reloading the configuration");
}

pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}

/// A line `systemctl status` shows.
pub fn status(text: &str) {
    send(&format!("STATUS={text}"));
}
