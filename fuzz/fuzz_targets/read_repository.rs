//! Fuzzes the HPKR reader: any input must decode or fail with a `FormatError`, never panic; decoded
//! repositories are also listed in every mode.
#![no_main]

use buildmaster::haiku::hpkr_reader::{read_repository_bytes, repository_info_section_bytes};
use buildmaster::haiku::listing::list_repository;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = repository_info_section_bytes(data);
    if let Ok(repository) = read_repository_bytes(data) {
        let _ = list_repository(&repository, true, true);
        let _ = list_repository(&repository, false, false);
    }
});
