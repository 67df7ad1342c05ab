//! Ports as built from an evaluation ([`Built`]), and the key they are cached under beside the
//! evaluation itself.
//!
//! Turning what bash printed into a [`Port`] (parsing the recipe keys, HaikuPorter's validation,
//! provides and requires) costs more than reading it back, and a warm load did it for every recipe.
//! The result depends on more than the evaluation: the licence and patch file names of the port's
//! directory, Haiku's licence names, the target, `allow_untested`, the configured secondary
//! architectures — and on this program's own code. [`built_key`] covers all of them; the code is
//! identified by the running program's GNU build ID (the linker's hash of the binary, read from the
//! program's own loaded headers, so it is right under valgrind too), so any rebuilt binary derives
//! every port once more from the cached evaluations (no bash) instead of trusting another build's
//! rules. A binary without a build ID caches no built ports.

use std::collections::HashSet;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::ports::model::Port;

/// Bumped when the meaning of a cached [`Built`] changes in a way the executable does not capture.
const BUILT_FORMAT: &str = "buildmaster-built-port-1";

/// One recipe evaluation turned into a port, or the reason it is a problem.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Built {
    /// The port, or why HaikuPorter would call the recipe broken (bash's message for a failed
    /// evaluation; without the secondary-architecture label, which the loader adds).
    pub port: Result<Port, String>,
    /// The configured secondary architectures the recipe's `SECONDARY_ARCHITECTURES` names: the
    /// primary pass decides from these which recipes to evaluate again.
    pub secondary: Vec<String>,
}

/// What every built port of one load depends on besides its recipe and port directory.
pub struct LoadInputs<'a> {
    /// `targetArchitecture`.
    pub target_arch: &'a str,
    /// `ALLOW_UNTESTED`.
    pub allow_untested: bool,
    /// The configured secondary architectures.
    pub secondary_archs: &'a [String],
    /// Haiku's licence names, if checked.
    pub haiku_licenses: Option<&'a HashSet<String>>,
}

/// The digest of a load's inputs and of this program; `None` when the program has no build ID (then
/// nothing derived is cached).
pub fn load_digest(inputs: &LoadInputs) -> Option<[u8; 32]> {
    let exe = program_build_id()?;
    let mut hasher = Sha256::new();
    part(&mut hasher, BUILT_FORMAT.as_bytes());
    part(&mut hasher, exe);
    part(&mut hasher, inputs.target_arch.as_bytes());
    part(&mut hasher, &[inputs.allow_untested as u8]);
    part(&mut hasher, inputs.secondary_archs.join("\0").as_bytes());
    match inputs.haiku_licenses {
        None => part(&mut hasher, b"unchecked"),
        Some(names) => part(&mut hasher, sorted_names(names).as_bytes()),
    }
    Some(hasher.finalize().into())
}

/// The digest of a port directory's `licenses/` and `patches/` file names.
pub fn dir_digest(licenses: &HashSet<String>, patches: &HashSet<String>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    part(&mut hasher, sorted_names(licenses).as_bytes());
    part(&mut hasher, sorted_names(patches).as_bytes());
    hasher.finalize().into()
}

/// The key of one built port: its evaluation's key (recipe bytes, path, architecture context,
/// evaluator), the load's digest and its port directory's digest.
pub fn built_key(load: &[u8; 32], evaluation: &[u8; 32], dir: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for bytes in [&load[..], &evaluation[..], &dir[..]] {
        hasher.update(bytes);
    }
    hasher.finalize().into()
}

/// Length-prefixed, so that no two different sequences of parts hash alike.
fn part(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn sorted_names(names: &HashSet<String>) -> String {
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.join("\0")
}

/// The running program's GNU build ID, read once.
fn program_build_id() -> Option<&'static [u8]> {
    static BUILD_ID: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BUILD_ID.get_or_init(read_build_id).as_deref()
}

/// `NT_GNU_BUILD_ID`, the note type of the linker's build ID (elf.h).
const NT_GNU_BUILD_ID: u32 = 3;

/// The build ID from the main program's `PT_NOTE` segments, as loaded in memory: the first object
/// `dl_iterate_phdr` reports is the program itself.
fn read_build_id() -> Option<Vec<u8>> {
    unsafe extern "C" fn first_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        found: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: glibc hands a valid `dl_phdr_info` whose `dlpi_phdr` has `dlpi_phnum` entries, all
        // mapped at `dlpi_addr + p_vaddr`; `found` is the `Option` passed below.
        unsafe {
            let info = &*info;
            let found = &mut *(found as *mut Option<Vec<u8>>);
            for index in 0..usize::from(info.dlpi_phnum) {
                let header = &*info.dlpi_phdr.add(index);
                if header.p_type != libc::PT_NOTE {
                    continue;
                }
                let start = (info.dlpi_addr as usize + header.p_vaddr as usize) as *const u8;
                let notes = std::slice::from_raw_parts(start, header.p_memsz as usize);
                if let Some(id) = build_id_note(notes, header.p_align.max(4) as usize) {
                    *found = Some(id.to_vec());
                }
            }
        }
        1 // stop: only the program itself
    }
    let mut found: Option<Vec<u8>> = None;
    // SAFETY: the callback only reads the headers glibc passes and writes `found`, which outlives
    // the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(first_object),
            &mut found as *mut Option<Vec<u8>> as *mut libc::c_void,
        );
    }
    found.filter(|id| !id.is_empty())
}

/// The descriptor of the `GNU` build-ID note among `notes` (entries padded to `align`).
fn build_id_note(mut notes: &[u8], align: usize) -> Option<&[u8]> {
    let padded = |n: usize| n.div_ceil(align) * align;
    let word = |bytes: &[u8], at: usize| -> Option<usize> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    while notes.len() >= 12 {
        let (name_size, desc_size, kind) = (word(notes, 0)?, word(notes, 4)?, word(notes, 8)?);
        let name_end = 12 + padded(name_size);
        let desc = notes.get(name_end..name_end + desc_size)?;
        if kind == NT_GNU_BUILD_ID as usize && notes.get(12..12 + name_size) == Some(b"GNU\0") {
            return Some(desc);
        }
        notes = notes.get(name_end + padded(desc_size)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_input_changes_the_load_digest() {
        let archs = vec!["x86".to_owned()];
        let haiku = names(&["MIT"]);
        let base = LoadInputs {
            target_arch: "x86_64",
            allow_untested: false,
            secondary_archs: &archs,
            haiku_licenses: Some(&haiku),
        };
        let digest = |inputs: &LoadInputs| load_digest(inputs).expect("test binary identified");
        let reference = digest(&base);
        assert_eq!(reference, digest(&base));
        let more = names(&["MIT", "GNU GPL v2"]);
        for changed in [
            LoadInputs {
                target_arch: "x86_gcc2",
                ..base
            },
            LoadInputs {
                allow_untested: true,
                ..base
            },
            LoadInputs {
                secondary_archs: &[],
                ..base
            },
            LoadInputs {
                haiku_licenses: None,
                ..base
            },
            LoadInputs {
                haiku_licenses: Some(&more),
                ..base
            },
        ] {
            assert_ne!(digest(&changed), reference);
        }
    }

    #[test]
    fn the_program_has_a_build_id() {
        // Without one nothing is cached; this build's linker gives one.
        assert!(program_build_id().is_some_and(|id| id.len() >= 8));
    }

    #[test]
    fn licence_and_patch_names_change_the_dir_digest() {
        let reference = dir_digest(&names(&["A"]), &names(&["foo-1.patchset"]));
        assert_ne!(dir_digest(&names(&[]), &names(&["foo-1.patchset"])), reference);
        assert_ne!(dir_digest(&names(&["A"]), &names(&[])), reference);
        // A name moved from one directory to the other is another directory.
        assert_ne!(
            dir_digest(&names(&["A", "foo-1.patchset"]), &names(&[])),
            reference
        );
    }
}
