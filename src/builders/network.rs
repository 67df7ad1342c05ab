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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::exec::{Exit, OutputSink, Stream};
    use crate::builders::host::Command;

    /// A machine that answers `uname -s` and `id -u` as told and whose `unshare` works or not.
    struct Scripted {
        system: &'static str,
        uid: &'static str,
        unshare_works: bool,
        ran: std::sync::Mutex<Vec<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl RunCommand for Scripted {
        fn builder(&self) -> &str {
            "b7"
        }

        async fn run(
            &self,
            cmd: Command<'_>,
            _limits: &ExecLimits,
            sink: OutputSink<'_>,
        ) -> Result<Exit, BuilderError> {
            self.ran.lock().unwrap().push(cmd.argv.to_vec());
            let (status, out, err) = match cmd.argv[0].as_str() {
                "uname" => (0, self.system, ""),
                "id" => (0, self.uid, ""),
                "unshare" if self.unshare_works => (0, "", ""),
                _ => (1, "", "unshare: unshare failed: Operation not permitted"),
            };
            sink(Stream::Stdout, out.as_bytes());
            sink(Stream::Stderr, err.as_bytes());
            Ok(Exit { status, signal: None })
        }
    }

    fn machine(system: &'static str, uid: &'static str, unshare_works: bool) -> Scripted {
        Scripted {
            system,
            uid,
            unshare_works,
            ran: Default::default(),
        }
    }

    fn limits() -> ExecLimits {
        ExecLimits {
            idle_output: None,
            total: None,
            cancel: Default::default(),
            is_build: false,
            probe: std::time::Duration::from_secs(1),
            pty: false,
        }
    }

    #[tokio::test]
    async fn root_unshares_the_network_and_others_map_root_first() {
        let root = machine("Linux\n", "0\n", true);
        let prefix = prepare(&root, NetworkMode::None, &limits()).await.unwrap();
        assert_eq!(prefix[..3], ["unshare", "--net", "--"]);
        let user = machine("Linux\n", "1000\n", true);
        let prefix = prepare(&user, NetworkMode::None, &limits()).await.unwrap();
        assert_eq!(prefix[..4], ["unshare", "--map-root-user", "--net", "--"]);
        // The probe ran the very prefix the builds will get.
        let probe = user.ran.lock().unwrap().last().cloned().unwrap();
        assert_eq!(probe[..prefix.len()], prefix[..]);
        assert_eq!(probe.last().map(String::as_str), Some("true"));
    }

    #[tokio::test]
    async fn host_network_needs_no_probe() {
        let host = machine("Linux\n", "0\n", false);
        assert!(prepare(&host, NetworkMode::Host, &limits())
            .await
            .unwrap()
            .is_empty());
        assert!(host.ran.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn haiku_and_a_failing_unshare_are_refused_naming_the_builder() {
        for machine in [
            machine("Haiku\n", "0\n", true),
            machine("Linux\n", "1000\n", false),
        ] {
            let err = prepare(&machine, NetworkMode::None, &limits()).await.unwrap_err();
            assert!(matches!(err, BuilderError::NoNetworkIsolation { .. }), "{err}");
            assert!(err.needs_operator());
            let text = err.to_string();
            assert!(
                text.contains("b7") && text.contains("network = \"none\""),
                "{text}"
            );
        }
    }
}
