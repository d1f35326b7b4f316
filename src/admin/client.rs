//! The `ctl` side of the admin socket: send one request, stream progress, return the result.

use super::{AdminError, Request, Response};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Send `req` to the server at `path`; each progress line goes to `on_progress`.
pub async fn call(
    path: &Path,
    req: &Request,
    mut on_progress: impl FnMut(&str),
) -> Result<serde_json::Value, AdminError> {
    let p = path.display().to_string();
    let io = |source| AdminError::Io {
        path: p.clone(),
        source,
    };
    let mut stream = UnixStream::connect(path).await.map_err(io)?;
    let mut line = serde_json::to_string(req).map_err(|e| AdminError::Protocol {
        path: p.clone(),
        message: e.to_string(),
    })?;
    line.push('\n');
    // A server that refuses the peer answers and closes before reading: its answer, not
    // the broken pipe, is what the user needs to see.
    let written = stream.write_all(line.as_bytes()).await;
    let mut lines = BufReader::new(stream).lines();
    while let Some(l) = match lines.next_line().await {
        Ok(l) => l,
        Err(e) => return Err(io(written.err().unwrap_or(e))),
    } {
        match serde_json::from_str::<Response>(&l) {
            Ok(Response::Progress { message }) => on_progress(&message),
            Ok(Response::Result { data }) => return Ok(data),
            Ok(Response::Error { message }) => return Err(AdminError::Remote(message)),
            Err(e) => {
                return Err(AdminError::Protocol {
                    path: p,
                    message: format!("unexpected reply {l:?}: {e}"),
                });
            }
        }
    }
    if let Err(e) = written {
        return Err(io(e));
    }
    Err(AdminError::Protocol {
        path: p,
        message: "the server closed the connection without a result".into(),
    })
}
