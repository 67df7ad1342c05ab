//! Scratch builds of a Debian recipe tree (issue 15's scratch builds, for `[ports] kind = "debian"`):
//! the tree of tests/buildrun_debian.rs (`libgreet`; `hello-greet`, which depends on it) as a git
//! checkout, a real OpenSSH sshd builder on 127.0.0.1 with the dpkg toolchain and no network, garage
//! with a private staging bucket. A buildrun publishes libgreet into `debian/bookworm`; then:
//! - a branch that changes hello-greet's program is scratch-built: built on the builder (its results
//!   directory there, libgreet streamed from the bucket into its cache), staged under
//!   `scratch/<N>/`, installable in `debian/bookworm` (libgreet served), verdict `success` — to the
//!   webhook too — and nothing new in the served bucket;
//! - a branch whose hello-greet also depends on `ghost-lib`, which nothing provides, builds but is
//!   `failure` naming it, in the pipeline and to the webhook.
//!
//! Needs root and the build root tarball from scripts/install-test-tools.sh.

#[path = "support/apt_root.rs"]
#[allow(dead_code)]
mod apt_root;
#[path = "support/foreign_instance.rs"]
#[allow(dead_code)]
mod foreign_instance;
#[allow(dead_code)]
mod gate_scratch_common;
mod support;

use std::path::Path;
use std::process::Command;

use apt_root::root_tarball;
use foreign_instance::{text, BuilderEntry, ForeignInstance};
use gate_scratch_common::{branch_with_edit, listing, next_verdict, webhook_receiver};
use serde_json::Value;
use support::garage::Garage;
use support::sshd::Sshd;

fn host_architecture() -> String {
    let out = Command::new("dpkg").arg("--print-architecture").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `buildmaster scratch --ref REF --port hello-greet --json`: its exit status and report.
fn scratch(inst: &ForeignInstance, reference: &str) -> (Option<i32>, Value) {
    let out = inst.buildmaster(&["scratch", "--ref", reference, "--port", "hello-greet", "--json"]);
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("scratch {reference}: {}", text(&out)));
    (out.status.code(), report)
}

/// `gate pipelines N` of the scratch build's pipeline.
fn pipeline_text(inst: &ForeignInstance, report: &Value) -> String {
    let id = report["record"]["pipeline"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pipeline: {report:#}"));
    inst.ok(&["gate", "pipelines", &id.to_string()])
}

#[test]
fn a_debian_trees_scratch_build_is_built_on_the_builder_gated_in_its_repository_and_not_published() {
    let tarball = root_tarball();
    let garage = Garage::start();
    let temp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-tree");
    let inst = ForeignInstance::new(&garage, temp.path(), &fixture, &["libgreet", "hello-greet"]);
    let staging_bucket = format!("scratch-debian-{:08x}", fastrand::u32(..));
    garage.create_private_bucket(&staging_bucket);
    let staging_json = temp.path().join("staging.json");
    let staging = garage.storage_json(&inst.prefix).replace(
        "\"bucket_name\": \"packages\"",
        &format!("\"bucket_name\": \"{staging_bucket}\""),
    );
    assert!(staging.contains(&staging_bucket), "{staging}");
    std::fs::write(&staging_json, staging).unwrap();
    let (webhook_url, verdicts) = webhook_receiver();
    let host = host_architecture();
    let settings = format!(
        "kind = \"debian\"\nrepository = \"debian/bookworm\"\n\
         [ports.debian]\nbase_tarball = \"{tarball}\"\narchitecture = \"{host}\"\n\
         [[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\n\
         [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"{host}\"]\n\
         [gate]\nstaging = \"{staging}\"\n\
         [scratch]\nttl_hours = 1\nwebhook_url = \"{webhook_url}\"\n",
        tarball = tarball.display(),
        staging = staging_json.display(),
    );
    let builder = Sshd::start();
    let toolchain = |work: &Path| {
        format!(
            "toolchain = \"dpkg\"\n[builders.dpkg]\nroot_tarball = \"{}\"\nwork_base = \"{}/work\"\n",
            tarball.display(),
            work.display()
        )
    };
    inst.configure(
        &settings,
        &[BuilderEntry {
            name: "deb1",
            sshd: &builder,
            toolchain: &toolchain,
        }],
    );

    // libgreet, built and promoted into debian/bookworm.
    let first = inst.ok(&["buildrun", "libgreet"]);
    assert!(first.contains("built: libgreet-1.0-1"), "{first}");
    let served_before = listing(&inst.dir.join("storage.json"), "");
    assert!(
        served_before.iter().any(|l| l.contains("libgreet_1.0-1_all.deb")),
        "libgreet is not served: {served_before:?}\n{first}"
    );
    // The builder must get libgreet from the bucket for hello-greet's build.
    for entry in std::fs::read_dir(builder.work.join("cache")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }

    // A change to hello-greet's program on a branch: green, staged, not published.
    let sha = branch_with_edit(&inst.tree, "louder", "hello-greet/hello.c", |c| {
        c.replace("puts(GREETING);", "puts(GREETING);\n    puts(\"(louder)\");")
    });
    let (status, report) = scratch(&inst, "louder");
    assert_eq!(status, Some(0), "{report:#}");
    assert_eq!(report["verdict"]["state"], "success", "{report:#}");
    let (_, verdict) = next_verdict(&verdicts);
    assert_eq!(verdict["state"], "success", "{verdict:#}");
    assert_eq!(verdict["sha"], sha.as_str());
    let hello_deb = format!("hello-greet_2.1-1_{host}.deb");
    let id = report["record"]["id"].as_u64().unwrap();
    let staged = listing(&staging_json, "scratch/");
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert!(
        staged[0].contains(&format!("scratch/{id}/{hello_deb}")),
        "{staged:?}"
    );
    assert_eq!(
        listing(&inst.dir.join("storage.json"), ""),
        served_before,
        "the served bucket changed"
    );
    let shown = pipeline_text(&inst, &report);
    assert!(shown.contains("green"), "{shown}");
    assert!(shown.contains(&hello_deb), "{shown}");
    assert!(shown.contains("installability: passed"), "{shown}");
    // Builder side: built there, libgreet streamed into its cache from the bucket.
    assert!(builder.work.join("work/results/hello-greet").is_dir());
    assert!(builder.work.join("cache/libgreet_1.0-1_all.deb").is_file());

    // A branch whose hello-greet needs what nothing provides: built, but red naming it.
    let sha = branch_with_edit(&inst.tree, "ghostly", "hello-greet/debian/control", |c| {
        c.replace(
            "Depends: libgreet (>= 1.0)\n",
            "Depends: libgreet (>= 1.0), ghost-lib\n",
        )
    });
    let (status, report) = scratch(&inst, "ghostly");
    assert_eq!(status, Some(5), "{report:#}");
    assert_eq!(report["verdict"]["state"], "failure", "{report:#}");
    let description = report["verdict"]["description"].as_str().unwrap();
    assert!(
        description.contains(&format!("{hello_deb} cannot be installed"))
            && description.contains("ghost-lib"),
        "{description}"
    );
    let (_, verdict) = next_verdict(&verdicts);
    assert_eq!(verdict["state"], "failure", "{verdict:#}");
    assert_eq!(verdict["sha"], sha.as_str());
    let shown = pipeline_text(&inst, &report);
    assert!(shown.contains("red") && shown.contains("ghost-lib"), "{shown}");
    assert_eq!(listing(&inst.dir.join("storage.json"), ""), served_before);
}
