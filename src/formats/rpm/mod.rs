//! RPM repositories (dnf): `.rpm` header inspection and `repodata/`.
