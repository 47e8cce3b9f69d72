//! A plain HTTP/1.0 GET over TCP: enough to check what a pod or a service serves without a
//! client library, and with a `Host` header for virtual-host routing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GETs `path` from `addr` (`IP:PORT`) with `Host: host`; the status code and body, or
/// `None` if nothing answered or the answer was not HTTP.
pub fn http_get(addr: &str, host: &str, path: &str) -> Option<(u16, String)> {
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn status_and_body_are_split_and_the_host_header_is_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Read the whole request head first: closing with unread bytes would reset
            // the connection before the client reads the answer.
            let mut request = String::new();
            let mut buf = [0u8; 512];
            while !request.contains("\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "client closed early: {request}");
                request.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            conn.write_all(b"HTTP/1.0 404 Not Found\r\nX: y\r\n\r\nnothing here")
                .unwrap();
            request
        });
        let got = http_get(&addr, "shop.example", "/foo").unwrap();
        assert_eq!(got, (404, "nothing here".to_string()));
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /foo HTTP/1.0\r\n"), "{request}");
        assert!(request.contains("Host: shop.example\r\n"), "{request}");
    }

    #[test]
    fn nothing_listening_gives_none() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(http_get(&format!("127.0.0.1:{port}"), "h", "/"), None);
    }
}
