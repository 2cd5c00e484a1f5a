//! What the farm pins so that a build does not depend on the host it runs on, and how the
//! source commit reaches the binaries.
//!
//! - jemalloc's configure probes the build host's CPU (`checking number of significant virtual
//!   address bits` runs cpuid): a host with 57-bit virtual addresses made other bytes than one
//!   with 48. Valkey's deps/Makefile passes `JEMALLOC_CONFIGURE_OPTS` to that configure (and
//!   appends `--host=` for cross builds with `+=`, which keeps an environment value), so the farm
//!   sets it in the environment of make to `--with-lg-vaddr=48`: the value every x86_64 and
//!   aarch64 Linux host of 4-level page tables detects, and the one cross builds always got.
//! - `src/mkreleasehdr.sh` reads the commit from `git show-ref --head --hash=8` and the dirty
//!   count from `git diff`; the build tree has no .git, so the farm puts a `git` in front of PATH
//!   that answers those two questions with the source's commit and 0: `valkey-server --version`
//!   then prints `sha=<8 hex>:0` as upstream's builds from a checkout do.

use super::container::BUILD_DIR;

/// Environment for make that pins host-dependent configure probes: (variable, value, why).
pub const PINNED_ENV: &[(&str, &str, &str)] = &[(
    "JEMALLOC_CONFIGURE_OPTS",
    "--with-lg-vaddr=48",
    "jemalloc's configure would probe the build host's virtual address bits (cpuid)",
)];

/// Where the farm's `git` stand-in goes in the container.
pub const TOOLS_DIR: &str = "/opt/valkey-release/bin";

/// The `git` stand-in answering mkreleasehdr.sh with `commit` (40 hex).
pub fn git_stub(commit: &str) -> String {
    let short = &commit[..commit.len().min(8)];
    format!(
        "#!/bin/sh\n\
         # valkey-release: the build tree has no .git; this answers src/mkreleasehdr.sh with the\n\
         # source's commit ({commit}) and a clean tree.\n\
         case \"$1\" in\n\
         show-ref) echo {short} ;;\n\
         diff) ;;\n\
         *) echo \"git $1: not available in a valkey-release build\" >&2; exit 1 ;;\n\
         esac\n"
    )
}

/// The environment of make: the pins, and PATH with the tools directory first when a commit is known.
pub fn make_env(commit: Option<&str>) -> Vec<String> {
    let mut env: Vec<String> = PINNED_ENV.iter().map(|(k, v, _)| format!("{k}={v}")).collect();
    if commit.is_some() {
        env.push(format!(
            "PATH={TOOLS_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ));
    }
    env
}

/// What goes into the manifest's `build.pinned`.
pub fn recorded(commit: Option<&str>) -> Vec<String> {
    let mut r: Vec<String> = PINNED_ENV.iter().map(|(k, v, _)| format!("{k}={v}")).collect();
    r.push(format!("build path {BUILD_DIR}, SOURCE_DATE_EPOCH, TZ=UTC, LC_ALL=C"));
    if let Some(c) = commit {
        r.push(format!(
            "GIT_SHA1={} (src/mkreleasehdr.sh, from the source commit)",
            &c[..c.len().min(8)]
        ));
    }
    r
}

/// Check that `valkey-server --version` output reports `commit` as `sha=<8 hex>:0`.
pub fn check_reported_commit(output: &str, commit: Option<&str>) -> crate::error::Result<()> {
    let Some(c) = commit else { return Ok(()) };
    let want = format!("sha={}:0", &c[..c.len().min(8)]);
    if output.split_whitespace().any(|w| w == want) {
        return Ok(());
    }
    let got = output.split_whitespace().find(|w| w.starts_with("sha=")).unwrap_or("no sha= field");
    Err(crate::error::Error::check(format!(
        "valkey-server --version reports {got}, but the source is commit {c} (expected {want}); it printed: {:?}",
        output.trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_reaches_the_version_check() {
        let c = "0123456789abcdef0123456789abcdef01234567";
        assert!(check_reported_commit("Valkey server v=8.1.1 sha=01234567:0 malloc=jemalloc", Some(c)).is_ok());
        let e = check_reported_commit("Valkey server v=8.1.1 sha=00000000:0 malloc=jemalloc", Some(c)).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string().contains("sha=00000000:0") && e.to_string().contains("sha=01234567:0"),
            "{e}"
        );
        assert!(check_reported_commit("anything", None).is_ok());
        assert!(git_stub(c).contains("show-ref) echo 01234567 ;;"));
        assert!(make_env(Some(c)).iter().any(|e| e.starts_with("PATH=/opt/valkey-release/bin:")));
        assert_eq!(make_env(None), vec!["JEMALLOC_CONFIGURE_OPTS=--with-lg-vaddr=48".to_string()]);
    }

    #[test]
    fn pax_comment_is_read() {
        let rec = "52 comment=0123456789ABCDEF0123456789abcdef01234567\n";
        assert_eq!(
            super::super::source::pax_comment_commit(rec).as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(super::super::source::pax_comment_commit("20 comment=x\n"), None);
    }
}
