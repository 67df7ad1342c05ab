//! `buildmaster builder check local`: the report of [`check`](super::check) for the local builder,
//! read from this machine — the package cache's files, the free space of its file system, and whether
//! the build tool can run (an executable path, or a name found on `PATH`, which local builds keep).

use std::path::Path;

use super::check::CheckReport;
use super::config::BuilderSpec;
use crate::toolchains::haikuporter::HPKG_EXTENSION;

/// Checks the local builder `spec` (one without an SSH endpoint).
pub fn check_local(spec: &BuilderSpec) -> CheckReport {
    let cache = Path::new(&spec.paths.cache);
    let (cached_packages, cached_bytes) = cached(cache);
    CheckReport {
        endpoint: None,
        cached_packages,
        cached_bytes,
        removed_uploads: 0,
        // The cache may not exist before the first build: its nearest existing ancestor holds it then.
        free_bytes: cache.ancestors().find(|dir| dir.is_dir()).and_then(free_bytes),
        build_tool: spec.haikuporter.clone(),
        build_tool_found: tool_found(&spec.haikuporter),
        latency: None,
    }
}

/// Count and total size of the packages in the cache directory (none if it does not exist yet).
fn cached(cache: &Path) -> (usize, u64) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return (0, 0);
    };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(HPKG_EXTENSION))
        .filter_map(|entry| entry.metadata().ok().filter(|m| m.is_file()))
        .fold((0, 0), |(count, bytes), meta| (count + 1, bytes + meta.len()))
}

/// Bytes available to unprivileged users on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs struct the call fills in.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    Some(stats.f_bavail as u64 * stats.f_frsize as u64)
}

/// Whether `tool` can be run as the local builder runs it: a path to an executable file, or a name on
/// `PATH`.
fn tool_found(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if tool.contains('/') {
        return executable(Path::new(tool));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(tool))))
}
