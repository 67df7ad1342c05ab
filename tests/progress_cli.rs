//! Progress bars through the real binary: on pipes (how scripts and the other tests run it) stderr stays
//! exactly as without bars — no carriage returns, no cursor codes — and on a terminal (a pseudo-terminal
//! made by util-linux `script`) `storage put|get`, `publish` and `plan` draw their bars, and clear them
//! before the command's own output. `--log-json` keeps bars off even on a terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// What a bar is drawn with: a carriage return and ANSI cursor movement / line erasing.
fn has_bar_codes(text: &str) -> bool {
    text.contains('\r') || text.contains("\x1b[")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A state directory with the filesystem backend (no storage config) and a work area.
struct Instance {
    dir: tempfile::TempDir,
}

impl Instance {
    fn new() -> Self {
        let instance = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(instance.state()).unwrap();
        instance
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("state")
    }

    /// The full argument list for `args` on this instance.
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![
            BIN.to_owned(),
            "--state-dir".to_owned(),
            self.state().display().to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Runs with stdout and stderr on pipes.
    fn piped(&self, args: &[&str]) -> Output {
        let argv = self.argv(args);
        let out = clean_env(Command::new(&argv[0]))
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// Runs on a pseudo-terminal (stdout and stderr both on it); returns what the terminal showed.
    fn on_terminal(&self, args: &[&str]) -> String {
        let line = self
            .argv(args)
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        // -q: no banner; -f: flush as it goes; -e: the command's exit status; -c: the command. The
        // typescript goes to /dev/null; what the terminal showed comes out on script's stdout.
        let out = clean_env(Command::new("script"))
            .args(["-qfec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("util-linux `script` is needed to test progress bars on a pseudo-terminal");
        let shown = text(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?} on a terminal failed:\n{shown}{}",
            text(&out.stderr)
        );
        shown
    }
}

fn clean_env(mut cmd: Command) -> Command {
    cmd.env_remove("STORAGE_BACKEND_CONFIG")
        .env_remove("BUILDMASTER_CONFIG")
        .env_remove("RUST_LOG")
        .env("TERM", "xterm");
    cmd
}

/// A file of `size` pseudo-random bytes.
fn data_file(path: &Path, size: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(7);
    let data: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
    std::fs::write(path, &data).unwrap();
    data
}

const KEY: &str = "packages/big-1.0-1-x86_64.hpkg";

#[test]
fn storage_put_and_get_on_pipes_print_no_bar() {
    let inst = Instance::new();
    let file = inst.path("big.hpkg");
    let data = data_file(&file, 8 << 20);
    let put = inst.piped(&["storage", "put", file.to_str().unwrap(), KEY]);
    assert_eq!(text(&put.stderr), "", "stderr of put on a pipe");
    let stdout = text(&put.stdout);
    assert!(
        stdout.starts_with("uploaded ") && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    assert!(!has_bar_codes(&stdout), "{stdout:?}");

    let back = inst.path("back.hpkg");
    let get = inst.piped(&["storage", "get", KEY, back.to_str().unwrap()]);
    assert_eq!(text(&get.stderr), "", "stderr of get on a pipe");
    assert_eq!(text(&get.stdout), "");
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

#[test]
fn storage_put_and_get_on_a_terminal_draw_a_byte_bar() {
    let inst = Instance::new();
    let file = inst.path("big.hpkg");
    let data = data_file(&file, 32 << 20);
    let shown = inst.on_terminal(&["storage", "put", file.to_str().unwrap(), KEY]);
    assert!(
        shown.contains("put big-1.0-1-x86_64.hpkg ["),
        "no put bar in {shown:?}"
    );
    assert!(shown.contains("MiB"), "no byte counts in {shown:?}");
    assert!(has_bar_codes(&shown), "{shown:?}");
    // The bar is cleared before the report, which stays intact on its own line.
    let report = shown.rsplit("\x1b[2K").next().unwrap();
    assert!(report.contains("uploaded "), "report after the bar: {report:?}");

    let back = inst.path("back.hpkg");
    let shown = inst.on_terminal(&["storage", "get", KEY, back.to_str().unwrap()]);
    assert!(
        shown.contains("get big-1.0-1-x86_64.hpkg ["),
        "no get bar in {shown:?}"
    );
    assert_eq!(std::fs::read(&back).unwrap(), data);

    let json = inst.on_terminal(&["--log-json", "storage", "put", file.to_str().unwrap(), KEY]);
    assert!(!json.contains(" ["), "bar with --log-json: {json:?}");
    assert!(!json.contains("\x1b["), "cursor codes with --log-json: {json:?}");
}

/// Writes `repo.info` and `count` packages into the instance's spool.
fn spool_packages(inst: &Instance, count: usize) {
    let repository = inst.state().join("repository");
    let packages = inst.state().join("packages");
    std::fs::create_dir_all(&repository).unwrap();
    std::fs::create_dir_all(&packages).unwrap();
    std::fs::write(
        repository.join("repo.info"),
        "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\npriority 1\n\
         baseurl https://example.org/haikuports\n\
         identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n",
    )
    .unwrap();
    for i in 0..count {
        let name = format!("pkg{i}");
        let src = inst.path(&format!("src-{name}"));
        std::fs::create_dir_all(src.join("data")).unwrap();
        data_file(&src.join("data").join("payload.dat"), 1 << 20);
        let info = inst.path(&format!("{name}.PackageInfo"));
        std::fs::write(
            &info,
            format!(
                "name {name}\nversion 1.0-1\narchitecture x86_64\nsummary \"Test package {name}\"\n\
                 description \"A package for the progress tests.\"\npackager \"Tests <t@example.org>\"\n\
                 vendor \"Haiku Project\"\ncopyrights {{ \"2026 Tests\" }}\nlicenses {{ \"MIT\" }}\n\
                 provides {{ {name} = 1.0-1 }}\nrequires {{ haiku >= r1~beta4 }}\n"
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["hpkg", "create", "-i"])
            .arg(&info)
            .arg("-C")
            .arg(&src)
            .arg(packages.join(format!("{name}-1.0-1-x86_64.hpkg")))
            .output()
            .unwrap();
        assert!(out.status.success(), "hpkg create: {}", text(&out.stderr));
    }
}

#[test]
fn publish_draws_a_package_bar_on_a_terminal_only() {
    let piped = Instance::new();
    spool_packages(&piped, 3);
    let out = piped.piped(&["publish"]);
    assert_eq!(text(&out.stderr), "", "stderr of publish on a pipe");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("uploaded ").count(), 3, "{stdout:?}");
    assert!(!has_bar_codes(&stdout), "{stdout:?}");

    let terminal = Instance::new();
    spool_packages(&terminal, 3);
    let shown = terminal.on_terminal(&["publish"]);
    assert!(shown.contains("publish ["), "no package bar in {shown:?}");
    assert!(shown.contains("/3 packages"), "no package count in {shown:?}");
    assert!(shown.contains("upload  ["), "no byte bar in {shown:?}");
    let report = shown.rsplit("\x1b[2K").next().unwrap();
    assert_eq!(
        report.matches("uploaded ").count(),
        3,
        "report after the bars: {report:?}"
    );
}

/// A ports tree of `count` ports with an instance config naming it; returns the config.
fn ports_tree(inst: &Instance, count: usize) -> PathBuf {
    let tree = inst.path("tree");
    for i in 0..count {
        let dir = tree.join(format!("app-misc/port{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("port{i}-1.0.recipe")),
            "SUMMARY=\"test\"\nDESCRIPTION=\"test port\"\nHOMEPAGE=\"https://example.org\"\n\
             COPYRIGHT=\"2026 Tests\"\nLICENSE=\"MIT\"\nREVISION=\"1\"\nARCHITECTURES=\"x86_64\"\n\
             PROVIDES=\"\n\t$portName = $portVersion\n\t\"\nREQUIRES=\"\"\nBUILD_REQUIRES=\"\"\n\
             BUILD_PREREQUIRES=\"\"\nBUILD()\n{\n\ttrue\n}\n\nINSTALL()\n{\n\ttrue\n}\n",
        )
        .unwrap();
    }
    let config = inst.path("buildmaster.toml");
    std::fs::write(&config, format!("[ports]\ntree = \"{}\"\n", tree.display())).unwrap();
    config
}

#[test]
fn plan_draws_a_recipe_bar_on_a_terminal_only() {
    let inst = Instance::new();
    let config = ports_tree(&inst, 12);
    let config = config.to_str().unwrap();
    let piped = inst.piped(&["plan", "--config", config, "--everything"]);
    assert_eq!(text(&piped.stderr), "", "stderr of plan on a pipe");
    assert!(!has_bar_codes(&text(&piped.stdout)));

    // The recipe cache now answers every recipe: the bar counts those too.
    let shown = inst.on_terminal(&["plan", "--config", config, "--everything"]);
    assert!(shown.contains("evaluate ["), "no recipe bar in {shown:?}");
    assert!(shown.contains("recipes"), "{shown:?}");
    let report = shown.rsplit("\x1b[2K").next().unwrap();
    assert_eq!(
        report.replace("\r\n", "\n"),
        text(&piped.stdout),
        "plan output after the bar"
    );
}
