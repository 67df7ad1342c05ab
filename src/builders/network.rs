//! Builds without network (`[[builders]] network = "none"`): the build step runs in a new network
//! namespace whose only interface is loopback, so nothing the build runs can reach another machine,
//! nor the builder's own services (the namespace's loopback is its own). The ports-tree sync, the
//! setup and every transfer keep the host's network: they are the master's doing, over SSH.
//!
//! On Linux this is util-linux's `unshare --net` in front of the build's argument vector — as root,
//! or with `--map-root-user` (a user namespace in which the build is root, so it may create the
//! network namespace and bring its loopback up) when the builder logs in as another user. Which one
//! is decided, and checked to work, when the builder is set up; a builder that cannot isolate fails
//! its setup with [`BuilderError::NoNetworkIsolation`] naming it, rather than building with network.
//!
//! Haiku has no network namespaces, and HaikuPorter has no network isolation of its own (its chroot
//! only separates files; `Source.fetch` downloads whatever the recipe names). A Haiku builder with
//! `network = "none"` is refused the same way; docs/builders.md says what an operator does instead.

use super::config::NetworkMode;
use super::error::BuilderError;
use super::exec::ExecLimits;
use super::host::{run_capture, RunCommand};

/// Inside the new namespace, before the build: bring loopback up (it starts down), then become the
/// build. `ip` may be missing; loopback then stays down, which isolates all the same.
const LOOPBACK_UP: &str = "ip link set lo up 2>/dev/null || true; exec \"$@\"";

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The argument-vector prefix that runs a build step with the network `mode` asks for: empty for
/// the host's network; for none, the `unshare` line this builder can run, checked by running it.
pub async fn prepare<H: RunCommand + ?Sized>(
    host: &H,
    mode: NetworkMode,
    limits: &ExecLimits,
) -> Result<Vec<String>, BuilderError> {
    if mode == NetworkMode::Host {
        return Ok(Vec::new());
    }
    let refuse = |reason: String| BuilderError::NoNetworkIsolation {
        builder: host.builder().into(),
        reason,
    };
    let system = run_capture(host, &argv(&["uname", "-s"]), None, limits).await?;
    let system = String::from_utf8_lossy(&system.stdout).trim().to_string();
    if system == "Haiku" {
        return Err(refuse(
            "Haiku has no network namespaces and HaikuPorter no network isolation".into(),
        ));
    }
    let uid = run_capture(host, &argv(&["id", "-u"]), None, limits).await?;
    let is_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let mut prefix = if is_root {
        argv(&["unshare", "--net", "--"])
    } else {
        argv(&["unshare", "--map-root-user", "--net", "--"])
    };
    prefix.extend(argv(&["sh", "-c", LOOPBACK_UP, "sh"]));
    let mut probe = prefix.clone();
    probe.push("true".into());
    let out = match run_capture(host, &probe, None, limits).await {
        Ok(out) => out,
        // The master itself without `unshare`: the process does not start at all.
        Err(BuilderError::Local { source, .. }) => {
            return Err(refuse(format!("cannot start `unshare`: {source}")))
        }
        Err(err) => return Err(err),
    };
    if out.status != 0 {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(refuse(format!(
            "`{}` exited with status {} on {system}: {said}",
            super::quote::command_line(&probe),
            out.status
        )));
    }
    Ok(prefix)
}
