//! The vocabulary shared by every HPKG/HPKR section: attribute IDs, value types and encodings, the tag
//! arithmetic that packs them into one LEB128 number, and the enumerations stored as attribute values
//! (architectures, resolvable operators, writable-file update types, package flags).
//!
//! Facts: `haiku-formats.md` §1.4–1.5; Haiku's `headers/os/package/hpkg/PackageAttributes.h`,
//! `HPKGDefs.h`, `headers/private/package/hpkg/HPKGDefsPrivate.h`, `PackageArchitecture.h`.
//! Both the readers and the writers build on this file, so it holds no reading or writing logic.

use std::fmt;

/// An attribute ID (`BHPKGAttributeID`), the low 7 bits of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AttributeId {
    /// `dir:entry` (string): a TOC entry's name; children describe the entry.
    DirectoryEntry = 0,
    /// `file:type` (uint): 0 file, 1 directory, 2 symlink.
    FileType = 1,
    /// `file:permissions` (uint): POSIX mode bits.
    FilePermissions = 2,
    /// `file:user` (string): owning user name.
    FileUser = 3,
    /// `file:group` (string): owning group name.
    FileGroup = 4,
    /// `file:atime` (uint): access time, seconds since the epoch.
    FileAtime = 5,
    /// `file:mtime` (uint): modification time, seconds since the epoch.
    FileMtime = 6,
    /// `file:crtime` (uint): creation time, seconds since the epoch.
    FileCrtime = 7,
    /// `file:atime:nanos` (uint).
    FileAtimeNanos = 8,
    /// `file:mtime:nanos` (uint).
    FileMtimeNanos = 9,
    /// `file:crtime:nanos` (uint).
    FileCrtimeNanos = 10,
    /// `file:attribute` (string): name of an extended attribute of the entry.
    FileAttribute = 11,
    /// `file:attribute:type` (uint): the extended attribute's type code.
    FileAttributeType = 12,
    /// `data` (raw): file or extended-attribute contents, inline or in the heap.
    Data = 13,
    /// `symlink:path` (string): a symlink's target.
    SymlinkPath = 14,
    /// `package:name` (string).
    PackageName = 15,
    /// `package:summary` (string).
    PackageSummary = 16,
    /// `package:description` (string).
    PackageDescription = 17,
    /// `package:vendor` (string).
    PackageVendor = 18,
    /// `package:packager` (string).
    PackagePackager = 19,
    /// `package:flags` (uint): [`PACKAGE_FLAG_APPROVE_LICENSE`] | [`PACKAGE_FLAG_SYSTEM_PACKAGE`].
    PackageFlags = 20,
    /// `package:architecture` (uint): an [`Architecture`].
    PackageArchitecture = 21,
    /// `package:version.major` (string): root of a version subtree.
    PackageVersionMajor = 22,
    /// `package:version.minor` (string).
    PackageVersionMinor = 23,
    /// `package:version.micro` (string).
    PackageVersionMicro = 24,
    /// `package:version.revision` (uint).
    PackageVersionRevision = 25,
    /// `package:copyright` (string).
    PackageCopyright = 26,
    /// `package:license` (string).
    PackageLicense = 27,
    /// `package:provides` (string): a resolvable name.
    PackageProvides = 28,
    /// `package:requires` (string).
    PackageRequires = 29,
    /// `package:supplements` (string).
    PackageSupplements = 30,
    /// `package:conflicts` (string).
    PackageConflicts = 31,
    /// `package:freshens` (string).
    PackageFreshens = 32,
    /// `package:replaces` (string).
    PackageReplaces = 33,
    /// `package:resolvable.operator` (uint): a [`ResolvableOperator`].
    PackageResolvableOperator = 34,
    /// `package:checksum` (string): lowercase hex SHA-256 of the .hpkg (repositories only).
    PackageChecksum = 35,
    /// `package:version.prerelease` (string).
    PackageVersionPrerelease = 36,
    /// `package:provides.compatible` (string): root of a compatible-version subtree.
    PackageProvidesCompatible = 37,
    /// `package:url` (string).
    PackageUrl = 38,
    /// `package:source-url` (string).
    PackageSourceUrl = 39,
    /// `package:install-path` (string).
    PackageInstallPath = 40,
    /// `package:base-package` (string).
    PackageBasePackage = 41,
    /// `package:global-writable-file` (string): a path.
    PackageGlobalWritableFile = 42,
    /// `package:user-settings-file` (string): a path.
    PackageUserSettingsFile = 43,
    /// `package:writable-file-update-type` (uint): a [`WritableFileUpdateType`].
    PackageWritableFileUpdateType = 44,
    /// `package:settings-file-template` (string).
    PackageSettingsFileTemplate = 45,
    /// `package:user` (string): a user name.
    PackageUser = 46,
    /// `package:user.real-name` (string).
    PackageUserRealName = 47,
    /// `package:user.home` (string).
    PackageUserHome = 48,
    /// `package:user.shell` (string).
    PackageUserShell = 49,
    /// `package:user.group` (string).
    PackageUserGroup = 50,
    /// `package:group` (string).
    PackageGroup = 51,
    /// `package:post-install-script` (string).
    PackagePostInstallScript = 52,
    /// `package:is-writable-directory` (uint): 1 if the writable/settings path is a directory.
    PackageIsWritableDirectory = 53,
    /// `package` (string): one package of a repository; its children are that package's attributes.
    Package = 54,
    /// `package:pre-uninstall-script` (string).
    PackagePreUninstallScript = 55,
}

/// Number of defined attribute IDs (`B_HPKG_ATTRIBUTE_ID_ENUM_COUNT`).
pub const ATTRIBUTE_ID_COUNT: u8 = 56;

impl AttributeId {
    /// Every ID in numeric order; `ALL[n] as u8 == n`.
    pub const ALL: [AttributeId; ATTRIBUTE_ID_COUNT as usize] = {
        use AttributeId::*;
        [
            DirectoryEntry,
            FileType,
            FilePermissions,
            FileUser,
            FileGroup,
            FileAtime,
            FileMtime,
            FileCrtime,
            FileAtimeNanos,
            FileMtimeNanos,
            FileCrtimeNanos,
            FileAttribute,
            FileAttributeType,
            Data,
            SymlinkPath,
            PackageName,
            PackageSummary,
            PackageDescription,
            PackageVendor,
            PackagePackager,
            PackageFlags,
            PackageArchitecture,
            PackageVersionMajor,
            PackageVersionMinor,
            PackageVersionMicro,
            PackageVersionRevision,
            PackageCopyright,
            PackageLicense,
            PackageProvides,
            PackageRequires,
            PackageSupplements,
            PackageConflicts,
            PackageFreshens,
            PackageReplaces,
            PackageResolvableOperator,
            PackageChecksum,
            PackageVersionPrerelease,
            PackageProvidesCompatible,
            PackageUrl,
            PackageSourceUrl,
            PackageInstallPath,
            PackageBasePackage,
            PackageGlobalWritableFile,
            PackageUserSettingsFile,
            PackageWritableFileUpdateType,
            PackageSettingsFileTemplate,
            PackageUser,
            PackageUserRealName,
            PackageUserHome,
            PackageUserShell,
            PackageUserGroup,
            PackageGroup,
            PackagePostInstallScript,
            PackageIsWritableDirectory,
            Package,
            PackagePreUninstallScript,
        ]
    };

    /// The ID with this number, or `None` for numbers Haiku does not define (readers skip those).
    pub fn from_u8(id: u8) -> Option<AttributeId> {
        Self::ALL.get(usize::from(id)).copied()
    }

    /// The value type Haiku requires for this ID (`kAttributeTypes`, from `PackageAttributes.h`);
    /// readers reject an attribute whose tag carries another type.
    pub fn value_type(self) -> AttributeType {
        use AttributeId::*;
        match self {
            FileType
            | FilePermissions
            | FileAtime
            | FileMtime
            | FileCrtime
            | FileAtimeNanos
            | FileMtimeNanos
            | FileCrtimeNanos
            | FileAttributeType
            | PackageFlags
            | PackageArchitecture
            | PackageVersionRevision
            | PackageResolvableOperator
            | PackageWritableFileUpdateType
            | PackageIsWritableDirectory => AttributeType::Uint,
            Data => AttributeType::Raw,
            _ => AttributeType::String,
        }
    }

    /// Haiku's name for the attribute (`kAttributeNames` in `ReaderImplBase.cpp`), for diagnostics.
    pub fn name(self) -> &'static str {
        use AttributeId::*;
        match self {
            DirectoryEntry => "dir:entry",
            FileType => "file:type",
            FilePermissions => "file:permissions",
            FileUser => "file:user",
            FileGroup => "file:group",
            FileAtime => "file:atime",
            FileMtime => "file:mtime",
            FileCrtime => "file:crtime",
            FileAtimeNanos => "file:atime:nanos",
            FileMtimeNanos => "file:mtime:nanos",
            FileCrtimeNanos => "file:crtime:nanos",
            FileAttribute => "file:attribute",
            FileAttributeType => "file:attribute:type",
            Data => "data",
            SymlinkPath => "symlink:path",
            PackageName => "package:name",
            PackageSummary => "package:summary",
            PackageDescription => "package:description",
            PackageVendor => "package:vendor",
            PackagePackager => "package:packager",
            PackageFlags => "package:flags",
            PackageArchitecture => "package:architecture",
            PackageVersionMajor => "package:version.major",
            PackageVersionMinor => "package:version.minor",
            PackageVersionMicro => "package:version.micro",
            PackageVersionRevision => "package:version.revision",
            PackageCopyright => "package:copyright",
            PackageLicense => "package:license",
            PackageProvides => "package:provides",
            PackageRequires => "package:requires",
            PackageSupplements => "package:supplements",
            PackageConflicts => "package:conflicts",
            PackageFreshens => "package:freshens",
            PackageReplaces => "package:replaces",
            PackageResolvableOperator => "package:resolvable.operator",
            PackageChecksum => "package:checksum",
            PackageVersionPrerelease => "package:version.prerelease",
            PackageProvidesCompatible => "package:provides.compatible",
            PackageUrl => "package:url",
            PackageSourceUrl => "package:source-url",
            PackageInstallPath => "package:install-path",
            PackageBasePackage => "package:base-package",
            PackageGlobalWritableFile => "package:global-writable-file",
            PackageUserSettingsFile => "package:user-settings-file",
            PackageWritableFileUpdateType => "package:writable-file-update-type",
            PackageSettingsFileTemplate => "package:settings-file-template",
            PackageUser => "package:user",
            PackageUserRealName => "package:user.real-name",
            PackageUserHome => "package:user.home",
            PackageUserShell => "package:user.shell",
            PackageUserGroup => "package:user.group",
            PackageGroup => "package:group",
            PackagePostInstallScript => "package:post-install-script",
            PackageIsWritableDirectory => "package:is-writable-directory",
            Package => "package",
            PackagePreUninstallScript => "package:pre-uninstall-script",
        }
    }
}

/// An attribute value's type (`B_HPKG_ATTRIBUTE_TYPE_*`), bits 7..9 of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AttributeType {
    /// `B_HPKG_ATTRIBUTE_TYPE_INVALID`: never valid in a file.
    Invalid = 0,
    /// Signed integer, big-endian, 1/2/4/8 bytes.
    Int = 1,
    /// Unsigned integer, big-endian, 1/2/4/8 bytes.
    Uint = 2,
    /// String, inline or a string-table index.
    String = 3,
    /// Raw bytes, inline or a heap reference.
    Raw = 4,
}

impl AttributeType {
    /// The type with this number, or `None` for 5..7 (which Haiku rejects).
    pub fn from_u8(value: u8) -> Option<AttributeType> {
        match value {
            0 => Some(AttributeType::Invalid),
            1 => Some(AttributeType::Int),
            2 => Some(AttributeType::Uint),
            3 => Some(AttributeType::String),
            4 => Some(AttributeType::Raw),
            _ => None,
        }
    }
}

/// INT/UINT encoding: 1-byte value (`B_HPKG_ATTRIBUTE_ENCODING_INT_8_BIT`).
pub const ENCODING_INT_8_BIT: u8 = 0;
/// INT/UINT encoding: 2-byte big-endian value.
pub const ENCODING_INT_16_BIT: u8 = 1;
/// INT/UINT encoding: 4-byte big-endian value.
pub const ENCODING_INT_32_BIT: u8 = 2;
/// INT/UINT encoding: 8-byte big-endian value.
pub const ENCODING_INT_64_BIT: u8 = 3;
/// STRING encoding: inline NUL-terminated string.
pub const ENCODING_STRING_INLINE: u8 = 0;
/// STRING encoding: LEB128 index into the section's string table.
pub const ENCODING_STRING_TABLE: u8 = 1;
/// RAW encoding: LEB128 size followed by the bytes.
pub const ENCODING_RAW_INLINE: u8 = 0;
/// RAW encoding: LEB128 size followed by a LEB128 offset into the uncompressed heap.
pub const ENCODING_RAW_HEAP: u8 = 1;

/// Largest RAW value written inline rather than to the heap, in bytes (`B_HPKG_MAX_INLINE_DATA_SIZE`).
pub const MAX_INLINE_DATA_SIZE: u64 = 8;

/// The decoded fields of an attribute tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The attribute ID (7 bits; may be an ID this crate does not know).
    pub id: u8,
    /// The value type (3 bits; see [`AttributeType`]).
    pub type_: u8,
    /// The value encoding (2 bits; meaning depends on the type).
    pub encoding: u8,
    /// Whether a child list follows the value.
    pub has_children: bool,
}

impl Tag {
    /// Packs the fields: `((encoding << 11) | (has_children << 10) | (type << 7) | id) + 1`
    /// (`HPKG_ATTRIBUTE_TAG_COMPOSE`). A packed tag is never 0, since 0 ends an attribute list.
    pub fn compose(self) -> u64 {
        ((u64::from(self.encoding & 0x3) << 11)
            | (u64::from(self.has_children) << 10)
            | (u64::from(self.type_ & 0x7) << 7)
            | u64::from(self.id & 0x7f))
            + 1
    }

    /// Unpacks a non-zero tag; `None` for 0 (the end-of-list marker) or values above 13 bits.
    pub fn decompose(tag: u64) -> Option<Tag> {
        let raw = tag.checked_sub(1)?;
        if raw >> 13 != 0 {
            return None;
        }
        Some(Tag {
            id: (raw & 0x7f) as u8,
            type_: ((raw >> 7) & 0x7) as u8,
            encoding: ((raw >> 11) & 0x3) as u8,
            has_children: (raw >> 10) & 1 == 1,
        })
    }
}

/// `package:flags` bit: the user must approve the licence before installing
/// (`B_PACKAGE_FLAG_APPROVE_LICENSE`).
pub const PACKAGE_FLAG_APPROVE_LICENSE: u32 = 1;
/// `package:flags` bit: the package is a system package (`B_PACKAGE_FLAG_SYSTEM_PACKAGE`).
pub const PACKAGE_FLAG_SYSTEM_PACKAGE: u32 = 2;

/// `file:type` value: a regular file (`B_HPKG_FILE_TYPE_FILE`).
pub const FILE_TYPE_FILE: u64 = 0;
/// `file:type` value: a directory.
pub const FILE_TYPE_DIRECTORY: u64 = 1;
/// `file:type` value: a symbolic link.
pub const FILE_TYPE_SYMLINK: u64 = 2;

/// A package architecture (`BPackageArchitecture`, `PackageArchitecture.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Architecture {
    /// `any`: architecture-independent.
    #[default]
    Any = 0,
    /// `x86`.
    X86 = 1,
    /// `x86_gcc2`.
    X86Gcc2 = 2,
    /// `source`: a source package.
    Source = 3,
    /// `x86_64`.
    X86_64 = 4,
    /// `ppc`.
    Ppc = 5,
    /// `arm`.
    Arm = 6,
    /// `m68k`.
    M68k = 7,
    /// `sparc`.
    Sparc = 8,
    /// `arm64`.
    Arm64 = 9,
    /// `riscv64`.
    Riscv64 = 10,
}

impl Architecture {
    /// Every architecture in numeric order.
    pub const ALL: [Architecture; 11] = [
        Architecture::Any,
        Architecture::X86,
        Architecture::X86Gcc2,
        Architecture::Source,
        Architecture::X86_64,
        Architecture::Ppc,
        Architecture::Arm,
        Architecture::M68k,
        Architecture::Sparc,
        Architecture::Arm64,
        Architecture::Riscv64,
    ];

    /// The architecture with this number (`None` for `B_PACKAGE_ARCHITECTURE_ENUM_COUNT` and above).
    pub fn from_u8(value: u8) -> Option<Architecture> {
        Self::ALL.get(usize::from(value)).copied()
    }

    /// Same as [`Architecture::from_u8`] for a wider attribute value.
    pub fn from_u64(value: u64) -> Option<Architecture> {
        u8::try_from(value).ok().and_then(Self::from_u8)
    }

    /// The name Haiku uses (`BPackageInfo::kArchitectureNames`), as in file names and `repo.info`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Any => "any",
            Architecture::X86 => "x86",
            Architecture::X86Gcc2 => "x86_gcc2",
            Architecture::Source => "source",
            Architecture::X86_64 => "x86_64",
            Architecture::Ppc => "ppc",
            Architecture::Arm => "arm",
            Architecture::M68k => "m68k",
            Architecture::Sparc => "sparc",
            Architecture::Arm64 => "arm64",
            Architecture::Riscv64 => "riscv64",
        }
    }

    /// Parses a name case-insensitively, as `BPackageInfo` does for `repo.info` and `.PackageInfo`.
    pub fn from_name(name: &str) -> Option<Architecture> {
        Self::ALL
            .iter()
            .copied()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A version comparison operator in a requires/supplements/conflicts/freshens expression
/// (`BPackageResolvableOperator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum ResolvableOperator {
    /// `<`
    Less = 0,
    /// `<=`
    LessEqual = 1,
    /// `==`
    Equal = 2,
    /// `!=`
    NotEqual = 3,
    /// `>=`
    GreaterEqual = 4,
    /// `>`
    Greater = 5,
}

impl ResolvableOperator {
    /// Every operator in numeric order.
    pub const ALL: [ResolvableOperator; 6] = [
        ResolvableOperator::Less,
        ResolvableOperator::LessEqual,
        ResolvableOperator::Equal,
        ResolvableOperator::NotEqual,
        ResolvableOperator::GreaterEqual,
        ResolvableOperator::Greater,
    ];

    /// The operator with this number, or `None`.
    pub fn from_u64(value: u64) -> Option<ResolvableOperator> {
        usize::try_from(value)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// The operator's text (`BPackageResolvableExpression::kOperatorNames`).
    pub fn symbol(self) -> &'static str {
        match self {
            ResolvableOperator::Less => "<",
            ResolvableOperator::LessEqual => "<=",
            ResolvableOperator::Equal => "==",
            ResolvableOperator::NotEqual => "!=",
            ResolvableOperator::GreaterEqual => ">=",
            ResolvableOperator::Greater => ">",
        }
    }

    /// Parses an operator's text.
    pub fn from_symbol(symbol: &str) -> Option<ResolvableOperator> {
        Self::ALL.iter().copied().find(|op| op.symbol() == symbol)
    }
}

impl fmt::Display for ResolvableOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// How a global writable file that ships in the package is updated when the package is
/// (`BWritableFileUpdateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum WritableFileUpdateType {
    /// `keep-old`: keep the user's file.
    KeepOld = 0,
    /// `manual`: leave the new version next to the old one for the user to merge.
    Manual = 1,
    /// `auto-merge`: merge automatically.
    AutoMerge = 2,
}

impl WritableFileUpdateType {
    /// The update type with this number, or `None`.
    pub fn from_u64(value: u64) -> Option<WritableFileUpdateType> {
        match value {
            0 => Some(WritableFileUpdateType::KeepOld),
            1 => Some(WritableFileUpdateType::Manual),
            2 => Some(WritableFileUpdateType::AutoMerge),
            _ => None,
        }
    }

    /// The keyword used in `.PackageInfo` files (`BPackageInfo::kWritableFileUpdateTypes`).
    pub fn name(self) -> &'static str {
        match self {
            WritableFileUpdateType::KeepOld => "keep-old",
            WritableFileUpdateType::Manual => "manual",
            WritableFileUpdateType::AutoMerge => "auto-merge",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_ids_round_trip_their_numbers() {
        for n in 0..ATTRIBUTE_ID_COUNT {
            let id = AttributeId::from_u8(n).expect("defined id");
            assert_eq!(id as u8, n);
        }
        assert_eq!(AttributeId::from_u8(ATTRIBUTE_ID_COUNT), None);
    }

    #[test]
    fn tag_compose_and_decompose_are_inverse() {
        for id in [0u8, 15, 54, 127] {
            for type_ in 0..8u8 {
                for encoding in 0..4u8 {
                    for has_children in [false, true] {
                        let tag = Tag {
                            id,
                            type_,
                            encoding,
                            has_children,
                        };
                        assert_eq!(Tag::decompose(tag.compose()), Some(tag));
                    }
                }
            }
        }
        assert_eq!(Tag::decompose(0), None);
        assert_eq!(Tag::decompose(1 << 13 | 1), None);
    }

    #[test]
    fn tag_matches_haiku_arithmetic() {
        // package:name, string from table, no children: (1<<11 | 3<<7 | 15) + 1.
        let tag = Tag {
            id: 15,
            type_: AttributeType::String as u8,
            encoding: 1,
            has_children: false,
        };
        assert_eq!(tag.compose(), 0x0990);
    }

    #[test]
    fn value_types_follow_package_attributes_h() {
        assert_eq!(AttributeId::DirectoryEntry.value_type(), AttributeType::String);
        assert_eq!(AttributeId::Data.value_type(), AttributeType::Raw);
        assert_eq!(
            AttributeId::PackageVersionRevision.value_type(),
            AttributeType::Uint
        );
        assert_eq!(
            AttributeId::PackageIsWritableDirectory.value_type(),
            AttributeType::Uint
        );
        assert_eq!(
            AttributeId::PackagePreUninstallScript.value_type(),
            AttributeType::String
        );
    }

    #[test]
    fn architecture_names() {
        assert_eq!(Architecture::from_u8(4), Some(Architecture::X86_64));
        assert_eq!(Architecture::from_name("X86_gcc2"), Some(Architecture::X86Gcc2));
        assert_eq!(Architecture::Riscv64.to_string(), "riscv64");
        assert_eq!(Architecture::from_u8(11), None);
    }
}
