//! The HTTP API over an output tree the test writes: history, status, records, builders, log ranges, the
//! live log tail, status events, metrics, package search, and a clean shutdown with streams open.

mod server_common;

use buildmaster::daemon::control::Activity;
use serde_json::json;
use server_common::*;

fn two_buildruns(tree: &Tree) {
    let first = status(
        json!({"complete": [build("zlib", &[1], None)], "failed": [build("bash", &[2], Some("build failed (exit 1)"))]}),
        json!({"idle": [builder("b1", None)]}),
        "complete (with 1 failures)",
        true,
    );
    tree.write_status(1, &first);
    tree.write_record(
        1,
        1,
        &json!({"port": port("zlib", "1.0"), "buildNumbers": [1], "startTime": 1.7e9,
        "duration": 42.5, "buildSuccess": true, "builderId": "b1"}),
    );
    let second = status(
        json!({"active": [build("curl", &[3], None)], "scheduled": [build("git", &[], None)],
               "blocked": [build("tig", &[], None)]}),
        json!({"active": [builder("b1", Some(("curl", 3)))], "idle": [builder("b2", None)]}),
        "starting builds",
        false,
    );
    tree.write_status(2, &second);
}

#[tokio::test]
async fn history_status_records_and_builders() {
    let tree = Tree::new();
    two_buildruns(&tree);
    let mut server = Server::start(&tree.output(), None, None).await;

    let history = get(&server.url("/api/buildruns")).await.json();
    let runs = history["buildruns"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["buildrun"], 2, "newest first");
    assert_eq!(runs[0]["builds"]["active"], 1);
    assert_eq!(runs[0]["builds"]["blocked"], 1);
    assert_eq!(runs[1]["buildStatus"], "complete (with 1 failures)");
    assert_eq!(runs[1]["builds"]["failed"], 1);
    assert_eq!(history["nextBefore"], serde_json::Value::Null);

    let page = get(&server.url("/api/buildruns?limit=1")).await.json();
    assert_eq!(page["buildruns"].as_array().unwrap().len(), 1);
    assert_eq!(page["nextBefore"], 2);
    let older = get(&server.url("/api/buildruns?limit=1&before=2")).await.json();
    assert_eq!(older["buildruns"][0]["buildrun"], 1);

    let one = get(&server.url("/api/buildruns/1")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.header("x-buildrun").as_deref(), Some("1"));
    assert_eq!(
        one.json()["builds"]["failed"][0]["failureReason"],
        "build failed (exit 1)"
    );

    let current = get(&server.url("/api/buildruns/current")).await;
    assert_eq!(current.header("x-buildrun").as_deref(), Some("2"));
    assert_eq!(current.json()["buildStatus"], "starting builds");

    let records = get(&server.url("/api/buildruns/1/records")).await.json();
    assert_eq!(records["1"]["duration"], 42.5);

    let builders = get(&server.url("/api/builders")).await.json();
    assert_eq!(builders["buildrun"], 2);
    let list = builders["builders"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "b1");
    assert_eq!(list[0]["listState"], "active");
    assert_eq!(list[0]["currentBuild"]["number"], 3);
    assert_eq!(list[1]["listState"], "idle");

    let missing = get(&server.url("/api/buildruns/9")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("buildrun 9"));
    assert_eq!(get(&server.url("/api/nothing")).await.status, 404);
    assert_eq!(get(&server.url("/healthz")).await.json()["currentBuildrun"], 2);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_tree_is_not_an_error() {
    let tree = Tree::new();
    let mut server = Server::start(&tree.output(), None, None).await;
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    assert_eq!(
        get(&server.url("/api/buildruns")).await.json()["buildruns"],
        json!([])
    );
    let current = get(&server.url("/api/buildruns/current")).await;
    assert_eq!(current.status, 404);
    assert!(current.text().contains("no buildrun yet"));
    assert_eq!(
        get(&server.url("/api/builders")).await.json()["builders"],
        json!([])
    );
    assert_eq!(get(&server.url("/api/packages?q=x")).await.json(), json!([]));
    server.stop().await;
}

#[tokio::test]
async fn log_ranges() {
    let tree = Tree::new();
    two_buildruns(&tree);
    tree.append_log(1, 1, "0123456789abcdef");
    let mut server = Server::start(&tree.output(), None, None).await;
    let url = server.url("/api/buildruns/1/builds/1/log");

    let whole = get(&url).await;
    assert_eq!((whole.status, whole.text().as_str()), (200, "0123456789abcdef"));
    assert_eq!(whole.header("x-build-active").as_deref(), Some("false"));

    let part = request("GET", &url, &[("range", "bytes=4-7")], "").await;
    assert_eq!((part.status, part.text().as_str()), (206, "4567"));
    assert_eq!(part.header("content-range").as_deref(), Some("bytes 4-7/16"));

    let from = request("GET", &url, &[("range", "bytes=10-")], "").await;
    assert_eq!(from.text(), "abcdef");
    let suffix = request("GET", &url, &[("range", "bytes=-3")], "").await;
    assert_eq!(suffix.text(), "def");
    let offset = get(&format!("{url}?offset=12&limit=2")).await;
    assert_eq!((offset.status, offset.text().as_str()), (206, "cd"));
    let at_end = get(&format!("{url}?offset=16")).await;
    assert_eq!((at_end.status, at_end.text().as_str()), (206, ""));

    let past = request("GET", &url, &[("range", "bytes=99-")], "").await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range").as_deref(), Some("bytes */16"));
    let bad = request("GET", &url, &[("range", "lines=1-2")], "").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        get(&server.url("/api/buildruns/1/builds/77/log")).await.status,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn the_log_tail_follows_the_file_until_the_build_ends() {
    let tree = Tree::new();
    two_buildruns(&tree);
    tree.append_log(2, 3, "\u{1b}[1mstarting\u{1b}[0m\n");
    let mut server = Server::start(&tree.output(), None, None).await;
    let mut events = Events::open(&server.url("/api/buildruns/2/builds/3/log/stream"), &[]).await;

    let first = events.next_of("log").await;
    assert_eq!(first.json()["text"], "\u{1b}[1mstarting\u{1b}[0m\n");
    assert_eq!(first.id.as_deref(), Some("17"));

    // A multi-byte character split across two writes arrives whole.
    let euro = "€".as_bytes();
    {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(tree.build_log(2, 3))
            .unwrap();
        file.write_all(b"line two ").unwrap();
        file.write_all(&euro[..1]).unwrap();
        file.flush().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        file.write_all(&euro[1..]).unwrap();
        file.write_all(b"\n").unwrap();
    }
    let mut text = String::new();
    while !text.ends_with('\n') {
        text.push_str(events.next_of("log").await.json()["text"].as_str().unwrap());
    }
    assert_eq!(text, "line two €\n");

    // The build ends: the last lines, then `end`, then the stream closes.
    tree.append_log(2, 3, "done\n");
    let ended = status(
        json!({"complete": [build("curl", &[3], None)]}),
        json!({"idle": [builder("b1", None)]}),
        "complete",
        true,
    );
    tree.write_status(2, &ended);
    let mut rest = String::new();
    loop {
        let event = events.next().await.expect("stream ended without an end event");
        rest.push_str(event.json()["text"].as_str().unwrap());
        if event.event == "end" {
            assert_eq!(event.json()["offset"], 35);
            break;
        }
    }
    assert_eq!(rest, "done\n");
    assert!(events.next().await.is_none(), "the stream closes after end");

    // Reconnecting with Last-Event-ID resumes at that offset.
    let mut resumed = Events::open(
        &server.url("/api/buildruns/2/builds/3/log/stream"),
        &[("last-event-id", "30")],
    )
    .await;
    let mut rest = String::new();
    loop {
        let event = resumed.next().await.unwrap();
        rest.push_str(event.json()["text"].as_str().unwrap());
        if event.event == "end" {
            break;
        }
    }
    assert_eq!(rest, "done\n");
    server.stop().await;
}

#[tokio::test]
async fn status_events_follow_the_files_and_the_daemon() {
    let tree = Tree::new();
    two_buildruns(&tree);
    let mut server = Server::start(&tree.output(), None, None).await;
    let mut events = Events::open(&server.url("/api/events"), &[]).await;

    let first = events.next_of("status").await.json();
    assert_eq!(first["current"]["buildrun"], 2);
    assert_eq!(first["current"]["builds"]["complete"], 0);
    assert_eq!(first["daemon"]["activity"]["state"], "starting");

    // Another process rewrites status.json: noticed by the file fallback.
    let progressed = status(
        json!({"active": [build("git", &[4], None)], "complete": [build("curl", &[3], None)],
               "blocked": [build("tig", &[], None)]}),
        json!({"active": [builder("b1", Some(("git", 4)))]}),
        "starting builds",
        false,
    );
    tree.write_status(2, &progressed);
    let next = events.next_of("status").await.json();
    assert_eq!(next["current"]["builds"]["complete"], 1);
    assert_eq!(next["current"]["builds"]["scheduled"], 0);

    // The daemon's status changes.
    server
        .daemon
        .send_modify(|s| s.activity = Activity::Paused { by: "api".into() });
    let paused = events.next_of("status").await.json();
    assert_eq!(
        paused["daemon"]["activity"],
        json!({"state": "paused", "by": "api"})
    );
    assert_eq!(
        get(&server.url("/api/daemon")).await.json()["activity"]["state"],
        "paused"
    );

    // A new buildrun becomes current.
    tree.write_status(3, &status(json!({}), json!({}), "preparing", false));
    let third = events.next_of("status").await.json();
    assert_eq!(third["current"]["buildrun"], 3);

    // Shutdown ends the open stream rather than waiting for it forever.
    server.stop().await;
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn metrics_report_the_current_buildrun_and_the_handle() {
    let tree = Tree::new();
    two_buildruns(&tree);
    let mut server = Server::start(&tree.output(), None, None).await;
    server
        .metrics
        .add_transferred(buildmaster::server::Direction::ToBuilder, 4096);
    server.metrics.observe_build(
        std::time::Duration::from_secs(75),
        buildmaster::server::Outcome::Failure,
    );
    let reply = get(&server.url("/metrics")).await;
    assert_eq!(reply.status, 200);
    let text = reply.text();
    for line in [
        "buildmaster_queue_length 2",
        "buildmaster_builds{state=\"active\"} 1",
        "buildmaster_builders{state=\"active\"} 1",
        "buildmaster_builders{state=\"idle\"} 1",
        "buildmaster_current_buildrun 2",
        "buildmaster_transferred_bytes_total{direction=\"to_builder\"} 4096",
        "buildmaster_build_duration_seconds_count{result=\"failure\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn package_search_by_name_and_provides() {
    use buildmaster::formats::haiku::record::PackageRecord;
    use buildmaster::haiku::package_info::PackageInfo;
    use buildmaster::haiku::resolvable::Provides;
    use buildmaster::haiku::version::Version;
    use buildmaster::state::{Database, PackageState};

    let tree = Tree::new();
    let db_path = tree.dir.path().join("buildmaster.sqlite");
    let record = |name: &str, provides: &[&str]| {
        let info = PackageInfo {
            name: name.into(),
            summary: format!("the {name} package"),
            version: Version::parse("1.2-1").unwrap(),
            provides: provides
                .iter()
                .map(|p| Provides {
                    name: p.to_string(),
                    version: None,
                    compatible_version: None,
                })
                .collect(),
            ..PackageInfo::default()
        };
        PackageRecord {
            file_name: format!("{name}-1.2-1-x86_64.hpkg"),
            size: 2048,
            sha256: "00".repeat(32),
            info,
            state: PackageState::Stubbed,
            added_at: 0,
            last_indexed_at: None,
            licenses: Vec::new(),
        }
    };
    {
        let mut db = Database::open(&db_path).unwrap();
        db.upsert(&[
            record("bash", &["bash", "cmd:bash"]),
            record("bash_completion", &[]),
            record("coreutils", &["cmd:ls", "cmd:bashbug"]),
            record("zlib", &["lib:libz"]),
        ])
        .unwrap();
    }
    let mut server = Server::start(&tree.output(), Some(db_path.clone()), None).await;
    let names = |reply: Reply| -> Vec<String> {
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(get(&server.url("/api/packages?q=bash")).await),
        ["bash", "bash_completion", "coreutils"]
    );
    assert_eq!(
        names(get(&server.url("/api/packages?q=LIB:LIBZ")).await),
        ["zlib"]
    );
    let zlib = get(&server.url("/api/packages?q=zlib")).await.json();
    assert_eq!(zlib[0]["version"], "1.2-1");
    assert_eq!(zlib[0]["state"], "stubbed");
    assert_eq!(zlib[0]["fileName"], "zlib-1.2-1-x86_64.hpkg");
    assert_eq!(names(get(&server.url("/api/packages?q=&limit=2")).await).len(), 2);

    // A newly recorded package is found without restarting.
    Database::open(&db_path)
        .unwrap()
        .upsert(&[record("zsh", &["cmd:zsh"])])
        .unwrap();
    assert_eq!(names(get(&server.url("/api/packages?q=cmd:zsh")).await), ["zsh"]);
    server.stop().await;
}

#[tokio::test]
async fn a_log_tail_without_any_status_ends_after_the_content() {
    let tree = Tree::new();
    std::fs::create_dir_all(tree.buildrun(5).join("builds")).unwrap();
    tree.append_log(5, 9, "only a log\n");
    let mut server = Server::start(&tree.output(), None, None).await;
    let mut events = Events::open(&server.url("/api/buildruns/5/builds/9/log/stream"), &[]).await;
    assert_eq!(events.next_of("log").await.json()["text"], "only a log\n");
    assert_eq!(events.next_of("end").await.json()["offset"], 11);
    assert!(events.next().await.is_none());
    let missing = get(&server.url("/api/buildruns/5/builds/8/log/stream")).await;
    assert_eq!(missing.status, 404);
    server.stop().await;
}
