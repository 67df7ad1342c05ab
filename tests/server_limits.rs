//! The HTTP server's own bounds, over real TCP on 127.0.0.1: a client that never finishes its headers
//! (slowloris) is disconnected after the header-read timeout, and connections beyond the cap are
//! closed at once while the ones within it keep working.

mod server_common;

use std::time::{Duration, Instant};

use buildmaster::server::ConnectionLimits;
use server_common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or resets it); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let tree = Tree::new();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(500),
        ..ConnectionLimits::default()
    };
    let mut server = Server::start_with_limits(&tree.output(), None, None, limits).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut slow))
        .await
        .expect("a client that never finished its headers was kept open for 5 s");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // A well-behaved client is still served.
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_the_others_served() {
    let tree = Tree::new();
    let limits = ConnectionLimits {
        max_connections: 3,
        ..ConnectionLimits::default()
    };
    let mut server = Server::start_with_limits(&tree.output(), None, None, limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Give the server time to accept the three.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let _ = over.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut over))
        .await
        .expect("the connection over the cap was neither served nor closed");
    assert!(
        answer.is_empty(),
        "served beyond the cap: {}",
        String::from_utf8_lossy(&answer)
    );
    // The held connections are served.
    let first = &mut held[0];
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), read_until_closed(first))
        .await
        .unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // Closed connections give their place back.
    held.clear();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = TcpStream::connect(server.addr).await.unwrap();
        let _ = again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        if read_until_closed(&mut again).await.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no place came back after closing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
