//! The command line: argument parsing and output only. Each subcommand's
//! arguments live in a file of their own here and call one stage.

use crate::error::{Error, Result, EXIT_CODES_HELP};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub mod build;
pub mod package;
pub mod packages;
pub mod publish;
pub mod rebuild;
pub mod release;
pub mod targets;
pub mod trust;
pub mod upload;
pub mod verify;

const ABOUT: &str = "Cut a Valkey release: build every target in Docker builder containers, package \
reproducible tarballs with checksums, upload them to S3, verify them, and publish the \
valkey-hashes line, the valkey-container PR and the valkey.io download page.";

const AFTER: &str = "\
Typical use:
  valkey-release targets                                  # the release matrix
  valkey-release build --version 8.1.1 --source valkey-8.1.1.tar.gz --target bookworm-x86_64
  valkey-release verify dist/                             # check every artifact
  valkey-release upload --environment dev                 # to $AWS_TEST_BUCKET
  valkey-release release --version 8.1.1 --environment prod   # everything, resumable
  valkey-release verify --remote https://download.valkey.io/releases/ --version 8.1.1

Environment:
  VALKEY_RELEASE_TARGETS  targets.toml to use (default: ./targets.toml, else the built-in copy)
  SOURCE_DATE_EPOCH       timestamp for every file in the tarballs (package)
  AWS_S3_BUCKET / AWS_TEST_BUCKET, AWS_* credentials, AWS_ENDPOINT_URL   (upload)
  GITHUB_TOKEN            GitHub mode of publish (never printed)
  DOCKER_HOST             Docker engine (build)
  RUST_LOG                log detail on stderr (e.g. RUST_LOG=valkey_release=debug)
";

/// Options shared by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The release matrix to use.
    #[arg(long, global = true, env = "VALKEY_RELEASE_TARGETS", value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Print results as JSON on stdout (progress stays on stderr).
    #[arg(long, global = true)]
    pub json: bool,
}

impl Global {
    /// Load the matrix named by `--targets`, `./targets.toml`, or the built-in copy.
    pub fn matrix(&self) -> Result<crate::targets::Matrix> {
        crate::targets::Matrix::load(self.targets.as_deref())
    }
}

#[derive(Debug, Parser)]
#[command(name = "valkey-release", version, about = ABOUT, long_about = None,
          after_help = format!("{AFTER}\n{EXIT_CODES_HELP}"), propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the release matrix from targets.toml.
    Targets(targets::Args),
    /// Package one target's build tree into a reproducible tarball with checksums.
    Package(package::Args),
    /// Check files against checksum files (local paths, a dist/ directory, or a remote release).
    Verify(verify::Args),
    /// Build targets in Docker builder containers, check and package them.
    Build(build::Args),
    /// Prepare the builder images of targets ahead of a build.
    Images(build::ImagesArgs),
    /// Upload dist/ to the release bucket and check what landed.
    Upload(upload::Args),
    /// Update valkey-hashes, valkey-container or the valkey.io website.
    Publish(publish::Args),
    /// Run the whole release: build, package, upload, verify, publish. Resumable.
    Release(release::Args),
    /// Show what a release would do, without credentials and without building.
    Plan(release::PlanArgs),
    /// Write an SPDX 2.3 SBOM beside every artifact of a dist directory.
    Sbom(trust::SbomArgs),
    /// Write the release's signed in-toto/SLSA provenance (valkey-<V>.intoto.jsonl).
    Provenance(trust::ProvenanceArgs),
    /// Rebuild a published release from its recorded inputs and compare byte for byte.
    Rebuild(rebuild::Args),
    /// Build or update the signed apt repositories (packaging/...) from a dist's .debs.
    Repo(packages::RepoArgs),
    /// Sign a file (SHA256SUMS) with the release key: FILE.asc and GPG-KEY-valkey.asc.
    Sign(packages::SignArgs),
    /// Check a detached OpenPGP signature (SHA256SUMS.asc) with a public key.
    VerifySignature(packages::VerifySignatureArgs),
}

/// The log filter when RUST_LOG is not set: warnings, except the AWS SDK's own, which dump whole
/// HTTP responses for expected events (no instance metadata service off EC2, a provider of the
/// credential chain that has nothing); the tool reports what matters as one `error:` line.
const DEFAULT_LOG_FILTER: &str = "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error";

/// Parse, run and return the exit code. Errors print as one `error:` line.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_writer(crate::redact::Redacting::from_env())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_target(false)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 3;
        }
    };
    let result = rt.block_on(run(cli));
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            e.exit_code()
        }
    }
}

/// Print an error for a person: one line, no backtrace.
pub fn report(e: &Error) {
    match e {
        Error::Interrupted => eprintln!("error: interrupted; containers and partial files of this run were removed"),
        other => eprintln!("error: {other}"),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Targets(a) => targets::run(&g, a).await,
        Command::Package(a) => package::run(&g, a).await,
        Command::Verify(a) => verify::run(&g, a).await,
        Command::Build(a) => build::run(&g, a).await,
        Command::Images(a) => build::run_images(&g, a).await,
        Command::Upload(a) => upload::run(&g, a).await,
        Command::Publish(a) => publish::run(&g, a).await,
        Command::Release(a) => release::run(&g, a).await,
        Command::Plan(a) => release::run_plan(&g, a).await,
        Command::Sbom(a) => trust::run_sbom(&g, a).await,
        Command::Provenance(a) => trust::run_provenance(&g, a).await,
        Command::Rebuild(a) => rebuild::run(&g, a).await,
        Command::Repo(a) => packages::run_repo(&g, a).await,
        Command::Sign(a) => packages::run_sign(&g, a).await,
        Command::VerifySignature(a) => packages::run_verify_signature(&g, a).await,
    }
}

/// Parse a version argument (clap value parser): exit 2 with the rule on failure.
pub fn parse_version(s: &str) -> std::result::Result<crate::version::Version, String> {
    crate::version::Version::parse(s).map_err(|e| e.to_string())
}
