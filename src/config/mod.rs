//! Configuration files. Work in progress.
