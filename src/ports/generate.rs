//! A seeded generator of HaikuPorts-shaped trees, for tests and the planning benchmark
//! (`cargo run --release --example ports_tree_gen -- OUT_DIR [--recipes 3900] [--seed 1]`).
//!
//! Shape (defaults; see `docs/ports.md`): 3,900 recipes in 80 categories, about 4.5 % of ports with
//! two versions, half the ports libraries (always a `_devel` subpackage, some `_tools`/`_doc`), the
//! rest applications (some `_devel`/`_data`), giving about 6,500 packages. Dependencies form a DAG
//! over port order: a fixed set of foundation ports (toolchain, zlib, openssl, glib, …) that many
//! ports require, plus a few earlier libraries each. Every requirement is provided by a port of the
//! tree except `haiku`/`haiku_devel`, which — as in HaikuPorts — come from the system packages.
//! Recipes carry everything a real one does (SUMMARY, DESCRIPTION heredoc, HOMEPAGE, COPYRIGHT,
//! LICENSE, SOURCE_URI, CHECKSUM_SHA256, PATCHES with the patch files, ARCHITECTURES with `?`/`!`,
//! SECONDARY_ARCHITECTURES, BUILD/INSTALL/TEST bodies). The same seed gives the same tree.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::haiku::heap_writer::Compression;
use crate::haiku::hpkg_writer::{create_package, CreateOptions};

use crate::ports::attributes::{parse_architectures, status_on};
use crate::ports::model::ArchStatus;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Recipe files to write (default 3,900).
    pub recipes: usize,
    /// Random seed (default 1).
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            recipes: 3900,
            seed: 1,
        }
    }
}

/// What was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// Recipe files written.
    pub recipes: usize,
    /// Distinct ports.
    pub ports: usize,
    /// Packages the recipes declare (main packages and subpackages, all versions).
    pub packages: usize,
    /// Category directories.
    pub categories: usize,
    /// Ports whose newest version is not buildable on x86_64 (`!x86_64` or not listed).
    pub not_buildable: usize,
}

/// HaikuPorts' category names (80 of them).
const CATEGORIES: &[&str] = &[
    "app-accessibility",
    "app-admin",
    "app-arch",
    "app-benchmarks",
    "app-cdr",
    "app-crypt",
    "app-dicts",
    "app-doc",
    "app-editors",
    "app-emulation",
    "app-i18n",
    "app-misc",
    "app-office",
    "app-shells",
    "app-text",
    "dev-build",
    "dev-cpp",
    "dev-db",
    "dev-debug",
    "dev-embedded",
    "dev-games",
    "dev-java",
    "dev-lang",
    "dev-libs",
    "dev-lua",
    "dev-perl",
    "dev-python",
    "dev-qt",
    "dev-ruby",
    "dev-scheme",
    "dev-tcltk",
    "dev-util",
    "dev-vcs",
    "games-action",
    "games-arcade",
    "games-board",
    "games-emulation",
    "games-engines",
    "games-fps",
    "games-kids",
    "games-misc",
    "games-puzzle",
    "games-roguelike",
    "games-rpg",
    "games-simulation",
    "games-strategy",
    "haiku-apps",
    "haiku-data",
    "haiku-games",
    "haiku-libs",
    "media-fonts",
    "media-gfx",
    "media-libs",
    "media-plugins",
    "media-sound",
    "media-video",
    "net-analyzer",
    "net-dns",
    "net-fs",
    "net-ftp",
    "net-im",
    "net-irc",
    "net-libs",
    "net-mail",
    "net-misc",
    "net-p2p",
    "net-print",
    "net-proxy",
    "net-vpn",
    "sci-astronomy",
    "sci-electronics",
    "sci-libs",
    "sci-mathematics",
    "sys-apps",
    "sys-devel",
    "sys-fs",
    "sys-libs",
    "www-client",
    "x11-libs",
    "x11-misc",
];

/// Foundation ports: name, category, whether it is a library, the commands it provides.
const FOUNDATION: &[(&str, &str, bool, &[&str])] = &[
    ("make", "dev-build", false, &["make"]),
    ("gcc", "sys-devel", false, &["gcc", "g++", "cc"]),
    ("binutils", "sys-devel", false, &["ld", "as", "objdump"]),
    ("pkgconfig", "dev-util", false, &["pkg_config"]),
    ("m4", "sys-devel", false, &["m4"]),
    ("autoconf", "sys-devel", false, &["autoconf", "autoreconf"]),
    ("automake", "sys-devel", false, &["automake", "aclocal"]),
    ("libtool", "sys-devel", true, &["libtoolize"]),
    ("zlib", "sys-libs", true, &[]),
    ("bzip2", "app-arch", true, &["bzip2"]),
    ("xz_utils", "app-arch", true, &["xz"]),
    ("libiconv", "dev-libs", true, &["iconv"]),
    ("gettext", "sys-devel", true, &["gettext", "msgfmt"]),
    ("ncurses6", "sys-libs", true, &["tput"]),
    ("readline", "sys-libs", true, &[]),
    ("openssl3", "dev-libs", true, &["openssl"]),
    ("libffi", "dev-libs", true, &[]),
    ("expat", "dev-libs", true, &["xmlwf"]),
    ("libxml2", "dev-libs", true, &["xmllint"]),
    ("pcre2", "dev-libs", true, &["pcre2grep"]),
    ("sqlite", "dev-db", true, &["sqlite3"]),
    ("cmake", "dev-util", false, &["cmake", "ctest"]),
    ("ninja", "dev-build", false, &["ninja"]),
    ("python3.10", "dev-lang", true, &["python3", "python3.10"]),
    ("perl", "dev-lang", true, &["perl"]),
    ("glib2", "dev-libs", true, &["glib_compile_resources"]),
    ("libpng16", "media-libs", true, &[]),
    ("libjpeg_turbo", "media-libs", true, &["cjpeg", "djpeg"]),
    ("freetype", "media-libs", true, &[]),
    ("fontconfig", "media-libs", true, &["fc_cache"]),
    ("harfbuzz", "media-libs", true, &[]),
    ("curl", "net-misc", true, &["curl"]),
    ("icu74", "dev-libs", true, &[]),
    ("libsdl2", "media-libs", true, &[]),
    ("qt6_base", "dev-qt", true, &["qmake6"]),
];

const SYLLABLES: &[&str] = &[
    "ab", "ac", "al", "am", "an", "ar", "ba", "be", "bo", "ca", "ce", "co", "da", "de", "do", "el", "en",
    "er", "fa", "fi", "fo", "ga", "gi", "go", "ha", "he", "in", "ja", "ka", "ki", "la", "le", "li", "lo",
    "ma", "me", "mi", "mo", "na", "ne", "no", "or", "pa", "pe", "pi", "po", "ra", "re", "ri", "ro", "sa",
    "se", "si", "so", "ta", "te", "ti", "to", "ul", "un", "va", "ve", "vi", "xa", "ze", "zo",
];

const WORDS: &[&str] = &[
    "library",
    "fast",
    "portable",
    "implementation",
    "of",
    "the",
    "a",
    "for",
    "and",
    "with",
    "support",
    "format",
    "files",
    "network",
    "graphics",
    "audio",
    "video",
    "data",
    "small",
    "simple",
    "tool",
    "command",
    "line",
    "interface",
    "toolkit",
    "engine",
    "parser",
    "compression",
    "protocol",
    "server",
    "client",
    "image",
    "text",
    "editor",
    "game",
    "classic",
    "modern",
    "cross-platform",
    "Haiku",
    "applications",
    "provides",
    "many",
    "features",
    "including",
    "plugins",
    "scripting",
    "rendering",
];

const LICENSES: &[&str] = &[
    "MIT",
    "GNU GPL v2",
    "GNU GPL v3",
    "GNU LGPL v2.1",
    "BSD (3-clause)",
    "Apache v2",
    "Zlib",
];

/// One port to write.
struct PortPlan {
    name: String,
    category: String,
    is_lib: bool,
    commands: Vec<String>,
    subpackages: Vec<&'static str>,
    deps: Vec<usize>,
    tools: Vec<usize>,
    versions: Vec<(String, String)>,
    secondary: bool,
    patches: bool,
}

/// Writes a tree into `out` (created; must be empty or missing).
pub fn generate_tree(out: &Path, options: &GenOptions) -> io::Result<GenSummary> {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let ports = plan_ports(&mut rng, options.recipes);
    fs::create_dir_all(out)?;
    fs::write(
        out.join("haikuports.conf"),
        "# generated by buildmaster's ports tree generator\n",
    )?;
    let mut summary = GenSummary::default();
    let mut categories = HashSet::new();
    for (index, port) in ports.iter().enumerate() {
        let dir = out.join(&port.category).join(&port.name);
        fs::create_dir_all(&dir)?;
        categories.insert(port.category.clone());
        for (position, (version, archs)) in port.versions.iter().enumerate() {
            let newest = position + 1 == port.versions.len();
            let recipe = render_recipe(&mut rng, &ports, index, version, archs);
            fs::write(dir.join(format!("{}-{version}.recipe", port.name)), recipe)?;
            if port.patches {
                let patches = dir.join("patches");
                fs::create_dir_all(&patches)?;
                fs::write(
                    patches.join(format!("{}-{version}.patchset", port.name)),
                    render_patch(&mut rng, &port.name),
                )?;
            }
            summary.recipes += 1;
            summary.packages += 1 + port.subpackages.len();
            let status = parse_architectures("ARCHITECTURES", archs).map(|m| status_on(&m, "x86_64"));
            if newest && status != Ok(ArchStatus::Stable) && status != Ok(ArchStatus::Untested) {
                summary.not_buildable += 1;
            }
        }
    }
    summary.ports = ports.len();
    summary.categories = categories.len();
    Ok(summary)
}

/// Writes the system packages a generated tree expects — `haiku` and `haiku_devel` for `arch`, as a
/// Haiku installation's `/system/packages` holds them — as real `.hpkg` files into `dir`.
pub fn generate_system_packages(dir: &Path, arch: &str) -> Result<Vec<PathBuf>, String> {
    let scratch = dir.join(".generate-scratch");
    let content = scratch.join("content");
    fs::create_dir_all(content.join("lib")).map_err(|e| format!("{}: {e}", content.display()))?;
    fs::write(content.join("lib/README"), "generated system package\n").map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for (name, provides) in [
        ("haiku", "haiku = r1~beta5"),
        ("haiku_devel", "haiku_devel = r1~beta5"),
    ] {
        let info = scratch.join(format!("{name}.PackageInfo"));
        let text = format!(
            "name {name}\nversion r1~beta5-1\narchitecture {arch}\nsummary \"The Haiku base system\"\n\
             description \"Generated for the ports tree generator.\"\npackager \"buildmaster <buildmaster@example.com>\"\n\
             vendor \"Haiku Project\"\ncopyrights {{ \"2001-2025 Haiku, Inc.\" }}\nlicenses {{ MIT }}\n\
             provides {{\n\t{provides}\n}}\n"
        );
        fs::write(&info, text).map_err(|e| format!("{}: {e}", info.display()))?;
        let output = dir.join(format!("{name}-r1~beta5-1-{arch}.hpkg"));
        let options = CreateOptions {
            info_file: Some(info),
            directory: content.clone(),
            compression: Compression::Zlib,
            install_path: None,
        };
        create_package(&options, &output).map_err(|e| format!("{}: {e}", output.display()))?;
        written.push(output);
    }
    fs::remove_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    Ok(written)
}

/// Decides names, categories, subpackages, versions and dependencies.
fn plan_ports(rng: &mut fastrand::Rng, recipes: usize) -> Vec<PortPlan> {
    let port_count = ((recipes as f64) / 1.045).round().max(FOUNDATION.len() as f64) as usize;
    let mut double = recipes.saturating_sub(port_count);
    let mut names: HashSet<String> = HashSet::new();
    let mut ports: Vec<PortPlan> = Vec::with_capacity(port_count);
    let tool_ports: Vec<usize> = (0..FOUNDATION.len())
        .filter(|&i| !FOUNDATION[i].3.is_empty())
        .collect();
    for index in 0..port_count {
        let (name, category, is_lib, commands) = match FOUNDATION.get(index) {
            Some(&(name, category, is_lib, commands)) => (
                name.to_owned(),
                category.to_owned(),
                is_lib,
                commands.iter().map(|c| c.to_string()).collect(),
            ),
            None => {
                let is_lib = rng.f64() < 0.5;
                let name = unique_name(rng, &mut names, is_lib);
                let category = CATEGORIES[rng.usize(..CATEGORIES.len())].to_owned();
                // Commands are named after the (unique) port so no two ports provide the same one.
                let commands = match (is_lib, rng.f64() < 0.3) {
                    (true, true) => vec![format!("{name}_config")],
                    (true, false) => Vec::new(),
                    (false, _) => vec![name.clone()],
                };
                (name, category, is_lib, commands)
            }
        };
        names.insert(name.clone());
        let mut subpackages = Vec::new();
        if is_lib {
            subpackages.push("devel");
            if rng.f64() < 0.1 {
                subpackages.push("tools");
            }
            if rng.f64() < 0.05 {
                subpackages.push("doc");
            }
        } else {
            if rng.f64() < 0.1 {
                subpackages.push("devel");
            }
            if rng.f64() < 0.08 {
                subpackages.push("data");
            }
        }
        // Dependencies: earlier libraries, foundation ones far more often than the rest.
        let earlier_libs: Vec<usize> = (0..index).filter(|&i| ports[i].is_lib).collect();
        let mut deps = Vec::new();
        if !earlier_libs.is_empty() {
            let wanted = [0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8][rng.usize(..11)];
            for _ in 0..wanted {
                let pick = if rng.f64() < 0.55 || earlier_libs.len() < 40 {
                    let foundation: Vec<usize> = earlier_libs
                        .iter()
                        .copied()
                        .filter(|&i| i < FOUNDATION.len())
                        .collect();
                    foundation.get(rng.usize(..foundation.len().max(1))).copied()
                } else {
                    Some(earlier_libs[rng.usize(..earlier_libs.len())])
                };
                if let Some(pick) = pick.filter(|p| !deps.contains(p)) {
                    deps.push(pick);
                }
            }
        }
        let tools: Vec<usize> = tool_ports
            .iter()
            .copied()
            .filter(|&t| t < index && (t < 2 || t == 3 || rng.f64() < 0.08))
            .collect();
        let first = random_version(rng);
        let archs = if index < FOUNDATION.len() {
            "all !x86_gcc2".to_owned()
        } else {
            random_archs(rng, is_lib)
        };
        let mut versions = vec![(first.clone(), archs)];
        if double > 0 && index >= FOUNDATION.len() && rng.f64() < 0.06 {
            double -= 1;
            let newer = bump_version(rng, &first);
            // A new version often starts out untested or broken; the older one stays active then.
            let newer_archs = match rng.usize(..4) {
                0 => "!x86_64 ?x86".to_owned(),
                1 => "?x86_64".to_owned(),
                _ => "all !x86_gcc2".to_owned(),
            };
            versions.push((newer, newer_archs));
        }
        ports.push(PortPlan {
            name,
            category,
            is_lib,
            commands,
            subpackages,
            deps,
            tools,
            versions,
            secondary: is_lib && rng.f64() < 0.6,
            patches: rng.f64() < 0.3,
        });
    }
    // Any second versions still owed go to the last ports so the recipe count is exact.
    let mut index = ports.len();
    while double > 0 && index > FOUNDATION.len() {
        index -= 1;
        if ports[index].versions.len() == 1 {
            let newer = bump_version(rng, &ports[index].versions[0].0);
            ports[index].versions.push((newer, "all !x86_gcc2".to_owned()));
            double -= 1;
        }
    }
    ports
}

fn unique_name(rng: &mut fastrand::Rng, taken: &mut HashSet<String>, is_lib: bool) -> String {
    loop {
        let mut name = String::from(if is_lib { "lib" } else { "" });
        for _ in 0..rng.usize(2..5) {
            name.push_str(SYLLABLES[rng.usize(..SYLLABLES.len())]);
        }
        if rng.f64() < 0.15 {
            name.push_str(&rng.usize(1..10).to_string());
        }
        if !taken.contains(&name) {
            return name;
        }
    }
}

fn random_version(rng: &mut fastrand::Rng) -> String {
    match rng.usize(..10) {
        0 => format!("{}", 20150101 + rng.usize(..90000)),
        1 | 2 => format!("{}.{}", rng.usize(..10), rng.usize(..30)),
        _ => format!("{}.{}.{}", rng.usize(..5), rng.usize(..20), rng.usize(..15)),
    }
}

fn bump_version(rng: &mut fastrand::Rng, version: &str) -> String {
    let mut parts: Vec<u64> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    let last = parts.len() - 1;
    parts[last] += 1 + rng.u64(..3);
    parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// `ARCHITECTURES` in roughly HaikuPorts' proportions.
fn random_archs(rng: &mut fastrand::Rng, is_lib: bool) -> String {
    let roll = rng.f64();
    if !is_lib && roll < 0.04 {
        return "any".into();
    }
    match roll {
        r if r < 0.60 => "all !x86_gcc2".into(),
        r if r < 0.78 => "x86_gcc2 ?x86 x86_64 ?arm64".into(),
        r if r < 0.88 => "?x86_64 ?x86".into(),
        r if r < 0.93 => "!x86_64 x86_gcc2".into(),
        r if r < 0.96 => "x86 ?x86_gcc2".into(),
        _ => "x86_64".into(),
    }
}

fn words(rng: &mut fastrand::Rng, count: usize) -> String {
    (0..count)
        .map(|_| WORDS[rng.usize(..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn render_recipe(
    rng: &mut fastrand::Rng,
    ports: &[PortPlan],
    index: usize,
    version: &str,
    archs: &str,
) -> String {
    let port = &ports[index];
    let name = &port.name;
    let mut r = String::with_capacity(4096);
    let summary = words(rng, 6);
    let _ = writeln!(r, "SUMMARY=\"A {summary}\"");
    r.push_str("DESCRIPTION=\"");
    for paragraph in 0..rng.usize(1..4) {
        if paragraph > 0 {
            r.push_str("\n\n");
        }
        let mut line_len = 0;
        for _ in 0..rng.usize(25..70) {
            let word = WORDS[rng.usize(..WORDS.len())];
            if line_len + word.len() > 78 {
                r.push('\n');
                line_len = 0;
            } else if line_len > 0 {
                r.push(' ');
            }
            r.push_str(word);
            line_len += word.len() + 1;
        }
        r.push('.');
    }
    r.push_str("\"\n");
    let _ = writeln!(r, "HOMEPAGE=\"https://www.{name}.org/\"");
    let _ = writeln!(
        r,
        "COPYRIGHT=\"{}-{} The {name} Authors\n\t{} {} contributors\"",
        1995 + rng.usize(..20),
        2016 + rng.usize(..9),
        2010 + rng.usize(..10),
        words(rng, 1)
    );
    let _ = writeln!(r, "LICENSE=\"{}\"", LICENSES[rng.usize(..LICENSES.len())]);
    let _ = writeln!(r, "REVISION=\"{}\"", 1 + rng.usize(..4));
    let _ = writeln!(
        r,
        "SOURCE_URI=\"https://downloads.{name}.org/releases/$portName-$portVersion.tar.xz\""
    );
    let checksum: String = (0..64)
        .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
        .collect();
    let _ = writeln!(r, "CHECKSUM_SHA256=\"{checksum}\"");
    let _ = writeln!(r, "SOURCE_DIR=\"$portName-$portVersion\"");
    if port.patches {
        let _ = writeln!(r, "PATCHES=\"{name}-$portVersion.patchset\"");
    }
    r.push('\n');
    let _ = writeln!(r, "ARCHITECTURES=\"{archs}\"");
    if port.secondary {
        r.push_str("SECONDARY_ARCHITECTURES=\"x86_gcc2 x86\"\n");
    }
    r.push('\n');
    let sas = if port.is_lib || port.secondary {
        "$secondaryArchSuffix"
    } else {
        ""
    };
    if port.is_lib {
        r.push_str("commandSuffix=$secondaryArchSuffix\ncommandBinDir=$binDir\nif [ \"$targetArchitecture\" = x86_gcc2 ]; then\n\tcommandSuffix=\n\tcommandBinDir=$prefix/bin\nfi\n\n");
    }
    let soname = rng.usize(..8);
    let _ = writeln!(
        r,
        "PROVIDES=\"\n\t{name}{sas} = $portVersion compat >= {}",
        version.split('.').next().unwrap_or("0")
    );
    if port.is_lib {
        let _ = writeln!(
            r,
            "\tlib:{name}{sas} = {soname}.{}.0 compat >= {soname}",
            rng.usize(..10)
        );
    }
    let cmd_suffix = if port.is_lib { "$commandSuffix" } else { "" };
    for command in &port.commands {
        let _ = writeln!(
            r,
            "\tcmd:{command}{cmd_suffix} = $portVersion compat >= {}",
            version.split('.').next().unwrap_or("0")
        );
    }
    r.push_str("\t\"\n");
    let _ = writeln!(r, "REQUIRES=\"\n\thaiku{sas}");
    for &dep in &port.deps {
        let _ = writeln!(r, "\tlib:{}{sas}", ports[dep].name);
    }
    r.push_str("\t\"\n\n");
    for sub in &port.subpackages {
        let _ = writeln!(r, "PROVIDES_{sub}=\"\n\t{name}{sas}_{sub} = $portVersion");
        if *sub == "devel" {
            let _ = writeln!(r, "\tdevel:{name}{sas} = {soname}.0.0 compat >= {soname}");
        }
        if *sub == "tools" {
            let _ = writeln!(r, "\tcmd:{}_tool{cmd_suffix}", name.trim_start_matches("lib"));
        }
        let _ = writeln!(
            r,
            "\t\"\nREQUIRES_{sub}=\"\n\t{name}{sas} == $portVersion base\n\t\""
        );
    }
    if !port.subpackages.is_empty() {
        r.push('\n');
    }
    let _ = writeln!(r, "BUILD_REQUIRES=\"\n\thaiku{sas}_devel");
    for &dep in &port.deps {
        let _ = writeln!(r, "\tdevel:{}{sas}", ports[dep].name);
    }
    r.push_str("\t\"\nBUILD_PREREQUIRES=\"\n");
    for &tool in &port.tools {
        let tool_port = &ports[tool];
        let suffix = if tool_port.is_lib { sas } else { "" };
        let _ = writeln!(r, "\tcmd:{}{suffix}", tool_port.commands[0]);
    }
    r.push_str("\t\"\n\n");
    let configure = if rng.f64() < 0.6 {
        "runConfigure ./configure --disable-static"
    } else {
        "cmake -B build -S . $cmakeDirArgs -DCMAKE_BUILD_TYPE=Release"
    };
    let _ = writeln!(
        r,
        "BUILD()\n{{\n\tautoreconf -fi || true\n\t{configure}\n\tmake $jobArgs"
    );
    for _ in 0..rng.usize(0..6) {
        let _ = writeln!(r, "\t# {}", words(rng, 8));
        let _ = writeln!(
            r,
            "\tsed -i 's|@{}@|{}|' Makefile",
            rng.usize(..1000),
            rng.usize(..1000)
        );
    }
    r.push_str("}\n\nINSTALL()\n{\n\tmake install\n");
    if port.is_lib {
        let _ = writeln!(r, "\n\tprepareInstalledDevelLib {name}\n\tfixPkgconfig\n\n\t# devel package\n\tpackageEntries devel \\\n\t\t$developDir");
    }
    for _ in 0..rng.usize(0..4) {
        let _ = writeln!(r, "\trm -rf $prefix/share/{}", words(rng, 1));
    }
    r.push_str("}\n\nTEST()\n{\n\tmake check\n}\n");
    r
}

fn render_patch(rng: &mut fastrand::Rng, name: &str) -> String {
    let mut p = format!("From 1234567890abcdef Mon Sep 17 00:00:00 2001\nFrom: Haiku Porter <porter@example.com>\nSubject: {name}: Haiku build fixes\n\n");
    for hunk in 0..rng.usize(1..4) {
        let _ = writeln!(p, "diff --git a/src/file{hunk}.c b/src/file{hunk}.c\n--- a/src/file{hunk}.c\n+++ b/src/file{hunk}.c\n@@ -1,3 +1,4 @@\n #include <stdio.h>\n+#include <OS.h>\n int main(void)\n {{");
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plan() {
        let a = plan_ports(&mut fastrand::Rng::with_seed(7), 300);
        let b = plan_ports(&mut fastrand::Rng::with_seed(7), 300);
        let names = |p: &[PortPlan]| {
            p.iter()
                .map(|p| (p.name.clone(), p.deps.clone(), p.versions.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        assert_eq!(a.iter().map(|p| p.versions.len()).sum::<usize>(), 300);
        assert!(
            a.iter().enumerate().all(|(i, p)| p.deps.iter().all(|&d| d < i)),
            "dependencies point backwards"
        );
    }
}
