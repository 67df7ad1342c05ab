//! Text listings byte-identical to Haiku's tools: `package list [-i]` (package attributes, then the
//! table of contents with times in UTC) and `package_repo list [-v] [-f]`. Formats follow
//! `src/bin/package/command_list.cpp`, `src/bin/package_repo/command_list.cpp` and
//! `PackageInfoPrinter.h`; checked against `../shared/vectors/expected/`.

use std::fmt::Write;

use crate::haiku::attributes::{PACKAGE_FLAG_APPROVE_LICENSE, PACKAGE_FLAG_SYSTEM_PACKAGE};
use crate::haiku::hpkg_reader::Package;
use crate::haiku::hpkr_reader::Repository;
use crate::haiku::package_attributes_reader::PackageAttribute;
use crate::haiku::resolvable::ResolvableExpression;
use crate::haiku::toc::{EntryType, TocEntry};

/// Width of the name column of a TOC line, including the indentation (`package list`).
const NAME_COLUMN_WIDTH: usize = 32;

/// Appends one attribute line (or lines) as `PackageInfoPrinter::PrintAttribute` does, except the
/// name, whose header line differs between the tools.
fn print_attribute(out: &mut String, attribute: &PackageAttribute) {
    use PackageAttribute as P;
    // `write!` into a String cannot fail.
    let _ = match attribute {
        P::Name(v) => writeln!(out, "\tname: {v}"),
        P::Summary(v) => writeln!(out, "\tsummary: {v}"),
        P::Description(v) => writeln!(out, "\tdescription: {v}"),
        P::Vendor(v) => writeln!(out, "\tvendor: {v}"),
        P::Packager(v) => writeln!(out, "\tpackager: {v}"),
        P::BasePackage(v) => writeln!(out, "\tbase package: {v}"),
        P::Flags(flags) => {
            if *flags != 0 {
                out.push_str("\tflags:\n");
                if flags & PACKAGE_FLAG_APPROVE_LICENSE != 0 {
                    out.push_str("\t\tapprove_license\n");
                }
                if flags & PACKAGE_FLAG_SYSTEM_PACKAGE != 0 {
                    out.push_str("\t\tsystem_package\n");
                }
            }
            Ok(())
        }
        P::Architecture(v) => writeln!(out, "\tarchitecture: {v}"),
        P::Version(v) => writeln!(out, "\tversion: {v}"),
        P::Copyright(v) => writeln!(out, "\tcopyright: {v}"),
        P::License(v) => writeln!(out, "\tlicense: {v}"),
        P::Url(v) => writeln!(out, "\tURL: {v}"),
        P::SourceUrl(v) => writeln!(out, "\tsource URL: {v}"),
        P::Provides(p) => {
            let _ = write!(out, "\tprovides: {}", p.name);
            if let Some(version) = p.version.as_ref().filter(|v| v.is_set()) {
                let _ = write!(out, " = {version}");
            }
            if let Some(compatible) = p.compatible_version.as_ref().filter(|v| v.is_set()) {
                let _ = write!(out, " (compatible >= {compatible})");
            }
            writeln!(out)
        }
        P::Requires(e) => print_expression(out, "requires", e),
        P::Supplements(e) => print_expression(out, "supplements", e),
        P::Conflicts(e) => print_expression(out, "conflicts", e),
        P::Freshens(e) => print_expression(out, "freshens", e),
        P::Replaces(v) => writeln!(out, "\treplaces: {v}"),
        P::GlobalWritableFile(file) => {
            let _ = write!(out, "\tglobal writable file: {}", file.path);
            if file.is_directory {
                out.push_str(" directory");
            }
            match file.update_type {
                Some(update) => writeln!(out, " {}", update.name()),
                None => writeln!(out),
            }
        }
        P::UserSettingsFile(file) => {
            let _ = write!(out, "\tuser settings file: {}", file.path);
            if file.is_directory {
                writeln!(out, " directory")
            } else if !file.template.is_empty() {
                writeln!(out, " template {}", file.template)
            } else {
                writeln!(out)
            }
        }
        P::User(user) => {
            let _ = writeln!(out, "\tuser: {}", user.name);
            if !user.real_name.is_empty() {
                let _ = writeln!(out, "\t\treal name: {}", user.real_name);
            }
            if !user.home.is_empty() {
                let _ = writeln!(out, "\t\thome:      {}", user.home);
            }
            if !user.shell.is_empty() {
                let _ = writeln!(out, "\t\tshell:     {}", user.shell);
            }
            for group in &user.groups {
                let _ = writeln!(out, "\t\tgroup:     {group}");
            }
            Ok(())
        }
        P::Group(v) => writeln!(out, "\tgroup: {v}"),
        P::PostInstallScript(v) => writeln!(out, "\tpost-install script: {v}"),
        P::PreUninstallScript(v) => writeln!(out, "\tpre-uninstall script: {v}"),
        P::InstallPath(v) => writeln!(out, "\tinstall path: {v}"),
        P::Checksum(v) => writeln!(out, "\tchecksum: {v}"),
    };
}

fn print_expression(out: &mut String, field: &str, expression: &ResolvableExpression) -> std::fmt::Result {
    writeln!(out, "\t{field}: {expression}")
}

/// `rwx` for the low three bits of `bits`; `special` turns `x` into `s` (set-uid/gid).
fn permission_string(out: &mut String, bits: u32, special: bool) {
    out.push(if bits & 0o4 != 0 { 'r' } else { '-' });
    out.push(if bits & 0o2 != 0 { 'w' } else { '-' });
    out.push(match (bits & 0o1 != 0, special) {
        (true, true) => 's',
        (true, false) => 'x',
        (false, _) => '-',
    });
}

/// Splits seconds since the epoch into UTC `(year, month, day, hour, minute, second)` (proleptic
/// Gregorian calendar; Howard Hinnant's `civil_from_days`). Times are read as signed, like `time_t`.
fn utc_fields(seconds: u64) -> (i64, u32, u32, u32, u32, u32) {
    let seconds = seconds as i64;
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (in_day / 3_600) as u32,
        (in_day % 3_600 / 60) as u32,
        (in_day % 60) as u32,
    )
}

/// One TOC line and its children's, as `PackageContentListHandler::HandleEntry` prints them.
fn print_entry(out: &mut String, entry: &TocEntry, level: usize) {
    let indentation = level * 2;
    let width = NAME_COLUMN_WIDTH.saturating_sub(indentation);
    // printf's `%-*s` pads by bytes, not characters: pad by hand so UTF-8 names line up as in Haiku.
    let padding = width.saturating_sub(entry.name.len());
    let _ = write!(
        out,
        "{:indentation$}{}{:padding$}  {:>8}",
        "",
        entry.name,
        "",
        entry.size()
    );
    let (year, month, day, hour, minute, second) = utc_fields(entry.mtime);
    let _ = write!(
        out,
        "  {year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
    );
    out.push_str(match entry.entry_type {
        EntryType::File => "  -",
        EntryType::Directory => "  d",
        EntryType::Symlink => "  l",
    });
    let mode = entry.permissions;
    permission_string(out, mode >> 6, mode & 0o4000 != 0);
    permission_string(out, mode >> 3, mode & 0o2000 != 0);
    permission_string(out, mode, false);
    if entry.entry_type == EntryType::Symlink {
        let _ = write!(out, "  -> {}", entry.symlink_path.as_deref().unwrap_or(""));
    }
    out.push('\n');
    for child in &entry.children {
        print_entry(out, child, level + 1);
    }
}

/// `package list FILE` (`info_only` = false) or `package list -i FILE` (true).
pub fn list_package(package: &Package, info_only: bool) -> String {
    let mut out = String::new();
    for attribute in &package.attributes {
        if matches!(attribute, PackageAttribute::Name(_)) {
            out.push_str("package-attributes:\n");
        }
        print_attribute(&mut out, attribute);
    }
    if !info_only {
        for entry in &package.toc {
            print_entry(&mut out, entry, 0);
        }
    }
    out
}

/// `package_repo list [-v] [-f] REPO`.
pub fn list_repository(repository: &Repository, verbose: bool, file_names: bool) -> String {
    let info = &repository.info;
    let mut out = String::new();
    let _ = write!(
        out,
        "repository-info:\n\tname: {}\n\tsummary: {}\n\tbase-url: {}\n\tidentifier: {}\n\tvendor: {}\n\
         \tpriority: {}\n\tarchitecture: {}\n",
        info.name,
        info.summary,
        repository.base_url(),
        info.identifier,
        info.vendor,
        info.priority,
        info.architecture
    );
    if !info.licenses.is_empty() {
        out.push_str("\tlicenses:\n");
        for license in &info.licenses {
            let _ = writeln!(out, "\t\t{}", license.name);
        }
    }
    out.push_str("packages:\n");
    for (info, attributes) in repository.packages.iter().zip(&repository.package_attributes) {
        for attribute in attributes {
            match attribute {
                PackageAttribute::Name(name) if verbose => {
                    let _ = write!(out, "package-attributes:\n\tname: {name}\n");
                }
                PackageAttribute::Name(name) if !file_names => {
                    let _ = writeln!(out, "\t{name}");
                }
                PackageAttribute::Name(_) => {}
                other if verbose => print_attribute(&mut out, other),
                _ => {}
            }
        }
        if file_names {
            let prefix = if verbose { "filename: " } else { "\t" };
            let _ = writeln!(out, "{prefix}{}", info.canonical_file_name());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_fields_known_dates() {
        assert_eq!(utc_fields(0), (1970, 1, 1, 0, 0, 0));
        // 2019-03-04 05:58:36 UTC.
        assert_eq!(utc_fields(1_551_679_116), (2019, 3, 4, 5, 58, 36));
        // 2000-02-29 23:59:59 UTC (leap day).
        assert_eq!(utc_fields(951_868_799), (2000, 2, 29, 23, 59, 59));
        // Negative time_t: 1969-12-31 23:59:59.
        assert_eq!(utc_fields(u64::MAX), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn name_column_pads_by_bytes_like_printf() {
        let entry = TocEntry {
            name: "größe".into(),
            ..TocEntry::default()
        };
        let mut out = String::new();
        print_entry(&mut out, &entry, 1);
        // 2 spaces of indentation, the 7-byte name padded to 30 bytes, then the size column.
        let expected = format!("  größe{}         0  1970-01-01", " ".repeat(23));
        assert!(out.starts_with(&expected), "{out:?}");
    }

    #[test]
    fn permission_strings() {
        let mut out = String::new();
        permission_string(&mut out, 0o7, true);
        permission_string(&mut out, 0o5, false);
        permission_string(&mut out, 0o2, true);
        assert_eq!(out, "rwsr-x-w-");
    }
}
