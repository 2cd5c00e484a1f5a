//! Adding a hand-off = one file implementing `Handoff` + one line in the table. A test-only
//! hand-off (a GREETINGS file in a repository) goes through the real local applier (real git)
//! and the patch-file applier, and through the release orchestrator after the default ones.

use futures_util::future::BoxFuture;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use valkey_release::error::Result;
use valkey_release::publish::edit::{Edit, FileChange, RepoId, Target};
use valkey_release::publish::source::Source;
use valkey_release::publish::{self, handoff, Apply, Handoff, Options, State};
use valkey_release::release::{execute, Ctx, Outcome, RunOptions, Stages, Step, StepState};
use valkey_release::version::Version;

/// The whole test-only hand-off: one line per release in GREETINGS, on a PR branch.
struct Greeting;

impl Handoff for Greeting {
    fn name(&self) -> &'static str {
        "greeting"
    }
    fn about(&self) -> &'static str {
        "a line in GREETINGS"
    }
    fn default_repo(&self) -> RepoId {
        RepoId::new("valkey-io", "greetings", "main")
    }
    fn applies(&self, v: &Version) -> std::result::Result<(), String> {
        if v.is_unstable() {
            Err("no greeting for unstable".into())
        } else {
            Ok(())
        }
    }
    fn shape(&self, opts: &Options) -> Edit {
        let v = opts.version.as_str();
        let mut e = Edit::new(
            opts.repo_for(self),
            Target::Pr {
                branch: format!("greet-{v}"),
                title: format!("Greet {v}"),
            },
        );
        e.commit(format!("Add a greeting for {v}"), vec![]);
        e
    }
    fn compute<'a>(&'a self, opts: &'a Options, src: &'a Source) -> BoxFuture<'a, Result<Edit>> {
        Box::pin(async move {
            let mut e = self.shape(opts);
            let old = src.read("GREETINGS").await?.map(|f| f.text).unwrap_or_default();
            let line = format!("hello {}\n", opts.version);
            if !old.contains(&line) {
                e.commits[0].changes.push(FileChange {
                    path: "GREETINGS".into(),
                    new: format!("{old}{line}"),
                    old: Some(old),
                    mode: "100644".into(),
                });
            }
            Ok(e)
        })
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[tokio::test]
async fn a_test_only_handoff_goes_through_every_applier_and_the_release() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("greetings");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("GREETINGS"), "hello 9.1.0\n").unwrap();
    git(&repo, &["add", "GREETINGS"]);
    git(&repo, &["config", "user.name", "Release Person"]);
    git(&repo, &["config", "user.email", "rp@example.com"]);
    git(&repo, &["commit", "-qm", "seed"]);

    // Local checkout (real git): one signed-off commit on the PR branch; a re-run changes nothing.
    let mut o = Options::new(Version::parse("9.1.1").unwrap());
    o.apply = Apply::Checkout {
        dir: repo.clone(),
        push: false,
    };
    let out = publish::publish(&Greeting, &o).await.unwrap();
    assert_eq!(out.state, State::Committed);
    assert_eq!(out.commits, ["Add a greeting for 9.1.1"]);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%B", "greet-9.1.1"]),
        "Add a greeting for 9.1.1\n\nSigned-off-by: Release Person <rp@example.com>\n\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("GREETINGS")).unwrap(),
        "hello 9.1.0\nhello 9.1.1\n"
    );
    let again = publish::publish(&Greeting, &o).await.unwrap();
    assert_eq!(again.state, State::Unchanged);

    // Patch files: the same edit, for review.
    let mut o = Options::new(Version::parse("9.1.2").unwrap());
    o.apply = Apply::Handoff {
        dir: d.path().join("handoff"),
    };
    o.base = Some(repo.clone());
    let out = publish::publish(&Greeting, &o).await.unwrap();
    assert_eq!(out.state, State::HandoffWritten);
    assert!(d.path().join("handoff/greetings/0001-Add-a-greeting-for-9.1.2.patch").is_file());

    // The release runs it as one more line of the table, after the default hand-offs.
    let mut table = handoff::table();
    table.push(Arc::new(Greeting));
    let steps = Step::with_handoffs(&table);
    assert_eq!(steps.last(), Some(&Step::Handoff("greeting")));
    let mut fake = Fake { table, ran: vec![] };
    let req = valkey_release::release::payload::from_args("9.1.1", Some("prod"), None).unwrap();
    let dist = d.path().join("dist");
    let out = execute(
        &mut fake,
        &req,
        &RunOptions {
            dist: dist.clone(),
            dry_run: false,
        },
    )
    .await
    .unwrap();
    assert!(out.error.is_none());
    assert_eq!(fake.ran.last().map(String::as_str), Some("greeting"));
    let row = out.report.steps.iter().find(|s| s.step == Step::Handoff("greeting")).unwrap();
    assert_eq!(row.state, StepState::Done);
    // Its record in the state file uses its name.
    let st = std::fs::read_to_string(dist.join("release-state.json")).unwrap();
    assert!(st.contains("\"greeting\""), "{st}");
}

/// Stages that do nothing but record which hand-offs ran.
struct Fake {
    table: handoff::Table,
    ran: Vec<String>,
}

impl Stages for Fake {
    async fn probe(&mut self, _s: Step, _c: &Ctx<'_>) -> Result<Option<Outcome>> {
        Ok(None)
    }
    async fn source(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("ok"))
    }
    async fn build(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("ok"))
    }
    async fn upload(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("ok"))
    }
    async fn verify(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        Ok(Outcome::new("ok"))
    }
    async fn handoff(&mut self, h: &dyn Handoff, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran.push(h.name().to_string());
        Ok(Outcome::new(h.about()))
    }
    fn handoffs(&self) -> handoff::Table {
        self.table.clone()
    }
}
