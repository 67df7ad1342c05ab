//! The per-package XML of `primary.xml`, `filelists.xml` and `other.xml`, element for element as
//! createrepo_c writes them (libsolv's repo_rpmmd parser, which dnf uses, is strict about the
//! namespaces and attribute names, not about whitespace).

use std::fmt::Write;

use super::entry::{is_primary_file, Dep, FileKind, PackageFile, RpmEntry};

/// Namespace of primary.xml's `<metadata>`.
pub const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";
/// Namespace of the `rpm:` elements.
pub const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
/// Namespace of filelists.xml.
pub const NS_FILELISTS: &str = "http://linux.duke.edu/metadata/filelists";
/// Namespace of other.xml.
pub const NS_OTHER: &str = "http://linux.duke.edu/metadata/other";
/// Namespace of repomd.xml.
pub const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";

/// Escapes text for an element or a double-quoted attribute. Characters XML 1.0 forbids (C0
/// controls other than tab and newlines) are dropped: a package description with a stray escape
/// byte must not make the whole primary.xml unparsable for every client.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `<version epoch=… ver=… rel=…/>`, shared by the three files.
fn version_element(out: &mut String, e: &RpmEntry) {
    let _ = writeln!(
        out,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        e.epoch,
        escape(&e.version),
        escape(&e.release)
    );
}

fn file_element(out: &mut String, indent: &str, f: &PackageFile) {
    let kind = match f.kind {
        FileKind::File => "",
        FileKind::Dir => " type=\"dir\"",
        FileKind::Ghost => " type=\"ghost\"",
    };
    let _ = writeln!(out, "{indent}<file{kind}>{}</file>", escape(&f.path));
}

fn dep_list(out: &mut String, element: &str, deps: &[Dep]) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{element}>");
    for d in deps {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", escape(&d.name));
        if let Some(flag) = d.flags {
            let _ = write!(out, " flags=\"{}\"", flag.as_str());
            // createrepo_c writes epoch="0" for a versioned dependency without an epoch.
            let _ = write!(out, " epoch=\"{}\"", d.epoch.unwrap_or(0));
            let _ = write!(out, " ver=\"{}\"", escape(&d.ver));
            if let Some(rel) = &d.rel {
                let _ = write!(out, " rel=\"{}\"", escape(rel));
            }
        }
        if d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{element}>");
}

/// One `<package>` of primary.xml. `href`, `sha256` and `size` are the record's, not the entry's:
/// the same entry is rendered into every repository the package is linked into.
pub fn primary(e: &RpmEntry, sha256: &str, size: u64, href: &str) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("<package type=\"rpm\">\n");
    let _ = writeln!(out, "  <name>{}</name>", escape(&e.name));
    let _ = writeln!(out, "  <arch>{}</arch>", escape(&e.arch));
    version_element(&mut out, e);
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{sha256}</checksum>"
    );
    let _ = writeln!(out, "  <summary>{}</summary>", escape(&e.summary));
    let _ = writeln!(out, "  <description>{}</description>", escape(&e.description));
    let _ = writeln!(out, "  <packager>{}</packager>", escape(&e.packager));
    let _ = writeln!(out, "  <url>{}</url>", escape(&e.url));
    // `file` is the package file's mtime in createrepo_c; the build time is the stable choice
    // here, so that the same bytes always render the same entry.
    let _ = writeln!(out, "  <time file=\"{0}\" build=\"{0}\"/>", e.build_time);
    let _ = writeln!(
        out,
        "  <size package=\"{size}\" installed=\"{}\" archive=\"{}\"/>",
        e.installed_size, e.archive_size
    );
    let _ = writeln!(out, "  <location href=\"{}\"/>", escape(href));
    out.push_str("  <format>\n");
    let _ = writeln!(out, "    <rpm:license>{}</rpm:license>", escape(&e.license));
    let _ = writeln!(out, "    <rpm:vendor>{}</rpm:vendor>", escape(&e.vendor));
    let _ = writeln!(out, "    <rpm:group>{}</rpm:group>", escape(&e.group));
    let _ = writeln!(out, "    <rpm:buildhost>{}</rpm:buildhost>", escape(&e.buildhost));
    let _ = writeln!(out, "    <rpm:sourcerpm>{}</rpm:sourcerpm>", escape(&e.sourcerpm));
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        e.header_start, e.header_end
    );
    dep_list(&mut out, "provides", &e.provides);
    // createrepo_c leaves out requirements on the package's own primary files.
    let requires: Vec<Dep> = e
        .requires
        .iter()
        .filter(|d| !(is_primary_file(&d.name) && e.files.iter().any(|f| f.path == d.name)))
        .cloned()
        .collect();
    dep_list(&mut out, "requires", &requires);
    dep_list(&mut out, "conflicts", &e.conflicts);
    dep_list(&mut out, "obsoletes", &e.obsoletes);
    dep_list(&mut out, "suggests", &e.suggests);
    dep_list(&mut out, "enhances", &e.enhances);
    dep_list(&mut out, "recommends", &e.recommends);
    dep_list(&mut out, "supplements", &e.supplements);
    for f in e.files.iter().filter(|f| is_primary_file(&f.path)) {
        file_element(&mut out, "    ", f);
    }
    out.push_str("  </format>\n</package>\n");
    out
}

/// `pkgid`/`name`/`arch` attributes shared by filelists and other.
fn package_open(out: &mut String, e: &RpmEntry, sha256: &str) {
    let _ = writeln!(
        out,
        "<package pkgid=\"{sha256}\" name=\"{}\" arch=\"{}\">",
        escape(&e.name),
        escape(&e.arch)
    );
    version_element(out, e);
}

/// One `<package>` of filelists.xml: every file.
pub fn filelists(e: &RpmEntry, sha256: &str) -> String {
    let mut out = String::with_capacity(256 + 64 * e.files.len());
    package_open(&mut out, e, sha256);
    for f in &e.files {
        file_element(&mut out, "  ", f);
    }
    out.push_str("</package>\n");
    out
}

/// One `<package>` of other.xml: the kept changelog entries, oldest first as createrepo_c
/// writes them.
pub fn other(e: &RpmEntry, sha256: &str) -> String {
    let mut out = String::with_capacity(512);
    package_open(&mut out, e, sha256);
    for c in e.changelogs.iter().rev() {
        let _ = writeln!(
            out,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            escape(&c.author),
            c.date,
            escape(&c.text)
        );
    }
    out.push_str("</package>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_handles_markup_and_forbidden_controls() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(escape("tab\tline\nbell\u{7}"), "tab\tline\nbell");
        assert_eq!(escape("libstdc++ ünïcode"), "libstdc++ ünïcode");
    }
}
