//! What a build without network saw: the interfaces it recorded (`ip -o link`, then `---`, then
//! `/proc/net/dev`), and whether a listener the test owns on 127.0.0.1 got a connection.

#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener;

/// Interface names in the `/proc/net/dev` part of `net` (after its two header lines).
pub fn proc_net_dev_interfaces(net: &str) -> Vec<String> {
    let dev = net.split("---\n").nth(1).unwrap_or_default();
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

/// Whether the listener got a connection (it must be non-blocking: a queued one is accepted at once).
pub fn got_connection(listener: &TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}
