//! OpenPGP signing of index roots: clear-signed `InRelease`, detached `Release.gpg` / `repomd.xml.asc`.
