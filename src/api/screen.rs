//! The first request line of a connection, read before hyper sees it: a line hyper would
//! refuse with its own empty `400` or `414` (bytes that are not visible ASCII, a target
//! of 100,000 characters) gets the API's JSON error instead. What was read is handed on
//! untouched, so hyper parses the request as if nothing had happened.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The longest request target served; longer is `414`.
pub const MAX_TARGET: usize = 8 * 1024;
/// Bytes read while looking for the end of the request line.
const MAX_LINE: usize = MAX_TARGET + 64;

/// A stream with bytes already read put back in front of it.
pub struct Rewound<S> {
    read: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.read.len() {
            let n = buf.remaining().min(self.read.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.read[at..at + n]);
            self.at += n;
            if self.at == self.read.len() {
                self.read = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    // Passed on as they are: hyper writes a response's head and body in one vectored write.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What is wrong with a request line, if anything: (status line, code, message).
fn judge(line: &[u8]) -> Option<(&'static str, &'static str, String)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ');
    let (method, target, version) = (parts.next()?, parts.next(), parts.next());
    let bad = |why: &str| {
        Some((
            "400 Bad Request",
            "bad_request_line",
            format!("The request line is not HTTP: {why}."),
        ))
    };
    let Some(target) = target else {
        return bad("no request target");
    };
    if target.len() > MAX_TARGET {
        return Some((
            "414 URI Too Long",
            "uri_too_long",
            format!(
                "The request target is {} bytes; the most is {MAX_TARGET}.",
                target.len()
            ),
        ));
    }
    if method.is_empty() || !method.iter().all(u8::is_ascii_alphabetic) {
        return bad("the method is not a word");
    }
    if !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return bad("the target has bytes that are not visible ASCII (percent-encode them)");
    }
    if !version.is_some_and(|v| v.starts_with(b"HTTP/")) || parts.next().is_some() {
        return bad("it does not end in an HTTP version");
    }
    None
}

/// Reads the connection's first request line. `Some` is the stream to serve (with what
/// was read put back); `None` when the client went away, stayed silent past `timeout`,
/// or sent a line that was answered here with a JSON error.
pub async fn screen<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    timeout: Duration,
) -> Option<Rewound<S>> {
    let mut read = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    let verdict = loop {
        if let Some(end) = read.iter().position(|b| *b == b'\n') {
            break judge(&read[..end]);
        }
        if read.len() > MAX_LINE {
            break judge(&read);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => read.extend_from_slice(&chunk[..n]),
        }
    };
    match verdict {
        None => Some(Rewound {
            read,
            at: 0,
            inner: stream,
        }),
        Some((status, code, message)) => {
            let body = serde_json::json!({"error": {"message": message,
                "type": "invalid_request_error", "code": code, "param": null}})
            .to_string();
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_lines_are_judged() {
        assert!(super::judge(b"GET /v2/threads?limit=5 HTTP/1.1\r").is_none());
        assert!(super::judge(b"POST /v2/projects HTTP/1.1").is_none());
        let (status, ..) = super::judge(b"GET /v2/threads/\xff HTTP/1.1\r").unwrap();
        assert_eq!(status, "400 Bad Request");
        let long = format!("GET /v2/threads/{} HTTP/1.1", "x".repeat(100_000));
        assert_eq!(super::judge(long.as_bytes()).unwrap().0, "414 URI Too Long");
        assert!(
            super::judge(b"\x16\x03\x01 garbage").is_some(),
            "TLS to a plain port"
        );
        assert!(super::judge(b"GET").is_some());
    }
}
