//! Packages for unit tests: an [`IndexedPackage`] made from a control text, without a `.deb`.

use super::control::Stanza;
use crate::formats::{IndexedPackage, InspectedPackage};

/// A package whose entry is `control` plus `Size`/`SHA256` (fake values), published at
/// `pool/<file name>`.
pub fn package(control: &str) -> IndexedPackage {
    let mut stanza = Stanza::parse(control).expect("test control parses");
    let name = stanza.required("Package").unwrap().to_owned();
    let version = stanza.required("Version").unwrap().to_owned();
    let architecture = stanza.required("Architecture").unwrap().to_owned();
    let sha256 = format!("{:064x}", name.len() * 7 + version.len());
    stanza.set("Size", "1234".into());
    stanza.set("SHA256", sha256.clone());
    let file_name = format!(
        "{name}_{}_{architecture}.deb",
        version.rsplit(':').next().unwrap()
    );
    IndexedPackage {
        href: format!("pool/{file_name}"),
        package: InspectedPackage {
            name,
            version,
            architecture,
            size: 1234,
            sha256,
            file_name,
            entry: stanza.to_text(),
        },
    }
}
