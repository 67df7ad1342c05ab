//! Parsing a `.PackageInfo` file (what Haiku's `package create` reads) into a [`PackageInfo`],
//! following `BPackageInfo::Parser` in `src/kits/package/PackageInfoParser.cpp`: attribute names are
//! case-insensitive and may appear once each; lists are `{ … }` blocks (string lists also accept a
//! single value); everything up to and including `provides` is mandatory.
//!
//! `install-path` and `checksum` cannot be set here, as in Haiku (`package create -I` sets the install
//! path; the checksum is computed by the repository tool).

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::haiku::attributes::{
    Architecture, ResolvableOperator, WritableFileUpdateType, PACKAGE_FLAG_APPROVE_LICENSE,
    PACKAGE_FLAG_SYSTEM_PACKAGE,
};
use crate::haiku::package_info::{GlobalWritableFile, PackageInfo, User, UserSettingsFile};
use crate::haiku::package_info_lexer::{LexError, Lexer, Token, TokenKind};
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::haiku::version::Version;

/// Attributes in `BPackageInfo::kElementNames` order up to `provides`: all are mandatory.
const MANDATORY: [&str; 10] = [
    "name",
    "summary",
    "description",
    "vendor",
    "packager",
    "architecture",
    "version",
    "copyrights",
    "licenses",
    "provides",
];

/// A `.PackageInfo` file is invalid; names the file and the line.
#[derive(Debug, Error)]
pub enum PackageInfoFileError {
    /// The file could not be read.
    #[error("cannot read package info file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Syntax or content error at a line.
    #[error("{}:{line}: {message}; fix the package info file", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong (Haiku's wording where it has one).
        message: String,
    },
}

/// Reads and parses a `.PackageInfo` file.
pub fn load(path: &Path) -> Result<PackageInfo, PackageInfoFileError> {
    let text = std::fs::read(path).map_err(|source| PackageInfoFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&String::from_utf8_lossy(&text), path)
}

/// Parses `.PackageInfo` text; `path` labels errors.
pub fn parse(text: &str, path: &Path) -> Result<PackageInfo, PackageInfoFileError> {
    let mut parser = Parser {
        lexer: Lexer::new(text),
    };
    parser.file().map_err(|e| PackageInfoFileError::Parse {
        path: path.to_owned(),
        line: text.as_bytes()[..e.pos.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        message: e.message,
    })
}

type LexResult<T> = std::result::Result<T, LexError>;

fn error<T>(message: impl Into<String>, pos: usize) -> LexResult<T> {
    Err(LexError {
        message: message.into(),
        pos,
    })
}

struct Parser<'a> {
    lexer: Lexer<'a>,
}

impl Parser<'_> {
    fn next(&mut self) -> LexResult<Token> {
        self.lexer.next_token()
    }

    fn file(&mut self) -> LexResult<PackageInfo> {
        let mut info = PackageInfo::default();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let token = self.next()?;
            let name = match token.kind {
                TokenKind::Eof => break,
                TokenKind::ItemSeparator => continue,
                TokenKind::Word(word) => word.to_ascii_lowercase(),
                _ => return error("expected string (a variable name)", token.pos),
            };
            if seen.contains(&name) {
                return error(format!("{name} already seen!"), token.pos);
            }
            self.attribute(&name, token.pos, &mut info)?;
            seen.push(name);
        }
        for name in MANDATORY {
            if !seen.iter().any(|s| s == name) {
                return error(format!("{name} is not being set anywhere!"), self.lexer.pos());
            }
        }
        Ok(info)
    }

    fn attribute(&mut self, name: &str, pos: usize, info: &mut PackageInfo) -> LexResult<()> {
        match name {
            "name" => {
                let (value, at) = self.string()?;
                check_resolvable_name(&value, at, "invalid character in package name")?;
                info.name = value;
            }
            "summary" => {
                info.summary = self.string()?.0;
                if info.summary.contains('\n') {
                    return error("the summary contains linebreaks", pos);
                }
            }
            "description" => info.description = self.string()?.0,
            "vendor" => info.vendor = self.string()?.0,
            "packager" => info.packager = self.string()?.0,
            "base-package" => info.base_package = self.string()?.0,
            "architecture" => info.architecture = self.architecture()?,
            "version" => {
                let token = self.next()?;
                info.version = parse_version(&token, false)?;
            }
            "copyrights" => info.copyrights = self.string_list(false)?,
            "licenses" => info.licenses = self.string_list(false)?,
            "urls" => info.urls = self.string_list(false)?,
            "source-urls" => info.source_urls = self.string_list(false)?,
            "groups" => info.groups = self.string_list(false)?,
            "post-install-scripts" => info.post_install_scripts = self.string_list(false)?,
            "pre-uninstall-scripts" => info.pre_uninstall_scripts = self.string_list(false)?,
            "replaces" => info.replaces = self.string_list(true)?,
            "flags" => info.flags = self.flags()?,
            "provides" => info.provides = self.provides()?,
            "requires" => {
                info.base_package.clear();
                info.requires = self.expressions(Some(&mut info.base_package))?;
            }
            "supplements" => info.supplements = self.expressions(None)?,
            "conflicts" => info.conflicts = self.expressions(None)?,
            "freshens" => info.freshens = self.expressions(None)?,
            "global-writable-files" => info.global_writable_files = self.global_writable_files()?,
            "user-settings-files" => info.user_settings_files = self.user_settings_files()?,
            "users" => info.users = self.users()?,
            "checksum" | "install-path" => {
                return error(format!("{name} cannot be set in a package info file"), pos)
            }
            _ => return error(format!("unknown attribute \"{name}\""), pos),
        }
        Ok(())
    }

    fn string(&mut self) -> LexResult<(String, usize)> {
        let token = self.next()?;
        match token.kind {
            TokenKind::Word(value) => Ok((value, token.pos)),
            _ => error("expected string", token.pos),
        }
    }

    fn architecture(&mut self) -> LexResult<Architecture> {
        let token = self.next()?;
        if let TokenKind::Word(word) = &token.kind {
            if let Some(architecture) = Architecture::from_name(word) {
                return Ok(architecture);
            }
        }
        let names: Vec<&str> = Architecture::ALL.iter().map(|a| a.name()).collect();
        error(
            format!("architecture must be one of: [{}]", names.join(",")),
            token.pos,
        )
    }

    /// `_ParseList`: a `{ … }` block of elements, or (if allowed) a single element.
    fn list(
        &mut self,
        allow_single: bool,
        mut element: impl FnMut(&mut Self, Token) -> LexResult<()>,
    ) -> LexResult<()> {
        let open = self.next()?;
        if open.kind != TokenKind::OpenBrace {
            if !allow_single {
                return error("expected start of list ('{')", open.pos);
            }
            return element(self, open);
        }
        loop {
            let token = self.next()?;
            match token.kind {
                TokenKind::CloseBrace => return Ok(()),
                TokenKind::ItemSeparator => continue,
                TokenKind::Eof => return error("expected end of list ('}')", token.pos),
                _ => element(self, token)?,
            }
        }
    }

    fn string_list(&mut self, resolvable_names: bool) -> LexResult<Vec<String>> {
        let mut values = Vec::new();
        self.list(true, |_, token| match token.kind {
            TokenKind::Word(word) => {
                if resolvable_names {
                    check_resolvable_name(&word, token.pos, "invalid character in resolvable name")?;
                }
                values.push(word);
                Ok(())
            }
            _ => error("expected string", token.pos),
        })?;
        Ok(values)
    }

    fn flags(&mut self) -> LexResult<u32> {
        let mut flags = 0;
        self.list(true, |_, token| match &token.kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("approve_license") => {
                flags |= PACKAGE_FLAG_APPROVE_LICENSE;
                Ok(())
            }
            TokenKind::Word(w) if w.eq_ignore_ascii_case("system_package") => {
                flags |= PACKAGE_FLAG_SYSTEM_PACKAGE;
                Ok(())
            }
            _ => error("expected 'approve_license' or 'system_package'", token.pos),
        })?;
        Ok(flags)
    }

    /// `name [= version] [compat >= version]` per element.
    fn provides(&mut self) -> LexResult<Vec<Provides>> {
        let mut values = Vec::new();
        self.list(false, |p, token| {
            let name = resolvable_name(&token)?;
            let op = p.next()?;
            let version = match op.kind {
                TokenKind::Assign => Some(parse_version(&p.next()?, true)?),
                TokenKind::ItemSeparator | TokenKind::CloseBrace => {
                    p.lexer.rewind_to(&op);
                    None
                }
                _ => return error("expected '=', comma or '}'", op.pos),
            };
            let compatible = p.next()?;
            let mut compatible_version = None;
            match &compatible.kind {
                TokenKind::Word(w) if w == "compat" || w == "compatible" => {
                    let op = p.next()?;
                    if op.kind == TokenKind::GreaterEqual {
                        compatible_version = Some(parse_version(&p.next()?, true)?);
                    } else {
                        p.lexer.rewind_to(&compatible);
                    }
                }
                _ => p.lexer.rewind_to(&compatible),
            }
            values.push(Provides {
                name,
                version,
                compatible_version,
            });
            Ok(())
        })?;
        Ok(values)
    }

    /// `name [op version [base]]` per element; `base` marks the base package (requires only).
    fn expressions(&mut self, mut base_package: Option<&mut String>) -> LexResult<Vec<ResolvableExpression>> {
        let mut values = Vec::new();
        self.list(false, |p, token| {
            let name = resolvable_name(&token)?;
            let op = p.next()?;
            let operator = match op.kind {
                TokenKind::Less => Some(ResolvableOperator::Less),
                TokenKind::LessEqual => Some(ResolvableOperator::LessEqual),
                TokenKind::Equal => Some(ResolvableOperator::Equal),
                TokenKind::NotEqual => Some(ResolvableOperator::NotEqual),
                TokenKind::GreaterEqual => Some(ResolvableOperator::GreaterEqual),
                TokenKind::Greater => Some(ResolvableOperator::Greater),
                TokenKind::ItemSeparator | TokenKind::CloseBrace => {
                    p.lexer.rewind_to(&op);
                    None
                }
                _ => return error("expected '<', '<=', '==', '!=', '>=', '>', comma or '}'", op.pos),
            };
            let mut version = None;
            if operator.is_some() {
                version = Some(parse_version(&p.next()?, true)?);
                if let Some(base) = base_package.as_deref_mut() {
                    let marker = p.next()?;
                    if marker.kind == TokenKind::Word("base".into()) {
                        if !base.is_empty() {
                            return error("multiple packages marked as base package", token.pos);
                        }
                        *base = name.clone();
                    } else {
                        p.lexer.rewind_to(&marker);
                    }
                }
            }
            values.push(ResolvableExpression {
                name,
                operator,
                version,
                base: false,
            });
            Ok(())
        })?;
        Ok(values)
    }

    /// `path [directory] [keep-old|manual|auto-merge]` per element.
    fn global_writable_files(&mut self) -> LexResult<Vec<GlobalWritableFile>> {
        let mut values = Vec::new();
        self.list(false, |p, token| {
            let TokenKind::Word(path) = token.kind else {
                return error("expected string (a file path)", token.pos);
            };
            let mut next = p.next()?;
            let is_directory = next.kind == TokenKind::Word("directory".into());
            if is_directory {
                next = p.next()?;
            }
            let update_type = match &next.kind {
                TokenKind::Word(word) => Some(update_type(word).ok_or(LexError {
                    message: "expected an update type".into(),
                    pos: next.pos,
                })?),
                TokenKind::ItemSeparator | TokenKind::CloseBrace => {
                    p.lexer.rewind_to(&next);
                    None
                }
                _ => return error("expected 'included', semicolon, new line or '}'", next.pos),
            };
            values.push(GlobalWritableFile {
                path,
                is_directory,
                update_type,
            });
            Ok(())
        })?;
        Ok(values)
    }

    /// `path [directory | template <path>]` per element.
    fn user_settings_files(&mut self) -> LexResult<Vec<UserSettingsFile>> {
        let mut values = Vec::new();
        self.list(false, |p, token| {
            let TokenKind::Word(path) = token.kind else {
                return error("expected string (a settings file path)", token.pos);
            };
            let next = p.next()?;
            let mut file = UserSettingsFile {
                path,
                ..UserSettingsFile::default()
            };
            match &next.kind {
                TokenKind::Word(w) if w == "directory" => file.is_directory = true,
                TokenKind::Word(w) if w == "template" => {
                    file.template = p.template_path()?;
                }
                TokenKind::ItemSeparator | TokenKind::CloseBrace => p.lexer.rewind_to(&next),
                _ => return error("expected 'template', semicolon, new line or '}'", next.pos),
            }
            values.push(file);
            Ok(())
        })?;
        Ok(values)
    }

    fn template_path(&mut self) -> LexResult<String> {
        let token = self.next()?;
        match token.kind {
            TokenKind::Word(path) => Ok(path),
            _ => error("expected string (a settings template file path)", token.pos),
        }
    }

    /// `name [real-name x] [home x] [shell x] [groups g…]` per element.
    fn users(&mut self) -> LexResult<Vec<User>> {
        let mut values = Vec::new();
        self.list(false, |p, token| {
            let name = match token.kind {
                TokenKind::Word(name) if is_valid_user_name(&name) => name,
                _ => return error("expected a user name", token.pos),
            };
            let mut user = User {
                name,
                ..User::default()
            };
            loop {
                let next = p.next()?;
                let TokenKind::Word(key) = &next.kind else {
                    p.lexer.rewind_to(&next);
                    break;
                };
                let field = match key.as_str() {
                    "real-name" => &mut user.real_name,
                    "home" => &mut user.home,
                    "shell" => &mut user.shell,
                    "groups" => {
                        p.user_groups(&mut user.groups)?;
                        break;
                    }
                    _ => return error("expected 'real-name', 'home', 'shell', or 'groups'", next.pos),
                };
                let value = p.next()?;
                let TokenKind::Word(value) = value.kind else {
                    return error(format!("expected string (a {key} value)"), value.pos);
                };
                *field = value;
            }
            values.push(user);
            Ok(())
        })?;
        Ok(values)
    }

    fn user_groups(&mut self, groups: &mut Vec<String>) -> LexResult<()> {
        loop {
            let next = self.next()?;
            match next.kind {
                TokenKind::Word(group) if is_valid_user_name(&group) => groups.push(group),
                TokenKind::ItemSeparator | TokenKind::CloseBrace => {
                    self.lexer.rewind_to(&next);
                    return Ok(());
                }
                _ => return error("expected a group name", next.pos),
            }
        }
    }
}

/// `_ParseVersionValue`: `major[.minor[.micro]][~prerelease][-revision]`; the revision is mandatory
/// for the package's own version.
fn parse_version(token: &Token, revision_is_optional: bool) -> LexResult<Version> {
    let TokenKind::Word(text) = &token.kind else {
        return error("expected string (a version)", token.pos);
    };
    let pos = token.pos;
    let mut rest = text.as_str();
    let mut revision = 0;
    if let Some(dash) = rest.rfind('-') {
        revision = rest[dash + 1..].parse::<u32>().map_err(|_| LexError {
            message: "revision must be a number > 0 and < UINT_MAX".into(),
            pos: pos + dash + 1,
        })?;
        rest = &rest[..dash];
    }
    if revision == 0 && !revision_is_optional {
        return error("expected revision number (-<number> suffix)", pos + rest.len());
    }
    let mut prerelease = "";
    if let Some(tilde) = rest.rfind('~') {
        prerelease = &rest[tilde + 1..];
        if prerelease.is_empty() {
            return error("invalid empty pre-release string", pos + tilde + 1);
        }
        check_chars(
            prerelease,
            ".",
            pos + tilde + 1,
            "invalid character in pre-release string",
        )?;
        rest = &rest[..tilde];
    }
    let (major, minor, micro) = match rest.split_once('.') {
        None => (rest, "", ""),
        Some((major, tail)) => {
            let (minor, micro) = tail.split_once('.').unwrap_or((tail, ""));
            if minor.is_empty() && tail.starts_with('.') {
                return error("expected minor version", pos + major.len() + 1);
            }
            let micro_at = pos + major.len() + minor.len() + 2;
            check_chars(micro, ".", micro_at, "invalid character in micro version string")?;
            check_chars(
                minor,
                "",
                pos + major.len() + 1,
                "invalid character in minor version string",
            )?;
            (major, minor, micro)
        }
    };
    check_chars(major, "", pos, "invalid character in major version string")?;
    Ok(Version::new(major, minor, micro, prerelease, revision))
}

/// `_IsAlphaNumUnderscore`: letters, digits, `_` and `extra`.
fn check_chars(text: &str, extra: &str, pos: usize, message: &str) -> LexResult<()> {
    match text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || extra.contains(*c)))
    {
        Some((at, _)) => error(message, pos + at),
        None => Ok(()),
    }
}

/// `_IsValidResolvableName`: no `-`, `/`, `<`, `>`, `=`, `!` or white space.
fn check_resolvable_name(name: &str, pos: usize, message: &str) -> LexResult<()> {
    match name
        .char_indices()
        .find(|(_, c)| "-/<>=!".contains(*c) || c.is_whitespace())
    {
        Some((at, _)) => error(message, pos + at),
        None => Ok(()),
    }
}

fn resolvable_name(token: &Token) -> LexResult<String> {
    let TokenKind::Word(name) = &token.kind else {
        return error("expected word (a resolvable name)", token.pos);
    };
    check_resolvable_name(name, token.pos, "invalid character in resolvable name")?;
    Ok(name.clone())
}

/// `BUser::IsValidUserName`: non-empty, no `:` (the passwd field separator) and no white space.
fn is_valid_user_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(':') && !name.contains(char::is_whitespace)
}

/// The update-type keywords (`BPackageInfo::kWritableFileUpdateTypes`).
fn update_type(word: &str) -> Option<WritableFileUpdateType> {
    [
        WritableFileUpdateType::KeepOld,
        WritableFileUpdateType::Manual,
        WritableFileUpdateType::AutoMerge,
    ]
    .into_iter()
    .find(|t| t.name() == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "name foo\nsummary \"A foo\"\ndescription \"Long\\ntext\"\nvendor \"Haiku Project\"\n\
        packager \"me <me@x>\"\narchitecture x86_64\nversion 1.2.3~beta1-4\ncopyrights \"2024 me\"\n\
        licenses { MIT \"GNU GPL v2\" }\nprovides {\n\tfoo = 1.2.3~beta1-4 compat >= 1\n\tcmd:foo\n}\n";

    fn parse_ok(text: &str) -> PackageInfo {
        parse(text, Path::new(".PackageInfo")).unwrap()
    }

    #[test]
    fn minimal_file() {
        let info = parse_ok(MINIMAL);
        assert_eq!(info.name, "foo");
        assert_eq!(info.description, "Long\ntext");
        assert_eq!(info.version, Version::new("1", "2", "3", "beta1", 4));
        assert_eq!(info.licenses, ["MIT", "GNU GPL v2"]);
        assert_eq!(info.copyrights, ["2024 me"]);
        assert_eq!(
            info.provides[0].compatible_version,
            Some(Version::new("1", "", "", "", 0))
        );
        assert_eq!(info.provides[1].version, None);
    }

    #[test]
    fn requires_operators_and_base_package() {
        let text = format!(
            "{MINIMAL}requires {{\n haiku>=r1~beta4\n lib:libz < 2 base\n a == 1 ; b != 2\n c <= 3\n d > 4\n e\n}}\n\
             supplements {{ x }}\nconflicts {{ y<1 }}\nfreshens {{ z }}\nreplaces old_foo\n"
        );
        let info = parse_ok(&text);
        let ops: Vec<_> = info.requires.iter().map(|r| r.operator).collect();
        use ResolvableOperator::*;
        assert_eq!(
            ops,
            [
                Some(GreaterEqual),
                Some(Less),
                Some(Equal),
                Some(NotEqual),
                Some(LessEqual),
                Some(Greater),
                None
            ]
        );
        assert_eq!(
            info.requires[0].version,
            Some(Version::new("r1", "", "", "beta4", 0))
        );
        assert_eq!(info.base_package, "lib:libz");
        assert_eq!(info.replaces, ["old_foo"]);
        assert_eq!(info.conflicts[0].operator, Some(Less));
    }

    #[test]
    fn files_users_flags_scripts() {
        let text = format!(
            "{MINIMAL}flags {{ approve_license system_package }}\n\
             global-writable-files {{\n settings/a.conf keep-old\n settings/d directory auto-merge\n var/x\n}}\n\
             user-settings-files {{\n s/one template data/t\n s/two directory\n s/three\n}}\n\
             users {{ www real-name \"Web Server\" home /var/www shell /bin/sh groups www wheel\n nobody }}\n\
             groups {{ www }}\npost-install-scripts {{ boot/post-install/x.sh }}\n\
             pre-uninstall-scripts boot/pre-uninstall/y.sh\nurls https://x\nsource-urls {{ \"https://y z\" }}\n"
        );
        let info = parse_ok(&text);
        assert_eq!(info.flags, 3);
        assert_eq!(
            info.global_writable_files[0].update_type,
            Some(WritableFileUpdateType::KeepOld)
        );
        assert!(info.global_writable_files[1].is_directory);
        assert_eq!(info.global_writable_files[2].update_type, None);
        assert_eq!(info.user_settings_files[0].template, "data/t");
        assert!(info.user_settings_files[1].is_directory);
        assert_eq!(info.users[0].real_name, "Web Server");
        assert_eq!(info.users[0].groups, ["www", "wheel"]);
        assert_eq!(info.users[1].name, "nobody");
        assert_eq!(info.pre_uninstall_scripts, ["boot/pre-uninstall/y.sh"]);
        assert_eq!(info.source_urls, ["https://y z"]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| parse(text, Path::new("x/.PackageInfo")).unwrap_err().to_string();
        assert!(err("name foo\nsummary a\nbogus 1\n").starts_with("x/.PackageInfo:3: unknown attribute"));
        assert!(err("name foo\nname bar\n").contains("name already seen!"));
        assert!(err("name foo\n").contains("summary is not being set anywhere!"));
        let missing_revision = MINIMAL.replace("1.2.3~beta1-4\ncopyrights", "1.2.3\ncopyrights");
        assert!(err(&missing_revision).contains(":7: expected revision number"));
        assert!(err(&MINIMAL.replace("x86_64", "vax")).contains("architecture must be one of"));
        assert!(err(&format!("{MINIMAL}install-path /x\n")).contains("cannot be set"));
    }
}
