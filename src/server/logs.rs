//! Logs: a byte range of a build's, builder's or the master's log (`Range: bytes=…` or `?offset=`), and a
//! build log's live tail over server-sent events.
//!
//! The tail sends what the file holds, then follows it: whenever it reaches the end it checks (at most
//! once per status.json change) whether the build is still running, and ends with an `end` event once it is
//! not and the file has been read to its end one last time. Each `log` event's id is the byte offset after
//! it, so a reconnecting `EventSource` (which sends `Last-Event-ID`) resumes where it stopped.
//!
//! `?tail=N` starts the tail near the end instead: at the first line that begins in the file's last
//! N bytes, announced by a `skipped` event (how many bytes were left out). The UI asks for
//! [`UI_TAIL_BYTES`]-sized tails, so opening a huge log does not send all of it to the browser.

use std::convert::Infallible;
use std::io::SeekFrom;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::error::ApiError;
use super::output::{build_is_active, parse_number, validate_name, FileStamp};
use super::state::AppState;

/// Most bytes one range response carries; a client pages through a larger log with `offset`.
pub const MAX_RANGE_BYTES: u64 = 8 << 20;

/// Most bytes one `log` event carries, so a large existing log reaches the browser in pieces it can render.
const EVENT_CHUNK_BYTES: usize = 64 << 10;

/// `?tail=` on the live tail: start this many bytes before the end of the log.
#[derive(Debug, Default, Deserialize)]
pub struct TailQuery {
    /// Bytes before the end to start at (moved forward to the next line start).
    tail: Option<u64>,
}

/// What the UI asks for: the last 256 KiB — a few thousand lines, what a person reads; the raw log
/// link serves the rest.
pub const UI_TAIL_BYTES: u64 = 256 << 10;

/// `?offset=` (bytes from the start) and `?limit=` for log ranges; `Range` wins when both are given.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// First byte to return.
    offset: Option<u64>,
    /// Most bytes to return (capped at [`MAX_RANGE_BYTES`]).
    limit: Option<u64>,
}

/// `GET /api/buildruns/{n}/builds/{b}/log`.
pub async fn build_log(
    State(app): State<AppState>,
    Path((n, b)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    let b = parse_number(&b, "build number")?;
    let path = app.output().build_log(n, b);
    let active = app.output().build_is_active(n, b).await?;
    let mut response = serve_range(path, &format!("build {b} of buildrun {n}"), &query, &headers).await?;
    let value = HeaderValue::from_static(if active { "true" } else { "false" });
    response.headers_mut().insert("x-build-active", value);
    Ok(response)
}

/// `GET /api/buildruns/{n}/builders/{name}/log`.
pub async fn builder_log(
    State(app): State<AppState>,
    Path((n, name)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    let name = validate_name(&name, "builder")?;
    let path = app.output().builder_log(n, name);
    serve_range(path, &format!("builder {name} in buildrun {n}"), &query, &headers).await
}

/// `GET /api/buildruns/{n}/master.log`.
pub async fn master_log(
    State(app): State<AppState>,
    Path(n): Path<String>,
    Query(query): Query<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    let path = app.output().master_log(n);
    serve_range(path, &format!("the master log of buildrun {n}"), &query, &headers).await
}

/// A requested byte range: first byte, and the end (exclusive) if bounded.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// `bytes=start-` or `bytes=start-end` (inclusive end, as HTTP writes it).
    From { start: u64, end: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// Parses a single-range `Range` header; multiple ranges and other units are refused.
fn parse_range(value: &str) -> Result<Wanted, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "unsupported Range {}: use bytes=START-[END] or bytes=-N",
            super::error::echo(value)
        ))
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => Ok(Wanted::Suffix(number(end)?)),
        (false, true) => Ok(Wanted::From {
            start: number(start)?,
            end: None,
        }),
        (false, false) => {
            let (start, end) = (number(start)?, number(end)?);
            if end < start {
                return Err(bad());
            }
            Ok(Wanted::From {
                start,
                end: Some(end + 1),
            })
        }
        (true, true) => Err(bad()),
    }
}

/// Answers with the wanted part of `path`: 200 for the whole file, 206 with `Content-Range` for a part
/// (also when the cap shortened it), 416 when the start is past the end.
async fn serve_range(
    path: PathBuf,
    what: &str,
    query: &LogQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound(format!("no log for {what}")));
        }
        Err(e) => return Err(ApiError::io(&path, e)),
    };
    let size = file.metadata().await.map_err(|e| ApiError::io(&path, e))?.len();
    let range_header = headers
        .get(header::RANGE)
        .map(|v| v.to_str().unwrap_or("<not text>").to_string());
    let wanted = match (&range_header, query.offset) {
        (Some(value), _) => Some(parse_range(value)?),
        (None, Some(start)) => Some(Wanted::From {
            start,
            end: query.limit.map(|limit| start.saturating_add(limit)),
        }),
        (None, None) => query.limit.map(|limit| Wanted::From {
            start: 0,
            end: Some(limit),
        }),
    };
    let (start, end) = match wanted {
        None => (0, size),
        Some(Wanted::Suffix(n)) => (size.saturating_sub(n), size),
        Some(Wanted::From { start, end }) => (start, end.unwrap_or(size).min(size)),
    };
    // HTTP says a `Range` starting at the end of a non-empty file is unsatisfiable; `?offset=` at the end
    // is how a poller asks "anything new?", so that gets an empty 206 instead.
    if start > size || (start == size && size > 0 && range_header.is_some()) {
        return Err(ApiError::RangeNotSatisfiable { size });
    }
    let end = end.min(start.saturating_add(MAX_RANGE_BYTES));
    file.seek(SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::io(&path, e))?;
    let mut bytes = Vec::with_capacity((end - start) as usize);
    (&mut file)
        .take(end - start)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ApiError::io(&path, e))?;
    let partial = start > 0 || end < size;
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = (status, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if partial {
        // An empty part has no first-last form; `*` says "nothing, of this size".
        let range = if end > start {
            format!("bytes {start}-{}/{size}", end - 1)
        } else {
            format!("bytes */{size}")
        };
        if let Ok(value) = HeaderValue::from_str(&range) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(response)
}

/// The data of a `log` event.
#[derive(Serialize)]
struct LogChunk {
    /// Byte offset of the end of this chunk in the file.
    offset: u64,
    /// The text (invalid UTF-8 replaced; a multi-byte character split across reads is kept whole).
    text: String,
}

/// Where a tail is.
struct Tail {
    app: AppState,
    path: PathBuf,
    n: u64,
    b: u64,
    offset: u64,
    /// Bytes of an incomplete UTF-8 character held back for the next read.
    carry: Vec<u8>,
    /// The status.json stamp at the last activity check, and what it said.
    checked: Option<(Option<FileStamp>, bool)>,
    /// The build has ended: read to the end once more, then send `end`.
    draining: bool,
    done: bool,
    /// Started near the end: skip to the first line start, and send `skipped` first.
    skip_to_line: bool,
    /// The `skipped` event still to send (bytes left out), if the tail starts after byte 0.
    skipped: Option<u64>,
}

/// `GET /api/buildruns/{n}/builds/{b}/log/stream`.
pub async fn stream_build_log(
    State(app): State<AppState>,
    Path((n, b)): Path<(String, String)>,
    Query(query): Query<TailQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    let b = parse_number(&b, "build number")?;
    let path = app.output().build_log(n, b);
    if !path.is_file() && !app.output().build_is_active(n, b).await? {
        return Err(ApiError::NotFound(format!(
            "no log for build {b} of buildrun {n}"
        )));
    }
    // `Last-Event-ID` is the offset a reconnecting EventSource had reached.
    let resume: Option<u64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (offset, skip_to_line) = match (resume, query.tail) {
        (Some(offset), _) => (offset, false),
        (None, Some(tail)) => {
            let size = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
            let start = size.saturating_sub(tail);
            (start, start > 0)
        }
        (None, None) => (0, false),
    };
    let tail = Tail {
        app,
        path,
        n,
        b,
        offset,
        carry: Vec::new(),
        checked: None,
        draining: false,
        done: false,
        skip_to_line,
        skipped: None,
    };
    let stream = futures::stream::unfold(tail, |mut tail| async move {
        let event = tail.next_event().await?;
        Some((Ok(event), tail))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

impl Tail {
    /// The next event, waiting for the file to grow; `None` ends the stream (after `end`, or on shutdown).
    async fn next_event(&mut self) -> Option<Event> {
        // On shutdown a tail ends even in the middle of a long log, not only when it waits at the end.
        if self.done || self.app.shutdown().is_cancelled() {
            return None;
        }
        if self.skip_to_line {
            if let Err(e) = self.skip_to_line_start().await {
                self.done = true;
                let message = format!("reading {}: {e}", self.path.display());
                return Some(json_event("error", &serde_json::json!({ "error": message })));
            }
        }
        if let Some(skipped) = self.skipped.take() {
            let data = serde_json::json!({ "offset": self.offset, "skipped": skipped });
            return Some(json_event("skipped", &data).id(self.offset.to_string()));
        }
        loop {
            match self.read_chunk().await {
                Ok(Some(text)) => {
                    let data = LogChunk {
                        offset: self.offset,
                        text,
                    };
                    return Some(json_event("log", &data).id(self.offset.to_string()));
                }
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    let message = format!("reading {}: {e}", self.path.display());
                    return Some(json_event("error", &serde_json::json!({ "error": message })));
                }
            }
            if self.draining {
                self.done = true;
                let tail = String::from_utf8_lossy(&std::mem::take(&mut self.carry)).into_owned();
                return Some(json_event(
                    "end",
                    &LogChunk {
                        offset: self.offset,
                        text: tail,
                    },
                ));
            }
            if !self.still_active().await {
                // The build ended; its last lines may have landed after our read: read once more.
                self.draining = true;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.app.poll_interval()) => {}
                _ = self.app.shutdown().cancelled() => return None,
            }
        }
    }

    /// Moves the start forward to the first byte after a newline (at most one chunk ahead: a longer
    /// line is shown from the middle rather than not at all) and records what was skipped.
    async fn skip_to_line_start(&mut self) -> std::io::Result<()> {
        self.skip_to_line = false;
        let mut file = tokio::fs::File::open(&self.path).await?;
        file.seek(SeekFrom::Start(self.offset - 1)).await?;
        let mut buf = vec![0; EVENT_CHUNK_BYTES];
        let read = file.read(&mut buf).await?;
        // The byte before the start is read too: a start right after a newline stays put.
        if let Some(nl) = buf[..read].iter().position(|b| *b == b'\n') {
            self.offset += nl as u64;
        }
        self.skipped = Some(self.offset);
        Ok(())
    }

    /// Reads what was appended since the last read, as text; `None` at the end of the file.
    async fn read_chunk(&mut self) -> std::io::Result<Option<String>> {
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(file) => file,
            // Not created yet: the build is starting.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(self.offset)).await?;
        let mut buf = vec![0; EVENT_CHUNK_BYTES];
        let read = file.read(&mut buf).await?;
        if read == 0 {
            return Ok(None);
        }
        buf.truncate(read);
        self.offset += read as u64;
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(&buf);
        let keep = incomplete_utf8_suffix(&bytes);
        self.carry = bytes.split_off(bytes.len() - keep);
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Whether the build is still running, re-reading status.json only when it changed.
    async fn still_active(&mut self) -> bool {
        let stamp = FileStamp::of(&self.app.output().status_path(self.n));
        if let Some((at, active)) = self.checked {
            if at == stamp {
                return active;
            }
        }
        let active = match self.app.output().status(self.n).await {
            Ok(status) => build_is_active(&status, self.b),
            // No status.json at all (a tree with logs only): nothing says the build runs.
            Err(ApiError::NotFound(_)) => false,
            // Unreadable for a moment (being rewritten): assume unchanged and look again next time.
            Err(_) => return self.checked.is_none_or(|(_, active)| active),
        };
        self.checked = Some((stamp, active));
        active
    }
}

/// An SSE event of type `name` with `data` as JSON.
pub fn json_event(name: &str, data: &impl Serialize) -> Event {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    Event::default().event(name).data(json)
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is not complete yet (0–3).
fn incomplete_utf8_suffix(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 != 0b1000_0000 {
            // A lead byte (or ASCII): how long its character should be.
            let want = match byte {
                b if b & 0b1110_0000 == 0b1100_0000 => 2,
                b if b & 0b1111_0000 == 0b1110_0000 => 3,
                b if b & 0b1111_1000 == 0b1111_0000 => 4,
                _ => 1,
            };
            return if want > back { back } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("bytes=10-").unwrap(),
            Wanted::From { start: 10, end: None }
        );
        assert_eq!(
            parse_range("bytes=0-9").unwrap(),
            Wanted::From {
                start: 0,
                end: Some(10)
            }
        );
        assert_eq!(parse_range("bytes=-5").unwrap(), Wanted::Suffix(5));
        for bad in ["bytes=5-2", "bytes=-", "items=0-1", "bytes=0-1,3-4", "bytes=a-"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_characters_are_held_back() {
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(incomplete_utf8_suffix(b"abc"), 0);
        assert_eq!(incomplete_utf8_suffix(&[b'a', euro[0]]), 1);
        assert_eq!(incomplete_utf8_suffix(&[b'a', euro[0], euro[1]]), 2);
        assert_eq!(incomplete_utf8_suffix(&[b'a', euro[0], euro[1], euro[2]]), 0);
        assert_eq!(
            incomplete_utf8_suffix(&[0xff]),
            0,
            "invalid bytes are not held forever"
        );
    }
}
