//! Decodes a list of package attributes (an HPKG package-attributes section, or the children of one
//! `package` entry of an HPKR packages section) into [`PackageAttribute`] values in file order, as
//! Haiku's `ReaderImplBase::PackageAttributeHandler` and its child handlers do, and folds them into a
//! [`PackageInfo`]. The listings print from the file-order values; everything else uses the model.

use crate::haiku::attributes::{Architecture, AttributeId, ResolvableOperator, WritableFileUpdateType};
use crate::haiku::format_error::{FormatErrorKind, FormatResult};
use crate::haiku::package_info::{GlobalWritableFile, PackageInfo, User, UserSettingsFile};
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::haiku::section::{Attribute, Section};
use crate::haiku::version::Version;

/// One package attribute as Haiku's reader reports it (`BPackageInfoAttributeValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageAttribute {
    /// `package:name`.
    Name(String),
    /// `package:summary`.
    Summary(String),
    /// `package:description`.
    Description(String),
    /// `package:vendor`.
    Vendor(String),
    /// `package:packager`.
    Packager(String),
    /// `package:base-package`.
    BasePackage(String),
    /// `package:flags` (truncated to 32 bits, as Haiku stores it).
    Flags(u32),
    /// `package:architecture`.
    Architecture(Architecture),
    /// `package:version.major` and its children.
    Version(Version),
    /// `package:copyright`.
    Copyright(String),
    /// `package:license`.
    License(String),
    /// `package:url`.
    Url(String),
    /// `package:source-url`.
    SourceUrl(String),
    /// `package:provides` and its children.
    Provides(Provides),
    /// `package:requires` and its children.
    Requires(ResolvableExpression),
    /// `package:supplements` and its children.
    Supplements(ResolvableExpression),
    /// `package:conflicts` and its children.
    Conflicts(ResolvableExpression),
    /// `package:freshens` and its children.
    Freshens(ResolvableExpression),
    /// `package:replaces`.
    Replaces(String),
    /// `package:global-writable-file` and its children.
    GlobalWritableFile(GlobalWritableFile),
    /// `package:user-settings-file` and its children.
    UserSettingsFile(UserSettingsFile),
    /// `package:user` and its children.
    User(User),
    /// `package:group`.
    Group(String),
    /// `package:post-install-script`.
    PostInstallScript(String),
    /// `package:pre-uninstall-script`.
    PreUninstallScript(String),
    /// `package:checksum`.
    Checksum(String),
    /// `package:install-path`.
    InstallPath(String),
}

/// Rejects an attribute that does not belong where it is, unless the file is of a newer minor version
/// (then Haiku skips it); on skip, its children are skipped too.
fn unexpected(section: &mut Section, attribute: &Attribute, context: &str) -> FormatResult<()> {
    if !section.ignore_unknown() {
        return Err(section.error_at(
            attribute.offset,
            FormatErrorKind::BadAttribute(format!("unexpected attribute id {} {context}", attribute.id)),
        ));
    }
    if attribute.has_children {
        section.skip_children()?;
    }
    Ok(())
}

/// Skips the children of an attribute that may not have any (Haiku's `IgnoreAttributeHandler`).
fn skip_if_children(section: &mut Section, attribute: &Attribute) -> FormatResult<()> {
    if attribute.has_children {
        section.skip_children()?;
    }
    Ok(())
}

/// Reads the children of a version root (`major` is the root's value).
fn read_version(section: &mut Section, root: Attribute) -> FormatResult<Version> {
    let mut version = Version {
        major: root.value.into_string(),
        ..Version::default()
    };
    if !root.has_children {
        return Ok(version);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::PackageVersionMinor) => version.minor = child.value.as_str().to_owned(),
            Some(AttributeId::PackageVersionMicro) => version.micro = child.value.as_str().to_owned(),
            Some(AttributeId::PackageVersionPrerelease) => {
                version.prerelease = child.value.as_str().to_owned()
            }
            // Haiku assigns the 64-bit value to a uint32 field.
            Some(AttributeId::PackageVersionRevision) => version.revision = child.value.as_uint() as u32,
            _ => {
                unexpected(section, &child, "in a package version")?;
                continue;
            }
        }
        skip_if_children(section, &child)?;
    }
    Ok(version)
}

fn read_provides(section: &mut Section, root: Attribute) -> FormatResult<Provides> {
    let mut provides = Provides {
        name: root.value.into_string(),
        ..Provides::default()
    };
    if !root.has_children {
        return Ok(provides);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::PackageVersionMajor) => provides.version = Some(read_version(section, child)?),
            Some(AttributeId::PackageProvidesCompatible) => {
                provides.compatible_version = Some(read_version(section, child)?)
            }
            _ => unexpected(section, &child, "in a package resolvable")?,
        }
    }
    Ok(provides)
}

fn read_expression(section: &mut Section, root: Attribute) -> FormatResult<ResolvableExpression> {
    let mut expression = ResolvableExpression {
        name: root.value.into_string(),
        ..Default::default()
    };
    if !root.has_children {
        return Ok(expression);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::PackageResolvableOperator) => {
                let raw = child.value.as_uint();
                let op = ResolvableOperator::from_u64(raw).ok_or_else(|| {
                    section.error_at(
                        child.offset,
                        FormatErrorKind::BadAttribute(format!("invalid resolvable operator {raw}")),
                    )
                })?;
                expression.operator = Some(op);
                skip_if_children(section, &child)?;
            }
            Some(AttributeId::PackageVersionMajor) => {
                expression.version = Some(read_version(section, child)?)
            }
            _ => unexpected(section, &child, "in a package resolvable expression")?,
        }
    }
    Ok(expression)
}

fn read_global_writable_file(section: &mut Section, root: Attribute) -> FormatResult<GlobalWritableFile> {
    let mut file = GlobalWritableFile {
        path: root.value.into_string(),
        ..Default::default()
    };
    if !root.has_children {
        return Ok(file);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::PackageWritableFileUpdateType) => {
                let raw = child.value.as_uint();
                file.update_type = Some(WritableFileUpdateType::from_u64(raw).ok_or_else(|| {
                    section.error_at(
                        child.offset,
                        FormatErrorKind::BadAttribute(format!("invalid writable-file update type {raw}")),
                    )
                })?);
            }
            Some(AttributeId::PackageIsWritableDirectory) => file.is_directory = child.value.as_uint() != 0,
            _ => {
                unexpected(section, &child, "in a global writable file")?;
                continue;
            }
        }
        skip_if_children(section, &child)?;
    }
    Ok(file)
}

fn read_user_settings_file(section: &mut Section, root: Attribute) -> FormatResult<UserSettingsFile> {
    let mut file = UserSettingsFile {
        path: root.value.into_string(),
        ..Default::default()
    };
    if !root.has_children {
        return Ok(file);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::PackageSettingsFileTemplate) => file.template = child.value.as_str().to_owned(),
            Some(AttributeId::PackageIsWritableDirectory) => file.is_directory = child.value.as_uint() != 0,
            _ => {
                unexpected(section, &child, "in a user settings file")?;
                continue;
            }
        }
        skip_if_children(section, &child)?;
    }
    Ok(file)
}

fn read_user(section: &mut Section, root: Attribute) -> FormatResult<User> {
    let mut user = User {
        name: root.value.into_string(),
        ..Default::default()
    };
    if !root.has_children {
        return Ok(user);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::PackageUserRealName) => user.real_name = child.value.as_str().to_owned(),
            Some(AttributeId::PackageUserHome) => user.home = child.value.as_str().to_owned(),
            Some(AttributeId::PackageUserShell) => user.shell = child.value.as_str().to_owned(),
            Some(AttributeId::PackageUserGroup) => user.groups.push(child.value.as_str().to_owned()),
            _ => {
                unexpected(section, &child, "in a user")?;
                continue;
            }
        }
        skip_if_children(section, &child)?;
    }
    Ok(user)
}

/// Reads package attributes up to the 0 tag that ends the current list.
pub fn read_package_attributes(section: &mut Section) -> FormatResult<Vec<PackageAttribute>> {
    let mut attributes = Vec::new();
    while let Some(attribute) = section.next_attribute()? {
        use AttributeId as Id;
        use PackageAttribute as P;
        let Some(id) = attribute.known_id() else {
            unexpected(section, &attribute, "in package attributes")?;
            continue;
        };
        // Attributes with their own child handlers.
        let structured = match id {
            Id::PackageVersionMajor => Some(P::Version(read_version(section, attribute.clone())?)),
            Id::PackageProvides => Some(P::Provides(read_provides(section, attribute.clone())?)),
            Id::PackageRequires => Some(P::Requires(read_expression(section, attribute.clone())?)),
            Id::PackageSupplements => Some(P::Supplements(read_expression(section, attribute.clone())?)),
            Id::PackageConflicts => Some(P::Conflicts(read_expression(section, attribute.clone())?)),
            Id::PackageFreshens => Some(P::Freshens(read_expression(section, attribute.clone())?)),
            Id::PackageGlobalWritableFile => Some(P::GlobalWritableFile(read_global_writable_file(
                section,
                attribute.clone(),
            )?)),
            Id::PackageUserSettingsFile => Some(P::UserSettingsFile(read_user_settings_file(
                section,
                attribute.clone(),
            )?)),
            Id::PackageUser => Some(P::User(read_user(section, attribute.clone())?)),
            _ => None,
        };
        if let Some(value) = structured {
            attributes.push(value);
            continue;
        }
        let text = || attribute.value.as_str().to_owned();
        let simple = match id {
            Id::PackageName => P::Name(text()),
            Id::PackageSummary => P::Summary(text()),
            Id::PackageDescription => P::Description(text()),
            Id::PackageVendor => P::Vendor(text()),
            Id::PackagePackager => P::Packager(text()),
            Id::PackageBasePackage => P::BasePackage(text()),
            Id::PackageFlags => P::Flags(attribute.value.as_uint() as u32),
            Id::PackageArchitecture => {
                let raw = attribute.value.as_uint();
                P::Architecture(Architecture::from_u64(raw).ok_or_else(|| {
                    section.error_at(
                        attribute.offset,
                        FormatErrorKind::BadAttribute(format!("invalid package architecture {raw}")),
                    )
                })?)
            }
            Id::PackageCopyright => P::Copyright(text()),
            Id::PackageLicense => P::License(text()),
            Id::PackageUrl => P::Url(text()),
            Id::PackageSourceUrl => P::SourceUrl(text()),
            Id::PackageReplaces => P::Replaces(text()),
            Id::PackageChecksum => P::Checksum(text()),
            Id::PackageInstallPath => P::InstallPath(text()),
            Id::PackageGroup => P::Group(text()),
            Id::PackagePostInstallScript => P::PostInstallScript(text()),
            Id::PackagePreUninstallScript => P::PreUninstallScript(text()),
            _ => {
                unexpected(section, &attribute, "in package attributes")?;
                continue;
            }
        };
        if attribute.has_children {
            // Haiku reports a simple attribute only when it has no children; with children it goes
            // to an ignore handler and is dropped.
            section.skip_children()?;
            continue;
        }
        attributes.push(simple);
    }
    Ok(attributes)
}

/// Folds file-order attributes into the model, as `BPackageInfoContentHandler` does: single-valued
/// fields take the last value, lists collect every value in order.
pub fn build_package_info(attributes: &[PackageAttribute]) -> PackageInfo {
    let mut info = PackageInfo::default();
    for attribute in attributes {
        use PackageAttribute as P;
        match attribute {
            P::Name(v) => info.name = v.clone(),
            P::Summary(v) => info.summary = v.clone(),
            P::Description(v) => info.description = v.clone(),
            P::Vendor(v) => info.vendor = v.clone(),
            P::Packager(v) => info.packager = v.clone(),
            P::BasePackage(v) => info.base_package = v.clone(),
            P::Flags(v) => info.flags = *v,
            P::Architecture(v) => info.architecture = *v,
            P::Version(v) => info.version = v.clone(),
            P::Copyright(v) => info.copyrights.push(v.clone()),
            P::License(v) => info.licenses.push(v.clone()),
            P::Url(v) => info.urls.push(v.clone()),
            P::SourceUrl(v) => info.source_urls.push(v.clone()),
            P::Provides(v) => info.provides.push(v.clone()),
            P::Requires(v) => info.requires.push(v.clone()),
            P::Supplements(v) => info.supplements.push(v.clone()),
            P::Conflicts(v) => info.conflicts.push(v.clone()),
            P::Freshens(v) => info.freshens.push(v.clone()),
            P::Replaces(v) => info.replaces.push(v.clone()),
            P::GlobalWritableFile(v) => info.global_writable_files.push(v.clone()),
            P::UserSettingsFile(v) => info.user_settings_files.push(v.clone()),
            P::User(v) => info.users.push(v.clone()),
            P::Group(v) => info.groups.push(v.clone()),
            P::PostInstallScript(v) => info.post_install_scripts.push(v.clone()),
            P::PreUninstallScript(v) => info.pre_uninstall_scripts.push(v.clone()),
            P::Checksum(v) => info.checksum = v.clone(),
            P::InstallPath(v) => info.install_path = v.clone(),
        }
    }
    info
}
