//! Debian repositories (apt): `.deb` inspection, `Packages`, `Release`, `InRelease`, by-hash.
