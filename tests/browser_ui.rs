//! The web UI in headless Chromium, driven over the DevTools protocol: the page shows a running buildrun,
//! its counts and builders change live as the test advances status.json (no reload), a build log opens with
//! its ANSI colours as spans, appended lines appear, and the tail ends when the build does. A push through
//! the API into a gated instance (garage, a private staging bucket) is watched on the Pipelines view from
//! `checking` (its test command running) to `promoted`, with the check's log, and a failing one to `red`.
//! Screenshots go to `<target>/test-artifacts/ui.png` (the buildrun), `ui-log.png` (the log) and
//! `ui-pipeline.png` (a pipeline).

#[path = "browser/cdp.rs"]
mod cdp;
#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
#[path = "support/gated_server.rs"]
mod gated_server;
mod server_common;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use buildmaster::daemon::control::{Activity, Request};
use buildmaster::plan::instance::Wanted;
use serde_json::json;
use server_common::*;

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `condition` (JavaScript, true when met) until it holds; on timeout saves a screenshot and fails
/// with the page's text.
async fn wait_for(browser: &mut cdp::Browser, condition: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if browser.eval(condition).await == json!(true) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let png = browser.screenshot().await;
            let shot = artifacts_dir().join("ui-failure.png");
            std::fs::write(&shot, png).unwrap();
            let text = browser.eval("document.body.innerText").await;
            panic!(
                "the page never showed {what} ({condition}); screenshot {}; page text:\n{text}",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(state: &str, n: u64) -> String {
    format!("document.querySelector('#count-{state} .n')?.textContent === '{n}'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_shows_a_running_buildrun_live_and_tails_a_log() {
    let chromium = cdp::find_chromium();
    let tree = Tree::new();
    // A history entry, and a running buildrun.
    tree.write_status(
        1,
        &status(
            json!({"complete": [build("zlib", &[1], None)]}),
            json!({"idle": [builder("builder-1", None)]}),
            "complete",
            true,
        ),
    );
    // Times near now, so the page (and the screenshot) shows sensible durations.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let running = |complete: Vec<serde_json::Value>,
                   active: Vec<serde_json::Value>,
                   scheduled: Vec<serde_json::Value>,
                   failed: Vec<serde_json::Value>,
                   builders: serde_json::Value| {
        let mut running = status(
            json!({"complete": complete, "active": active, "scheduled": scheduled, "failed": failed,
                   "blocked": [json!({"port": port("tig", "2.5"), "resultingPackages": [], "requiredPackages": [],
                       "missingPackageIDs": ["git-2.45"], "buildable": false, "buildNumbers": [], "lost": false,
                       "failureReason": null})]}),
            builders,
            "waiting for packages",
            false,
        );
        running["startTime"] = json!(now - 1234.0);
        running
    };
    tree.write_status(
        2,
        &running(
            vec![],
            vec![build("curl", &[3], None)],
            vec![build("git", &[], None), build("bash", &[], None)],
            vec![],
            json!({"active": [builder("builder-1", Some(("curl", 3)))], "idle": [builder("builder-2", None)]}),
        ),
    );
    tree.append_log(2, 3, "\u{1b}[32m==> configuring curl\u{1b}[0m\n");
    let mut server = Server::start(&tree.output(), None, None).await;

    let mut browser = cdp::Browser::launch(&chromium, 1280, 1000).await;
    browser.navigate(&server.url("/")).await;
    wait_for(
        &mut browser,
        "document.querySelector('#run-title')?.textContent === 'Buildrun 2'",
        "buildrun 2",
    )
    .await;
    wait_for(&mut browser, &count("active", 1), "one active build").await;
    wait_for(&mut browser, &count("scheduled", 2), "two scheduled builds").await;
    wait_for(&mut browser, &count("complete", 0), "no complete build").await;
    wait_for(
        &mut browser,
        "document.querySelector('#connection')?.textContent === 'live'",
        "the live indicator",
    )
    .await;
    wait_for(
        &mut browser,
        "[...document.querySelectorAll('#builders tbody tr')].some(r => r.textContent.includes('builder-1') \
         && r.textContent.includes('curl-1.0-1'))",
        "builder-1 building curl",
    )
    .await;
    // The daemon's status shows next to the buildrun's.
    server.daemon.send_modify(|s| {
        s.activity = Activity::Running {
            job: Request::Buildrun(Wanted::Update),
        }
    });
    wait_for(
        &mut browser,
        "document.querySelector('#daemon-status').textContent === 'daemon: buildrun (update)'",
        "the daemon's activity",
    )
    .await;
    // Marks this page instance: if the UI reloaded to show progress, the mark would be gone.
    browser.eval("window.__notReloaded = 42").await;

    // The buildrun progresses: curl completes, git starts on builder-1 and bash fails on builder-2.
    tree.write_record(
        2,
        3,
        &json!({"port": port("curl", "1.0"), "buildNumbers": [3], "startTime": 1.7e9,
        "duration": 125.0, "buildSuccess": true, "builderId": "builder-1"}),
    );
    tree.write_status(
        2,
        &running(
            vec![build("curl", &[3], None)],
            vec![build("git", &[4], None)],
            vec![],
            vec![build(
                "bash",
                &[5],
                Some("build failed: configure: error: no acceptable C compiler"),
            )],
            json!({"active": [builder("builder-1", Some(("git", 4)))], "idle": [builder("builder-2", None)]}),
        ),
    );
    tree.append_log(
        2,
        4,
        "\u{1b}[1;34m==> building git\u{1b}[0m\nchecking for gcc... gcc\n",
    );
    wait_for(
        &mut browser,
        &count("complete", 1),
        "the complete count rise to 1 live",
    )
    .await;
    wait_for(
        &mut browser,
        &count("failed", 1),
        "the failed count rise to 1 live",
    )
    .await;
    wait_for(
        &mut browser,
        &count("scheduled", 0),
        "the scheduled count drop to 0 live",
    )
    .await;
    wait_for(
        &mut browser,
        "document.querySelector('#builds').textContent.includes('no acceptable C compiler')",
        "the failure reason",
    )
    .await;
    wait_for(
        &mut browser,
        "[...document.querySelectorAll('#builds tbody tr')].some(r => r.textContent.includes('curl-1.0-1') \
         && r.textContent.includes('2m 05s'))",
        "curl's duration from its record",
    )
    .await;
    assert_eq!(
        browser.eval("window.__notReloaded").await,
        json!(42),
        "the page reloaded"
    );
    std::fs::write(artifacts_dir().join("ui.png"), browser.screenshot().await).unwrap();

    // Open git's log from the builds table.
    browser
        .eval("document.querySelector('#builds a[data-log=\"2/4\"]').click()")
        .await;
    wait_for(
        &mut browser,
        "document.querySelector('#log').textContent.includes('checking for gcc')",
        "the log",
    )
    .await;
    wait_for(
        &mut browser,
        "[...document.querySelectorAll('#log span.ansi-fg-4.ansi-bold')].some(s => s.textContent === '==> building git')",
        "the ANSI colours as spans",
    )
    .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#log').textContent.includes('\\u001b')")
            .await,
        json!(false)
    );
    wait_for(
        &mut browser,
        "document.querySelector('#log-state').textContent === 'live'",
        "the tail live",
    )
    .await;

    // Lines appended to the file appear in the open page.
    tree.append_log(
        2,
        4,
        "\u{1b}[31mwarning: appended while watching\u{1b}[0m\nlinking git\n",
    );
    wait_for(
        &mut browser,
        "document.querySelector('#log').textContent.includes('linking git')",
        "the appended lines",
    )
    .await;
    wait_for(
        &mut browser,
        "[...document.querySelectorAll('#log span.ansi-fg-1')].some(s => s.textContent.includes('appended while watching'))",
        "the appended line's colour",
    )
    .await;
    std::fs::write(artifacts_dir().join("ui-log.png"), browser.screenshot().await).unwrap();

    // The converter on its own: an escape split across chunks, 256-colour and true colour, and markup in
    // the log staying text.
    let converted = browser
        .eval(
            "(() => { const d = document.createElement('div'); const r = new AnsiRenderer(d); \
             r.push('\\u001b[3'); r.push('8;5;196mred\\u001b[0m \\u001b[48;2;0;0;255mblue\\u001b[0m <b>x</b>'); \
             const s = d.querySelectorAll('span'); \
             return [s.length, s[0].textContent, s[0].style.color, s[1].style.background, \
                     d.textContent, d.querySelector('b') === null]; })()",
        )
        .await;
    assert_eq!(
        converted,
        json!([
            2,
            "red",
            "rgb(255, 0, 0)",
            "rgb(0, 0, 255)",
            "red blue <b>x</b>",
            true
        ])
    );

    // git finishes: the tail says so.
    tree.append_log(2, 4, "==> git done\n");
    tree.write_status(
        2,
        &running(
            vec![build("curl", &[3], None), build("git", &[4], None)],
            vec![],
            vec![],
            vec![build("bash", &[5], Some("build failed"))],
            json!({"idle": [builder("builder-1", None), builder("builder-2", None)]}),
        ),
    );
    wait_for(
        &mut browser,
        "document.querySelector('#log-state').textContent === 'finished'",
        "the tail end",
    )
    .await;
    wait_for(
        &mut browser,
        "document.querySelector('#log').textContent.includes('==> git done')",
        "the last line",
    )
    .await;
    assert_eq!(
        browser.eval("window.__notReloaded").await,
        json!(42),
        "the page reloaded"
    );

    // History and package search views render.
    browser.eval("location.hash = '#/history'").await;
    wait_for(
        &mut browser,
        "document.querySelectorAll('#history tbody tr[data-buildrun]').length === 2",
        "two buildruns",
    )
    .await;
    browser.eval("location.hash = '#/packages'").await;
    wait_for(
        &mut browser,
        "!document.querySelector('#packages-empty').hidden",
        "the empty package search",
    )
    .await;

    drop(browser);
    server.stop().await;
}

/// JavaScript: the check `kind` of the pipeline shown has status `status`.
fn check_status(kind: &str, status: &str) -> String {
    format!(
        "[...document.querySelectorAll('#pipeline-checks tbody tr')].some(r => \
         r.dataset.check?.endsWith('/{kind}') && r.dataset.status === '{status}')"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_shows_a_push_moving_through_its_pipeline_live() {
    debian_tools::require_tool("dpkg-deb");
    let chromium = cdp::find_chromium();
    let garage = support::garage::Garage::start();
    const TOKEN: &str = "browser-gate-token-0123456789";
    // Each package's test command sleeps this long: the page must catch the pipeline checking.
    let gated = gated_server::GatedServer::start(&garage, Some(TOKEN), 5.0).await;
    let hello = gated.deb("bm-hello", "1.0");
    let broken = gated.deb("bm-broken", "1.0");

    let mut browser = cdp::Browser::launch(&chromium, 1280, 1000).await;
    browser.navigate(&gated.server.url("/#/pipelines")).await;
    wait_for(
        &mut browser,
        "document.querySelector('#pipelines-empty')?.hidden === false",
        "the empty pipeline list",
    )
    .await;
    browser.eval("window.__notReloaded = 7").await;

    let push = |file: std::path::PathBuf| {
        let gated = &gated;
        move || gated.push(&file, "debian/stable", Some(TOKEN), false)
    };
    let (status, body) = push(hello)();
    assert_eq!(status, 202, "{body}");
    let id = body["pipeline"].as_i64().unwrap();
    // The list picks the new pipeline up by itself and shows it checking.
    wait_for(
        &mut browser,
        &format!(
            "document.querySelector('#pipelines tr[data-pipeline=\"{id}\"]')?.dataset.gate === 'checking'"
        ),
        "the new pipeline checking in the list",
    )
    .await;
    browser
        .eval(&format!(
            "document.querySelector('#pipelines tr[data-pipeline=\"{id}\"] a').click()"
        ))
        .await;
    wait_for(
        &mut browser,
        "document.querySelector('#pipeline-state')?.textContent === 'checking'",
        "the pipeline checking",
    )
    .await;
    wait_for(&mut browser, &check_status("test", "running"), "its test running").await;
    wait_for(
        &mut browser,
        "document.querySelector('#pipeline-packages')?.textContent.includes('bm-hello_1.0_all.deb') === true",
        "its package",
    )
    .await;
    // Then, without a reload: promoted, every check passed, the test's log shown as text.
    wait_for(
        &mut browser,
        "document.querySelector('#pipeline-state')?.textContent === 'promoted'",
        "the pipeline promoted",
    )
    .await;
    wait_for(&mut browser, &check_status("test", "passed"), "the test passed").await;
    wait_for(
        &mut browser,
        &check_status("installability", "passed"),
        "installability passed",
    )
    .await;
    wait_for(
        &mut browser,
        "[...document.querySelectorAll('#pipeline-logs pre')].some(p => p.dataset.logOf.endsWith('/test') \
         && p.textContent.includes('testing bm-hello 1.0') && p.textContent.includes('test_greeting: ok'))",
        "the test's log",
    )
    .await;
    assert_eq!(
        browser.eval("window.__notReloaded").await,
        json!(7),
        "the page reloaded"
    );
    std::fs::write(
        artifacts_dir().join("ui-pipeline.png"),
        browser.screenshot().await,
    )
    .unwrap();

    // A failing test: the open list shows the new pipeline checking, then red.
    browser.eval("location.hash = '#/pipelines'").await;
    let (status, body) = push(broken)();
    assert_eq!(status, 202, "{body}");
    let red = body["pipeline"].as_i64().unwrap();
    let row = format!("document.querySelector('#pipelines tr[data-pipeline=\"{red}\"]')?.dataset.gate");
    wait_for(
        &mut browser,
        &format!("{row} === 'checking'"),
        "the failing pipeline checking",
    )
    .await;
    wait_for(
        &mut browser,
        &format!("{row} === 'red'"),
        "the failing pipeline red",
    )
    .await;
    browser
        .eval(&format!("location.hash = '#/pipelines/{red}'"))
        .await;
    wait_for(&mut browser, &check_status("test", "failed"), "the failed test").await;
    wait_for(
        &mut browser,
        "document.querySelector('#pipeline-logs')?.textContent.includes('test_greeting: FAILED') === true",
        "the failed test's log",
    )
    .await;
    assert_eq!(
        browser.eval("window.__notReloaded").await,
        json!(7),
        "the page reloaded"
    );

    drop(browser);
    let mut gated = gated;
    gated.server.stop().await;
}
