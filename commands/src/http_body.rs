//! Reading an HTTP answer's body without trusting its size: an endpoint
//! medic calls (a deploy hook, a vendor API) may answer with gigabytes,
//! by mistake or on purpose, and a whole-body read (`text()`, `bytes()`,
//! `json()`) would hold all of it in medic's memory. Every body medic
//! reads from a server it does not run goes through [`read_capped`].

/// What was read of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    /// Its first bytes, at most the cap.
    pub bytes: Vec<u8>,
    /// Whether there was more (then it was not read, and the connection
    /// was dropped).
    pub truncated: bool,
}

impl Capped {
    /// The bytes as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Reads at most `cap` bytes of `response`'s body, chunk by chunk, and
/// stops there, whatever its `Content-Length` says.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Capped, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Capped {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped {
        bytes,
        truncated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers one request with `head` and then `body_len`
    /// bytes of `x`, written in 64 KiB pieces; returns its URL and how
    /// many body bytes it managed to write before the client hung up.
    async fn server(chunked: bool, body_len: usize) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let head = if chunked {
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
            } else {
                format!("HTTP/1.1 200 OK\r\ncontent-length: {body_len}\r\n\r\n")
            };
            s.write_all(head.as_bytes()).await.unwrap();
            let piece = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = piece.len().min(body_len - sent);
                let wrote = if chunked {
                    let mut framed = format!("{n:x}\r\n").into_bytes();
                    framed.extend_from_slice(&piece[..n]);
                    framed.extend_from_slice(b"\r\n");
                    s.write_all(&framed).await
                } else {
                    s.write_all(&piece[..n]).await
                };
                if wrote.is_err() {
                    break;
                }
                sent += n;
            }
            if chunked && sent == body_len {
                let _ = s.write_all(b"0\r\n\r\n").await;
            }
            sent
        });
        (url, task)
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let (url, _) = server(true, 1000).await;
        let got = read_capped(reqwest::get(&url).await.unwrap(), 4096)
            .await
            .unwrap();
        assert_eq!((got.bytes.len(), got.truncated), (1000, false));
    }

    #[tokio::test]
    async fn an_endless_chunked_body_stops_at_the_cap() {
        // A gigabyte offered; medic keeps 4 KiB and hangs up.
        let (url, sent) = server(true, 1 << 30).await;
        let got = read_capped(reqwest::get(&url).await.unwrap(), 4096)
            .await
            .unwrap();
        assert_eq!((got.bytes.len(), got.truncated), (4096, true));
        assert!(sent.await.unwrap() < 1 << 30, "the rest was never read");
    }

    #[tokio::test]
    async fn a_long_body_with_a_length_stops_at_the_cap_too() {
        let (url, sent) = server(false, 1 << 30).await;
        let got = read_capped(reqwest::get(&url).await.unwrap(), 4096)
            .await
            .unwrap();
        assert_eq!((got.bytes.len(), got.truncated), (4096, true));
        assert!(sent.await.unwrap() < 1 << 30, "the rest was never read");
    }
}
