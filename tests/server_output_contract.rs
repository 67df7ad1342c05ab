//! The contract between the buildrun executor and the server: an output tree written by the executor's
//! own writer (`buildrun::output::Output` with `buildrun::status` shapes) is what the API serves — history,
//! status with failure reasons, builders, records, and a log tail that ends when the executor's status says
//! the build is over.

mod server_common;

use buildmaster::buildrun::output::Output;
use buildmaster::buildrun::status::{
    BuildJson, BuildListsJson, BuilderJson, BuilderListsJson, CurrentBuildJson, PortJson, RecordJson,
    RecordPortJson, StatusJson,
};
use server_common::*;

fn port(name: &str) -> PortJson {
    PortJson {
        name: name.into(),
        version: "1.0".into(),
        revision: "1".into(),
        revisioned_name: format!("{name}-1.0-1"),
        recipe_file_path: format!("app-misc/{name}/{name}-1.0.recipe"),
    }
}

fn build(name: &str, numbers: &[u64], failure: Option<&str>) -> BuildJson {
    BuildJson {
        port: port(name),
        resulting_packages: vec![format!("{name}-1.0-1-x86_64.hpkg")],
        required_packages: vec![],
        missing_package_ids: vec![],
        buildable: true,
        build_numbers: numbers.to_vec(),
        lost: false,
        failure_reason: failure.map(str::to_string),
    }
}

fn builder(name: &str, current: Option<(BuildJson, u64)>) -> BuilderJson {
    BuilderJson {
        name: name.into(),
        state: if current.is_some() { "busy" } else { "available" }.into(),
        connection_errors: 0,
        max_connection_errors: 3,
        last_error: None,
        current_build: current.map(|(build, number)| CurrentBuildJson { build, number }),
    }
}

fn status(builds: BuildListsJson, builders: BuilderListsJson, text: &str, ended: bool) -> StatusJson {
    StatusJson {
        builds,
        builders,
        next_build_number: 10,
        ports_tree_origin_url: "https://github.com/haikuports/haikuports.git".into(),
        ports_tree_head: "abc123".into(),
        build_status: text.into(),
        start_time: Some(1_700_000_000.0),
        end_time: ended.then_some(1_700_000_100.0),
    }
}

#[tokio::test]
async fn the_executor_output_is_what_the_api_serves() {
    let tree = Tree::new();
    let output = Output::open(&tree.output(), 4).unwrap();
    output
        .status(&status(
            BuildListsJson {
                active: vec![build("libgreet", &[7], None)],
                failed: vec![build("goodbye", &[6], Some("build failed: exit status 2"))],
                ..BuildListsJson::default()
            },
            BuilderListsJson {
                active: vec![builder("local", Some((build("libgreet", &[7], None), 7)))],
                ..BuilderListsJson::default()
            },
            "starting builds",
            false,
        ))
        .unwrap();
    output
        .record(
            6,
            &RecordJson {
                port: RecordPortJson {
                    name: "goodbye".into(),
                    version: "1.0".into(),
                    revision: "1".into(),
                    revisioned_name: "goodbye-1.0-1".into(),
                },
                build_numbers: vec![6],
                start_time: 1_700_000_010.0,
                duration: 12.5,
                build_success: false,
                builder_id: "local".into(),
                failure_reason: Some("build failed: exit status 2".into()),
            },
        )
        .unwrap();
    let log = output.build_log(7).unwrap();
    std::fs::write(&log, "compiling libgreet\n").unwrap();
    output.master("buildrun 4 started");

    let mut server = Server::start(&tree.output(), None, None).await;
    let history = get(&server.url("/api/buildruns")).await.json();
    assert_eq!(history["buildruns"][0]["buildrun"], 4);
    assert_eq!(history["buildruns"][0]["builds"]["failed"], 1);

    let current = get(&server.url("/api/buildruns/current")).await;
    assert_eq!(current.header("x-buildrun").as_deref(), Some("4"));
    let current = current.json();
    assert_eq!(
        current["builds"]["failed"][0]["failureReason"],
        "build failed: exit status 2"
    );
    assert_eq!(
        current["builds"]["active"][0]["port"]["revisionedName"],
        "libgreet-1.0-1"
    );

    let builders = get(&server.url("/api/builders")).await.json();
    assert_eq!(builders["builders"][0]["name"], "local");
    assert_eq!(builders["builders"][0]["currentBuild"]["number"], 7);

    let records = get(&server.url("/api/buildruns/4/records")).await.json();
    assert_eq!(records["6"]["duration"], 12.5);
    assert!(get(&server.url("/api/buildruns/4/master.log"))
        .await
        .text()
        .contains("buildrun 4 started"));

    let log_reply = get(&server.url("/api/buildruns/4/builds/7/log")).await;
    assert_eq!(log_reply.text(), "compiling libgreet\n");
    assert_eq!(log_reply.header("x-build-active").as_deref(), Some("true"));

    let mut tail = Events::open(&server.url("/api/buildruns/4/builds/7/log/stream"), &[]).await;
    assert_eq!(tail.next_of("log").await.json()["text"], "compiling libgreet\n");
    output
        .status(&status(
            BuildListsJson {
                complete: vec![build("libgreet", &[7], None)],
                failed: vec![build("goodbye", &[6], Some("build failed: exit status 2"))],
                ..BuildListsJson::default()
            },
            BuilderListsJson {
                idle: vec![builder("local", None)],
                ..BuilderListsJson::default()
            },
            "complete (with 1 failures)",
            true,
        ))
        .unwrap();
    tail.next_of("end").await;
    assert!(tail.next().await.is_none());
    server.stop().await;
}
