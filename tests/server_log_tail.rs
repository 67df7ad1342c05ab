//! The live log tail of a huge build log starts near its end when asked (`?tail=`, as the UI asks),
//! over real HTTP on 127.0.0.1: a 32 MB log sends a `skipped` event and about the last 64 KiB, starting
//! at a line, not the whole file; without `?tail=` the tail still starts at byte 0.

mod server_common;

use serde_json::json;
use server_common::*;

#[tokio::test]
async fn a_huge_log_is_tailed_from_near_its_end() {
    let tree = Tree::new();
    tree.write_status(
        4,
        &status(
            json!({ "complete": [build("app", &[7], None)] }),
            json!({}),
            "complete",
            true,
        ),
    );
    let line = format!("{}\n", "y".repeat(99));
    let mut text = String::with_capacity(32 << 20);
    let mut n = 0;
    while text.len() < 32 << 20 {
        text.push_str(&format!("{n:08} {line}"));
        n += 1;
    }
    text.push_str("error: the last line\n");
    tree.append_log(4, 7, &text);
    let mut server = Server::start(&tree.output(), None, None).await;

    let tail = 64 << 10;
    let url = server.url(&format!("/api/buildruns/4/builds/7/log/stream?tail={tail}"));
    let mut events = Events::open(&url, &[]).await;
    let first = events.next().await.unwrap();
    assert_eq!(first.event, "skipped", "{first:?}");
    let skipped = first.json()["skipped"].as_u64().unwrap();
    assert!(skipped >= text.len() as u64 - tail, "{skipped}");
    let mut got = String::new();
    loop {
        let event = events.next().await.expect("no end event");
        got.push_str(event.json()["text"].as_str().unwrap_or_default());
        if event.event == "end" {
            break;
        }
    }
    assert!(got.len() as u64 <= tail, "sent {} bytes", got.len());
    assert_eq!(got.len() as u64 + skipped, text.len() as u64);
    // It starts at a line and ends with the log.
    assert!(
        got.as_bytes()[..8].iter().all(u8::is_ascii_digit),
        "{}",
        &got[..40]
    );
    assert!(got.ends_with("error: the last line\n"));

    // Without `?tail=` the stream starts at byte 0, as before.
    let url = server.url("/api/buildruns/4/builds/7/log/stream");
    let mut events = Events::open(&url, &[]).await;
    let first = events.next_of("log").await;
    assert!(first.json()["text"].as_str().unwrap().starts_with("00000000 "));
    // Shutdown ends a stream that is in the middle of a long log (the client is still connected).
    server.stop().await;
    drop(events);
}
