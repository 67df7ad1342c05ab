//! Toolchains: what differs between build tools — HaikuPorter, Debian's `dpkg-buildpackage`, RPM's
//! `rpmbuild` — behind one seam, so that the builder flow in [`crate::builders`] is written once. A
//! toolchain says which argument vectors a job runs, where its dependency packages and other inputs
//! are placed on the builder, and which result files the build must produce.
