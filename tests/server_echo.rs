//! Errors never echo a client's input whole, over real HTTP on 127.0.0.1: a 300 KB port name in
//! `POST /api/buildruns` and a 30 KB path parameter are refused with short messages that still
//! show the start of what was sent.

mod server_common;

use server_common::*;

const TOKEN: &str = "tok-echo-0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn a_huge_port_name_or_path_parameter_is_not_echoed_back() {
    let tree = Tree::new();
    let mut server = Server::start(&tree.output(), None, Some(TOKEN)).await;
    let bearer = format!("Bearer {TOKEN}");
    let auth = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let name = format!("evil{}", "y".repeat(300_000));
    let body = format!(r#"{{"ports": ["{name}"]}}"#);
    let reply = request("POST", &server.url("/api/buildruns"), &auth, &body).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().len() < 2_000,
        "the error is {} bytes",
        reply.text().len()
    );
    let error = reply.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("\"evilyyy") && error.contains("300004 bytes"),
        "{error}"
    );

    let param = "z".repeat(30_000);
    let reply = get(&server.url(&format!("/api/buildruns/1/builders/{param}/log"))).await;
    assert!(reply.status >= 400, "{}", reply.status);
    assert!(
        reply.text().len() < 2_000,
        "the error is {} bytes",
        reply.text().len()
    );
    server.stop().await;
}
