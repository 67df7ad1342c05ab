//! A host key marked `@revoked` in `known_hosts` is refused against a real sshd on 127.0.0.1, as
//! OpenSSH refuses it — even though another line of the same file lists it for that host — and the
//! error names the host and the `known_hosts` line.

mod support;

use std::time::Duration;

use buildmaster::builders::config::{HostKeyPin, SshTarget, Timeouts};
use buildmaster::builders::connection::Connection;
use buildmaster::builders::error::{BuilderError, HostKeyProblem};
use support::sshd::{current_user, Sshd};

#[tokio::test]
async fn a_revoked_host_key_is_refused_naming_the_host_and_line() {
    let sshd = Sshd::start();
    let listed = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let known_hosts = sshd.dir.path().join("known_hosts.revoked");
    let lines = format!(
        "{}\n@revoked [127.0.0.1]:{} {}\n",
        listed.trim_end(),
        sshd.port,
        sshd.host_key_line()
    );
    let revoked_at = lines.lines().count();
    std::fs::write(&known_hosts, &lines).unwrap();
    let target = SshTarget {
        host: "127.0.0.1".into(),
        port: sshd.port,
        user: current_user(),
        private_key: std::fs::read_to_string(&sshd.client_key).unwrap(),
        host_key: HostKeyPin::KnownHosts(known_hosts),
        jump: None,
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        ..Timeouts::default()
    };
    let err = Connection::open("b1", &target, &timeouts).await.unwrap_err();
    let BuilderError::HostKey { problem, .. } = &err else {
        panic!("connected to a revoked host key: {err}");
    };
    assert_eq!(*problem, HostKeyProblem::Revoked { line: revoked_at });
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{}", sshd.port)), "{text}");
    assert!(
        text.contains(&format!("line {revoked_at} of known_hosts")),
        "{text}"
    );
    // Refused in the handshake: nothing authenticated.
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}
