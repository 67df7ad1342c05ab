//! What the server must refuse or never show: mutating endpoints without the bearer token (and with no
//! token configured at all), path traversal through any path parameter, and planted secrets in any
//! response of any endpoint.

mod server_common;

use buildmaster::daemon::control::{DaemonStatus, Request};
use buildmaster::plan::instance::Wanted;
use serde_json::json;
use server_common::*;

const TOKEN: &str = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0";

#[tokio::test]
async fn without_a_configured_token_nothing_can_be_changed() {
    let tree = Tree::new();
    let mut server = Server::start(&tree.output(), None, None).await;
    for (path, body) in [
        ("/api/buildruns", r#"{"everything": true}"#),
        ("/api/publish", ""),
        ("/api/pause", ""),
        ("/api/resume", ""),
    ] {
        let bearer = format!("Bearer {TOKEN}");
        let reply = request("POST", &server.url(path), &[("authorization", &bearer)], body).await;
        assert_eq!(reply.status, 403, "{path}");
        let message = reply.json()["error"].as_str().unwrap().to_string();
        assert!(
            message.contains("BUILDMASTER_API_TOKEN") && message.contains("token_file"),
            "{path}: the refusal says how to configure a token: {message}"
        );
    }
    assert!(server.control.try_recv().is_err(), "nothing reached the daemon");
    server.stop().await;
}

#[tokio::test]
async fn mutating_endpoints_need_the_bearer_token() {
    let tree = Tree::new();
    let mut server = Server::start(&tree.output(), None, Some(TOKEN)).await;
    let good = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    for path in ["/api/buildruns", "/api/publish", "/api/pause", "/api/resume"] {
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("authorization", prefix.as_str())],
            vec![("authorization", basic.as_str())],
        ] {
            let reply = request("POST", &server.url(path), &headers, r#"{"update": true}"#).await;
            assert_eq!(reply.status, 401, "{path} {headers:?}");
            assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer"));
        }
    }
    assert!(
        server.control.try_recv().is_err(),
        "no refused request reached the daemon"
    );

    let auth = [
        ("authorization", good.as_str()),
        ("content-type", "application/json"),
    ];
    let cases = [
        (
            "/api/buildruns",
            r#"{"ports": ["bash", "zlib-1.3"]}"#,
            Request::Buildrun(Wanted::Ports(vec!["bash".into(), "zlib-1.3".into()])),
        ),
        (
            "/api/buildruns",
            r#"{"everything": true}"#,
            Request::Buildrun(Wanted::Everything),
        ),
        (
            "/api/buildruns",
            r#"{"update": true}"#,
            Request::Buildrun(Wanted::Update),
        ),
        ("/api/publish", "", Request::Publish),
        ("/api/pause", "", Request::Pause),
        ("/api/resume", "", Request::Resume),
    ];
    for (path, body, expected) in cases {
        let reply = request("POST", &server.url(path), &auth, body).await;
        assert_eq!(reply.status, 202, "{path} {body}: {}", reply.text());
        assert_eq!(server.control.try_recv().unwrap(), expected);
    }
    for body in [
        r#"{}"#,
        r#"{"ports": ["../x"]}"#,
        r#"{"everything": true, "update": true}"#,
        "not json",
        r#"{"ports": "bash"}"#,
    ] {
        let reply = request("POST", &server.url("/api/buildruns"), &auth, body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    assert!(server.control.try_recv().is_err());

    // Read-only endpoints do not accept writes.
    for path in [
        "/api/buildruns/1",
        "/api/builders",
        "/api/packages",
        "/healthz",
        "/metrics",
        "/api/events",
    ] {
        let reply = request("POST", &server.url(path), &auth, "{}").await;
        assert_eq!(reply.status, 405, "{path}");
    }
    // A daemon that stopped listening: 503, not a hang.
    server.control.close();
    let reply = request("POST", &server.url("/api/publish"), &auth, "").await;
    assert_eq!(reply.status, 503);
    server.stop().await;
}

#[tokio::test]
async fn path_parameters_cannot_traverse() {
    let tree = Tree::new();
    tree.write_status(
        1,
        &status(
            json!({"complete": [build("zlib", &[1], None)]}),
            json!({}),
            "complete",
            true,
        ),
    );
    tree.append_log(1, 1, "log");
    // Files a traversal would reach.
    let secret = "TRAVERSAL-SECRET-4242";
    std::fs::write(tree.dir.path().join("secret.log"), secret).unwrap();
    std::fs::write(tree.output().join("buildruns/1/secret.log"), secret).unwrap();
    std::fs::write(
        tree.output().join("buildruns/1/secret.json"),
        format!("{{\"s\": \"{secret}\"}}"),
    )
    .unwrap();
    let mut server = Server::start(&tree.output(), None, None).await;
    for path in [
        "/api/buildruns/..",
        "/api/buildruns/%2e%2e",
        "/api/buildruns/1%2f..%2f..%2fsecret",
        "/api/buildruns/-1",
        "/api/buildruns/1.0",
        "/api/buildruns/..%2F1/records",
        "/api/buildruns/1/builds/..%2fsecret/log",
        "/api/buildruns/1/builds/..%2f..%2fsecret/log",
        "/api/buildruns/1/builds/%2e%2e/log/stream",
        "/api/buildruns/1/builders/..%2f..%2f..%2fsecret/log",
        "/api/buildruns/1/builders/..%2fsecret/log",
        "/api/buildruns/1/builders/%2e%2e/log",
        "/api/buildruns/1/builders/.hidden/log",
        "/api/buildruns/..%2f..%2fsecret/master.log",
        "/ui/../secret.log",
        "/ui/%2e%2e/%2e%2e/secret.log",
        "/../../secret.log",
    ] {
        let reply = get(&server.url(path)).await;
        assert!(
            reply.status == 400 || reply.status == 404,
            "{path}: status {} body {}",
            reply.status,
            reply.text()
        );
        assert!(!reply.text().contains(secret), "{path} leaked the file");
    }
    // The legitimate path still works.
    assert_eq!(
        get(&server.url("/api/buildruns/1/builds/1/log")).await.text(),
        "log"
    );
    server.stop().await;
}

#[tokio::test]
async fn no_endpoint_shows_a_planted_secret() {
    let tree = Tree::new();
    let state = tree.dir.path();
    // Secrets an instance holds: the API token (file and environment), storage credentials, a builder's
    // private key, and a ports tree cloned with a token in its URL.
    let storage_secret = "STORAGE-SECRET-KEY-0xDEADBEEF";
    let ssh_secret = "-----BEGIN OPENSSH PRIVATE KEY-----SSHSECRET";
    let url_secret = "ghp_URLTOKEN1234567890";
    let token_file = state.join("api-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        state.join("storage.json"),
        json!({"backend": "s3", "access_key_id": "AKIATEST", "secret_access_key": storage_secret})
            .to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(state.join("builders/keys")).unwrap();
    std::fs::write(state.join("builders/keys/b1"), ssh_secret).unwrap();
    let mut current = status(
        json!({"active": [build("curl", &[3], None)], "failed": [build("bash", &[2], Some("exit 1"))]}),
        json!({"active": [builder("b1", Some(("curl", 3)))]}),
        "starting builds",
        false,
    );
    current["portsTreeOriginURL"] = json!(format!(
        "https://bot:{url_secret}@github.com/haikuports/haikuports.git"
    ));
    tree.write_status(1, &current);
    tree.append_log(1, 2, "build output\n");
    tree.append_log(1, 3, "running\n");
    tree.write_record(
        1,
        2,
        &json!({"port": port("bash", "1.0"), "buildNumbers": [2], "startTime": 1.7e9,
        "duration": 3.0, "buildSuccess": false, "builderId": "b1",
        "origin": format!("https://bot:{url_secret}@example.org/x")}),
    );
    std::fs::write(tree.buildrun(1).join("master.log"), "master\n").unwrap();
    std::fs::create_dir_all(tree.buildrun(1).join("builders")).unwrap();
    std::fs::write(tree.buildrun(1).join("builders/b1.log"), "builder\n").unwrap();

    let token = buildmaster::server::ApiToken::load(None, Some(&token_file)).unwrap();
    let config = buildmaster::server::ServerConfig {
        output_dir: tree.output(),
        database: None,
        token,
        poll_interval: std::time::Duration::from_millis(50),
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    // The daemon's last error quotes a URL with credentials (a failed webhook, say).
    let (_daemon, daemon_rx) = tokio::sync::watch::channel(DaemonStatus {
        last_error: Some(format!(
            "webhook https://hook:{url_secret}@hooks.example.org/x failed"
        )),
        ..DaemonStatus::default()
    });
    let app = buildmaster::server::AppState::new(config, tx, daemon_rx, buildmaster::server::Metrics::new());
    let debug = format!("{app:?}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(buildmaster::server::serve(listener, app, async move {
        let _ = stopped.await;
    }));

    let mut bodies = vec![("AppState Debug".to_string(), debug)];
    for path in [
        "/",
        "/ui/app.js",
        "/ui/ansi.js",
        "/ui/style.css",
        "/healthz",
        "/metrics",
        "/api/daemon",
        "/api/builders",
        "/api/packages?q=",
        "/api/buildruns",
        "/api/buildruns/current",
        "/api/buildruns/1",
        "/api/buildruns/1/records",
        "/api/buildruns/1/master.log",
        "/api/buildruns/1/builders/b1/log",
        "/api/buildruns/1/builds/2/log",
        "/api/buildruns/1/builds/3/log",
        "/api/buildruns/99",
        "/api/nothing",
    ] {
        let reply = get(&format!("{base}{path}")).await;
        bodies.push((path.to_string(), format!("{:?}\n{}", reply.headers, reply.text())));
    }
    let bearer = format!("Bearer {TOKEN}");
    for (path, headers) in [
        ("/api/publish", vec![]),
        ("/api/publish", vec![("authorization", "Bearer wrong")]),
        ("/api/pause", vec![("authorization", bearer.as_str())]),
    ] {
        let reply = request("POST", &format!("{base}{path}"), &headers, "").await;
        bodies.push((
            format!("POST {path}"),
            format!("{:?}\n{}", reply.headers, reply.text()),
        ));
    }
    let mut events = Events::open(&format!("{base}/api/events"), &[]).await;
    bodies.push(("/api/events".into(), events.next_of("status").await.data));
    let mut log = Events::open(&format!("{base}/api/buildruns/1/builds/3/log/stream"), &[]).await;
    bodies.push(("log stream".into(), log.next_of("log").await.data));

    for (what, body) in &bodies {
        for secret in [TOKEN, storage_secret, "SSHSECRET", url_secret] {
            assert!(
                !body.contains(secret),
                "{what} shows the secret {secret:?}:\n{body}"
            );
        }
    }
    // The origin URL is still shown, without its credentials.
    let status = get(&format!("{base}/api/buildruns/1")).await.json();
    assert_eq!(
        status["portsTreeOriginURL"],
        "https://github.com/haikuports/haikuports.git"
    );
    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
