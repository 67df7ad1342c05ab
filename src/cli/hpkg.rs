//! `buildmaster hpkg list|create`: Haiku's `package list` and `package create`, natively.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::haiku::system_licenses::SystemLicenses;

/// `buildmaster hpkg …`
#[derive(Debug, Args)]
pub struct HpkgArgs {
    /// Which package operation.
    #[command(subcommand)]
    pub command: HpkgCommand,
}

/// Package operations.
#[derive(Debug, Subcommand)]
pub enum HpkgCommand {
    /// Print a package's attributes and contents exactly as Haiku's `package list` does.
    List {
        /// Print only the package attributes (`package list -i`).
        #[arg(short = 'i')]
        info_only: bool,
        /// The `.hpkg` file.
        file: PathBuf,
    },
    /// Create a package from a `.PackageInfo` file and a directory tree (like `package create`).
    Create {
        /// The package info file (default: `.PackageInfo` in the source directory).
        #[arg(short = 'i')]
        info: Option<PathBuf>,
        /// The directory whose contents go into the package (default: the current directory).
        #[arg(short = 'C')]
        directory: Option<PathBuf>,
        /// Heap compression.
        #[arg(long, value_enum, default_value = "zlib")]
        compression: CompressionArg,
        /// The package's install path (`package create -I`); `.PackageInfo` cannot set it.
        #[arg(short = 'I', value_name = "PATH")]
        install_path: Option<String>,
        /// Read Haiku's system licence names from this directory (Haiku's
        /// `/boot/system/data/licenses`) instead of the built-in list of Haiku R1's 35. A licence that
        /// is not one of them must be shipped as `data/licenses/<name>`.
        #[arg(long, value_name = "DIR")]
        system_licenses: Option<PathBuf>,
        /// The package file to write.
        output: PathBuf,
    },
}

/// Heap compression choices for `hpkg create`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressionArg {
    /// No compression.
    None,
    /// zlib, level 9 (Haiku's default).
    Zlib,
    /// zstd.
    Zstd,
}

/// Runs `buildmaster hpkg …`.
pub fn run(args: HpkgArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        HpkgCommand::List { info_only, file } => list(info_only, file),
        HpkgCommand::Create {
            info,
            directory,
            compression,
            install_path,
            system_licenses,
            output,
        } => create(
            info,
            directory,
            compression,
            install_path,
            system_licenses,
            output,
        ),
    }
}

fn list(info_only: bool, file: PathBuf) -> anyhow::Result<ExitCode> {
    let package = crate::haiku::hpkg_reader::read_package(&file)?;
    let text = crate::haiku::listing::list_package(&package, info_only);
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn create(
    info: Option<PathBuf>,
    directory: Option<PathBuf>,
    compression: CompressionArg,
    install_path: Option<String>,
    system_licenses: Option<PathBuf>,
    output: PathBuf,
) -> anyhow::Result<ExitCode> {
    use crate::haiku::heap_writer::Compression;
    let options = crate::haiku::hpkg_writer::CreateOptions {
        info_file: info,
        directory: directory.unwrap_or_else(|| PathBuf::from(".")),
        compression: match compression {
            CompressionArg::None => Compression::None,
            CompressionArg::Zlib => Compression::Zlib,
            CompressionArg::Zstd => Compression::Zstd,
        },
        install_path,
    };
    let system = system_licenses.map_or(SystemLicenses::BuiltIn, SystemLicenses::Directory);
    crate::haiku::hpkg_writer::create_package_with(&options, &output, &system)?;
    Ok(ExitCode::SUCCESS)
}
