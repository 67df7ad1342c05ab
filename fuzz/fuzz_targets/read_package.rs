//! Fuzzes the HPKG reader: any input must decode or fail with a `FormatError`, never panic; decoded
//! packages are also listed and their file data read, to reach the heap and listing code.
#![no_main]

use buildmaster::haiku::hpkg_reader::PackageFile;
use buildmaster::haiku::listing::list_package;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = PackageFile::from_bytes(data.to_vec()) {
        let _ = list_package(&file.package, false);
        let _ = file.package.info.canonical_file_name();
        let _ = file.license_files();
        let mut stack: Vec<_> = file.package.toc.iter().collect();
        while let Some(entry) = stack.pop() {
            if let Some(data) = &entry.data {
                let _ = file.read_data(data);
            }
            stack.extend(entry.children.iter());
        }
    }
});
