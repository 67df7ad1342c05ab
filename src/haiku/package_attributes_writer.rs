//! Turns a [`PackageInfo`] into the package-attribute tree in Haiku's canonical order
//! (`haiku-formats.md` §1.6; `WriterImplBase::RegisterPackageInfo`, `RegisterPackageVersion`,
//! `RegisterPackageResolvableExpressionList`). The HPKG writer uses it for a package's attribute
//! section and the HPKR writer for each repository entry, so both agree by construction.

use crate::haiku::attributes::AttributeId as Id;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::resolvable::ResolvableExpression;
use crate::haiku::section_writer::AttrNode;
use crate::haiku::version::Version;

/// The attribute list of one package, in canonical order.
pub fn package_attributes(info: &PackageInfo) -> Vec<AttrNode<'_>> {
    let mut list = vec![
        AttrNode::string(Id::PackageName, &info.name),
        AttrNode::string(Id::PackageSummary, &info.summary),
        AttrNode::string(Id::PackageDescription, &info.description),
        AttrNode::string(Id::PackageVendor, &info.vendor),
        AttrNode::string(Id::PackagePackager, &info.packager),
    ];
    push_if_not_empty(&mut list, Id::PackageBasePackage, &info.base_package);
    list.push(AttrNode::uint(Id::PackageFlags, u64::from(info.flags)));
    list.push(AttrNode::uint(Id::PackageArchitecture, info.architecture as u64));
    list.push(version_node(Id::PackageVersionMajor, &info.version));
    push_strings(&mut list, Id::PackageCopyright, &info.copyrights);
    push_strings(&mut list, Id::PackageLicense, &info.licenses);
    push_strings(&mut list, Id::PackageUrl, &info.urls);
    push_strings(&mut list, Id::PackageSourceUrl, &info.source_urls);
    for provides in &info.provides {
        let mut node = AttrNode::string(Id::PackageProvides, &provides.name);
        if let Some(version) = provides.version.as_ref().filter(|v| v.is_set()) {
            node.children.push(version_node(Id::PackageVersionMajor, version));
        }
        if let Some(compatible) = provides.compatible_version.as_ref().filter(|v| v.is_set()) {
            node.children
                .push(version_node(Id::PackageProvidesCompatible, compatible));
        }
        list.push(node);
    }
    push_expressions(&mut list, Id::PackageRequires, &info.requires);
    push_expressions(&mut list, Id::PackageSupplements, &info.supplements);
    push_expressions(&mut list, Id::PackageConflicts, &info.conflicts);
    push_expressions(&mut list, Id::PackageFreshens, &info.freshens);
    push_strings(&mut list, Id::PackageReplaces, &info.replaces);
    for file in &info.global_writable_files {
        let mut node = AttrNode::string(Id::PackageGlobalWritableFile, &file.path);
        if file.is_directory {
            node.children
                .push(AttrNode::uint(Id::PackageIsWritableDirectory, 1));
        }
        // The update type is written exactly when the package includes the file.
        if let Some(update_type) = file.update_type {
            node.children.push(AttrNode::uint(
                Id::PackageWritableFileUpdateType,
                update_type as u64,
            ));
        }
        list.push(node);
    }
    for file in &info.user_settings_files {
        let mut node = AttrNode::string(Id::PackageUserSettingsFile, &file.path);
        if file.is_directory {
            node.children
                .push(AttrNode::uint(Id::PackageIsWritableDirectory, 1));
        } else {
            push_if_not_empty(
                &mut node.children,
                Id::PackageSettingsFileTemplate,
                &file.template,
            );
        }
        list.push(node);
    }
    for user in &info.users {
        let mut node = AttrNode::string(Id::PackageUser, &user.name);
        push_if_not_empty(&mut node.children, Id::PackageUserRealName, &user.real_name);
        push_if_not_empty(&mut node.children, Id::PackageUserHome, &user.home);
        push_if_not_empty(&mut node.children, Id::PackageUserShell, &user.shell);
        push_strings(&mut node.children, Id::PackageUserGroup, &user.groups);
        list.push(node);
    }
    push_strings(&mut list, Id::PackageGroup, &info.groups);
    push_strings(
        &mut list,
        Id::PackagePostInstallScript,
        &info.post_install_scripts,
    );
    push_strings(
        &mut list,
        Id::PackagePreUninstallScript,
        &info.pre_uninstall_scripts,
    );
    push_if_not_empty(&mut list, Id::PackageChecksum, &info.checksum);
    push_if_not_empty(&mut list, Id::PackageInstallPath, &info.install_path);
    list
}

/// A version subtree: `id` = major, children minor (if set), micro (only after a minor),
/// pre-release (if set), revision (if ≠ 0).
fn version_node(id: Id, version: &Version) -> AttrNode<'_> {
    let mut node = AttrNode::string(id, &version.major);
    if !version.minor.is_empty() {
        node.children
            .push(AttrNode::string(Id::PackageVersionMinor, &version.minor));
        push_if_not_empty(&mut node.children, Id::PackageVersionMicro, &version.micro);
    }
    push_if_not_empty(
        &mut node.children,
        Id::PackageVersionPrerelease,
        &version.prerelease,
    );
    if version.revision != 0 {
        node.children.push(AttrNode::uint(
            Id::PackageVersionRevision,
            u64::from(version.revision),
        ));
    }
    node
}

/// Resolvable expressions: the name, and only with a set version the operator and the version.
fn push_expressions<'a>(list: &mut Vec<AttrNode<'a>>, id: Id, expressions: &'a [ResolvableExpression]) {
    for expression in expressions {
        let mut node = AttrNode::string(id, &expression.name);
        if let Some(version) = expression.version.as_ref().filter(|v| v.is_set()) {
            // Haiku writes `Operator()` whenever the version is set. Its parser never yields a
            // version without an operator; for a hand-built model we write 0, the raw default.
            let operator = expression.operator.map_or(0, |op| op as u64);
            node.children
                .push(AttrNode::uint(Id::PackageResolvableOperator, operator));
            node.children.push(version_node(Id::PackageVersionMajor, version));
        }
        list.push(node);
    }
}

fn push_strings<'a>(list: &mut Vec<AttrNode<'a>>, id: Id, values: &'a [String]) {
    list.extend(values.iter().map(|v| AttrNode::string(id, v)));
}

fn push_if_not_empty<'a>(list: &mut Vec<AttrNode<'a>>, id: Id, value: &'a str) {
    if !value.is_empty() {
        list.push(AttrNode::string(id, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::attributes::{Architecture, ResolvableOperator};
    use crate::haiku::resolvable::Provides;

    #[test]
    fn canonical_order_and_optional_parts() {
        let info = PackageInfo {
            name: "foo".into(),
            version: Version::new("1", "", "5", "beta", 0),
            architecture: Architecture::X86_64,
            provides: vec![Provides {
                name: "foo".into(),
                version: Some(Version::new("1", "2", "", "", 3)),
                compatible_version: Some(Version::new("1", "", "", "", 0)),
            }],
            requires: vec![
                ResolvableExpression {
                    name: "haiku".into(),
                    operator: Some(ResolvableOperator::GreaterEqual),
                    version: Some(Version::new("r1", "", "", "beta4", 0)),
                    base: false,
                },
                ResolvableExpression {
                    name: "lib:libc".into(),
                    operator: None,
                    version: None,
                    base: false,
                },
            ],
            ..PackageInfo::default()
        };
        let list = package_attributes(&info);
        let ids: Vec<Id> = list.iter().map(|n| n.id).collect();
        assert_eq!(
            ids,
            [
                Id::PackageName,
                Id::PackageSummary,
                Id::PackageDescription,
                Id::PackageVendor,
                Id::PackagePackager,
                Id::PackageFlags,
                Id::PackageArchitecture,
                Id::PackageVersionMajor,
                Id::PackageProvides,
                Id::PackageRequires,
                Id::PackageRequires,
            ]
        );
        // micro without minor is dropped; the pre-release stays.
        let version = &list[7];
        assert_eq!(version.children.len(), 1);
        assert_eq!(version.children[0].id, Id::PackageVersionPrerelease);
        let provides = &list[8];
        assert_eq!(provides.children[0].id, Id::PackageVersionMajor);
        assert_eq!(provides.children[0].children.len(), 2);
        assert_eq!(provides.children[1].id, Id::PackageProvidesCompatible);
        assert_eq!(list[9].children[0].id, Id::PackageResolvableOperator);
        assert!(list[10].children.is_empty());
    }
}
