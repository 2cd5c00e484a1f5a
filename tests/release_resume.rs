//! The release orchestrator against a fake set of stages: order, environments, the state file,
//! and resuming after a failure injected at each step with nothing done twice.

use std::collections::BTreeMap;
use valkey_release::error::{Error, Result};
use valkey_release::publish::Handoff;
use valkey_release::release::payload::{self, Environment};
use valkey_release::release::{execute, Ctx, Outcome, RunOptions, Stages, Step, StepState};

/// What the fake "outside world" holds: built artifacts, objects, hash lines, PRs.
#[derive(Default, Debug)]
struct World {
    built: bool,
    /// The trust and repository steps' work (SBOMs, signature, provenance, repository).
    sbom: bool,
    signed: bool,
    provenance: bool,
    repository: bool,
    objects: BTreeMap<String, String>,
    puts: u32,
    /// Every hash line written (the fake appends on every call: a second call is a duplicate).
    hash_lines: Vec<String>,
    /// (branch, merged): every PR opened (no de-duplication in the fake).
    prs: Vec<(String, bool)>,
    pr_creates: u32,
    /// Every dispatch sent.
    dispatches: Vec<String>,
    /// Every object PUT, in order (the fake skips only what the real upload skips: an
    /// identical object already there).
    put_log: Vec<String>,
}

#[derive(Default)]
struct Fake {
    world: World,
    runs: BTreeMap<Step, u32>,
    probes: BTreeMap<Step, u32>,
    /// Fail this step once (after doing part of its work where that makes sense).
    fail_at: Option<Step>,
}

const KEYS: [&str; 3] = ["releases/a.tar.gz", "releases/a.tar.gz.sha256", "releases/valkey-9.1.1.SHA256SUMS"];

impl Fake {
    fn ran(&mut self, s: Step) -> Result<()> {
        *self.runs.entry(s).or_default() += 1;
        Ok(())
    }
    fn maybe_fail(&mut self, s: Step) -> Result<()> {
        if self.fail_at == Some(s) {
            self.fail_at = None;
            return Err(Error::external(format!("{s}: injected failure")));
        }
        Ok(())
    }
    fn pr(&mut self, branch: &str) -> Outcome {
        self.world.prs.push((branch.to_string(), false));
        self.world.pr_creates += 1;
        let url = format!("https://github.example/pr/{branch}");
        let mut o = Outcome::new(format!("PR {url}"));
        o.to_merge.push(url);
        o
    }
}

impl Stages for Fake {
    async fn probe(&mut self, step: Step, ctx: &Ctx<'_>) -> Result<Option<Outcome>> {
        *self.probes.entry(step).or_default() += 1;
        let w = &self.world;
        let done = match step {
            Step::Source => false,
            Step::Build => w.built,
            Step::Upload => KEYS.iter().all(|k| w.objects.contains_key(*k)),
            Step::Verify => ctx.prior.map(|r| r.state.is_done()).unwrap_or(false),
            Step::Sbom => w.sbom,
            Step::Sign => w.signed,
            Step::Provenance => w.provenance,
            Step::Repositories => w.repository,
            Step::Handoff("hashes") => w.hash_lines.iter().any(|l| l.contains(ctx.req.version.as_str())),
            Step::Handoff("container") => w.prs.iter().any(|(b, _)| b.starts_with("update-9")),
            Step::Handoff("website") => w.prs.iter().any(|(b, _)| b.starts_with("update-website-")),
            Step::Handoff("docs") => w.prs.iter().any(|(b, _)| b.starts_with("update-docs-")),
            // A dispatch cannot be looked up: the release state is the record.
            Step::Handoff(_) => ctx.prior.map(|r| r.state.is_done()).unwrap_or(false),
        };
        Ok(done.then(|| Outcome::new("already there")))
    }
    async fn source(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Source)?;
        self.maybe_fail(Step::Source)?;
        Ok(Outcome::new("source ok"))
    }
    async fn build(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Build)?;
        self.maybe_fail(Step::Build)?;
        self.world.built = true;
        Ok(Outcome::new("built"))
    }
    async fn upload(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Upload)?;
        for (i, k) in KEYS.iter().enumerate() {
            if self.world.objects.contains_key(*k) {
                continue; // idempotent: same checksum already there
            }
            if i == 1 {
                self.maybe_fail(Step::Upload)?; // fail half-way
            }
            self.world.objects.insert(k.to_string(), "sha".into());
            self.world.puts += 1;
            self.world.put_log.push(k.to_string());
        }
        Ok(Outcome::new("uploaded"))
    }
    async fn sbom(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Sbom)?;
        self.maybe_fail(Step::Sbom)?;
        self.world.sbom = true;
        Ok(Outcome::new("sboms"))
    }
    async fn sign(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Sign)?;
        self.maybe_fail(Step::Sign)?;
        self.world.signed = true;
        Ok(Outcome::new("signed"))
    }
    async fn provenance(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Provenance)?;
        self.maybe_fail(Step::Provenance)?;
        self.world.provenance = true;
        Ok(Outcome::new("provenance"))
    }
    async fn repositories(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Repositories)?;
        self.maybe_fail(Step::Repositories)?;
        self.world.repository = true;
        Ok(Outcome::new("repository"))
    }
    async fn verify(&mut self, _c: &Ctx<'_>) -> Result<Outcome> {
        self.ran(Step::Verify)?;
        self.maybe_fail(Step::Verify)?;
        Ok(Outcome::new("verified"))
    }
    async fn handoff(&mut self, h: &dyn Handoff, c: &Ctx<'_>) -> Result<Outcome> {
        let step = Step::Handoff(h.name());
        self.ran(step)?;
        let v = c.req.version.to_string();
        match h.name() {
            "hashes" => {
                self.maybe_fail(step)?;
                self.world.hash_lines.push(format!("hash valkey-{v}.tar.gz sha256 00"));
                Ok(Outcome::new("hash line"))
            }
            "container" => {
                let o = self.pr(&format!("update-{v}"));
                self.maybe_fail(step)?; // the PR was opened, then something failed
                Ok(o)
            }
            "bundle" => {
                self.maybe_fail(step)?;
                self.world.dispatches.push(v);
                Ok(Outcome::new("dispatched"))
            }
            "website" => {
                self.maybe_fail(step)?;
                Ok(self.pr(&format!("update-website-{v}")))
            }
            "docs" => {
                self.maybe_fail(step)?;
                Ok(self.pr(&format!("update-docs-{v}")))
            }
            other => panic!("unexpected hand-off {other}"),
        }
    }
}

fn req(v: &str, env: &str) -> payload::Request {
    payload::from_args(v, Some(env), None).unwrap()
}

fn opts(dir: &std::path::Path) -> RunOptions {
    RunOptions {
        dist: dir.to_path_buf(),
        dry_run: false,
    }
}

fn states(r: &valkey_release::release::ReleaseReport) -> Vec<(Step, StepState)> {
    r.steps.iter().map(|s| (s.step, s.state)).collect()
}

#[tokio::test]
async fn prod_runs_every_step_in_order_and_rerun_does_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    let r = req("9.1.1", "prod");
    let out = execute(&mut f, &r, &opts(d.path())).await.unwrap();
    assert!(out.error.is_none());
    assert!(out.report.ok);
    assert!(
        states(&out.report)
            .iter()
            .all(|(s, st)| *st == StepState::Done || *s == Step::Handoff("docs")),
        "{:?}",
        states(&out.report)
    );
    assert_eq!(out.report.to_merge.len(), 2);
    // 9.1.1 is not M.m.0: valkey-doc does not apply; the bundle dispatch does (>= 8.1.0).
    let docs = out.report.steps.iter().find(|s| s.step == Step::Handoff("docs")).unwrap();
    assert_eq!(docs.state, StepState::SkippedNotForEnvironment);
    assert_eq!(f.world.dispatches, vec!["9.1.1".to_string()]);
    // Every step that ran says how long it took (its value is not asserted); a step that did
    // not apply has no time, in the JSON or the text.
    for s in &out.report.steps {
        assert_eq!(s.seconds.is_some(), s.state == StepState::Done, "{s:?}");
    }
    let json = serde_json::to_value(&out.report).unwrap();
    assert!(json["steps"][0]["seconds"].is_number(), "{json}");
    let text = out.report.to_text();
    let build_line = text.lines().find(|l| l.trim_start().starts_with("build ")).unwrap();
    assert!(build_line.ends_with(" s)"), "{text}");
    let docs_line = text.lines().find(|l| l.trim_start().starts_with("docs ")).unwrap();
    assert!(!docs_line.ends_with(" s)"), "{text}");
    assert!(
        text.contains("A person must review and merge this pull request: https://github.example/pr/update-9.1.1"),
        "{text}"
    );
    assert!(d.path().join("release-state.json").is_file());

    // Second run: everything but the source check is already done and still true.
    let out2 = execute(&mut f, &r, &opts(d.path())).await.unwrap();
    assert!(out2.error.is_none());
    for (s, st) in states(&out2.report) {
        let want = if s == Step::Source {
            StepState::Done
        } else if s == Step::Handoff("docs") {
            StepState::SkippedNotForEnvironment
        } else {
            StepState::SkippedAlreadyDone
        };
        assert_eq!(st, want, "{s}");
    }
    for s in [
        Step::Build,
        Step::Sbom,
        Step::Sign,
        Step::Provenance,
        Step::Upload,
        Step::Verify,
        Step::Repositories,
        Step::Handoff("hashes"),
        Step::Handoff("container"),
        Step::Handoff("bundle"),
        Step::Handoff("website"),
    ] {
        assert_eq!(f.runs.get(&s), Some(&1), "{s} ran twice");
    }
    assert_eq!(
        (f.world.puts, f.world.hash_lines.len(), f.world.pr_creates, f.world.dispatches.len()),
        (3, 1, 2, 1)
    );
    // The PR links of the first run are still in the report of the second.
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.path().join("release-state.json")).unwrap()).unwrap();
    assert_eq!(state["runs"], 2);
    assert_eq!(state["steps"]["container"]["attempts"], 1);
}

#[tokio::test]
async fn dev_stops_after_verify_and_rc_gets_a_website_page_but_no_docs() {
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    let out = execute(&mut f, &req("9.1.1", "dev"), &opts(d.path())).await.unwrap();
    assert!(out.error.is_none());
    let st = states(&out.report);
    assert_eq!(&st[..8].iter().map(|x| x.1).collect::<Vec<_>>(), &[StepState::Done; 8]);
    assert!(st[8..].iter().all(|x| x.1 == StepState::SkippedNotForEnvironment));
    assert!(!f.runs.contains_key(&Step::Handoff("hashes")) && !f.probes.contains_key(&Step::Handoff("hashes")));

    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    let out = execute(&mut f, &req("9.1.0-rc2", "prod"), &opts(d.path())).await.unwrap();
    let st = states(&out.report);
    assert_eq!(st[9], (Step::Handoff("container"), StepState::Done));
    assert_eq!(st[10], (Step::Handoff("bundle"), StepState::Done));
    assert_eq!(st[11], (Step::Handoff("website"), StepState::Done));
    assert_eq!(st[12], (Step::Handoff("docs"), StepState::SkippedNotForEnvironment));
    assert_eq!(
        out.report.steps[12].reason.as_deref(),
        Some("valkey-doc is updated for a GA M.m.0 only, not 9.1.0-rc2")
    );
    // A GA M.m.0 runs every hand-off; 8.0.x gets no bundle dispatch.
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    let out = execute(&mut f, &req("9.2.0", "prod"), &opts(d.path())).await.unwrap();
    assert!(
        states(&out.report).iter().all(|x| x.1 == StepState::Done),
        "{:?}",
        states(&out.report)
    );
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    let out = execute(&mut f, &req("8.0.9", "prod"), &opts(d.path())).await.unwrap();
    assert_eq!(
        states(&out.report)[10],
        (Step::Handoff("bundle"), StepState::SkippedNotForEnvironment)
    );
    assert!(f.world.dispatches.is_empty());
}

#[tokio::test]
async fn dry_run_builds_only() {
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    let o = RunOptions {
        dist: d.path().to_path_buf(),
        dry_run: true,
    };
    let out = execute(&mut f, &req("9.1.1", "prod"), &o).await.unwrap();
    assert!(out.error.is_none());
    let st = states(&out.report);
    assert_eq!(st[1], (Step::Build, StepState::Done));
    // SBOMs, signature and provenance are written into dist in a dry run too.
    assert!(st[2..5].iter().all(|x| x.1 == StepState::Done), "{st:?}");
    assert!(
        st[5..]
            .iter()
            .all(|x| x.1 == StepState::SkippedDryRun || x.0 == Step::Handoff("docs")),
        "{st:?}"
    );
    assert_eq!(f.world.puts, 0);
    assert!(out.report.to_text().contains("nothing was uploaded or published"));
}

#[tokio::test]
async fn failure_at_each_step_then_rerun_completes_without_duplicates() {
    let all: Vec<Step> = Step::all().into_iter().filter(|s| *s != Step::Handoff("docs")).collect();
    for fail in all.iter().copied() {
        let d = tempfile::tempdir().unwrap();
        let mut f = Fake {
            fail_at: Some(fail),
            ..Default::default()
        };
        let r = req("9.1.1", "prod");
        let out = execute(&mut f, &r, &opts(d.path())).await.unwrap();
        let err = out.error.as_ref().expect("failure expected");
        assert_eq!(err.exit_code(), 3);
        let st = states(&out.report);
        let i = all.iter().position(|s| *s == fail).unwrap();
        assert_eq!(st[i].1, StepState::Failed, "{fail}: {st:?}");
        assert!(st[..i].iter().all(|x| x.1 == StepState::Done), "{fail}: {st:?}");
        assert!(st[i + 1..all.len()].iter().all(|x| x.1 == StepState::NotReached), "{fail}: {st:?}");
        assert!(!out.report.ok);
        assert_eq!(out.report.error.as_ref().unwrap().step, Some(fail));
        assert!(out.report.to_text().contains("Release NOT complete: step"), "{fail}");
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join("release-state.json")).unwrap()).unwrap();
        assert_eq!(state["steps"][fail.as_str()]["state"], "failed", "{fail}");

        // Re-run: completes.
        let out2 = execute(&mut f, &r, &opts(d.path())).await.unwrap();
        assert!(out2.error.is_none(), "{fail}: {:?}", out2.error.map(|e| e.to_string()));
        let st2 = states(&out2.report);
        for (j, (s, stt)) in st2.iter().enumerate().take(all.len()) {
            if j < i && *s != Step::Source {
                assert_eq!(*stt, StepState::SkippedAlreadyDone, "{fail}: {s}");
            }
            assert!(stt.is_done(), "{fail}: {s} {stt:?}");
        }
        // Nothing duplicated: the fake records every write it is asked for, so a second
        // call by the orchestrator would show here: each object put once, one hash line,
        // one PR per repository, one dispatch.
        assert_eq!(f.world.put_log, KEYS.to_vec(), "{fail}");
        assert_eq!(f.world.hash_lines.len(), 1, "{fail}");
        assert_eq!(f.world.pr_creates, 2, "{fail}: {:?}", f.world.prs);
        assert_eq!(f.world.dispatches.len(), 1, "{fail}");
        // Steps before the failing one ran once; the failing one twice, except where the
        // failure left its work in place (the container PR was opened: the probe sees it).
        for s in [
            Step::Build,
            Step::Sbom,
            Step::Sign,
            Step::Provenance,
            Step::Upload,
            Step::Repositories,
            Step::Handoff("hashes"),
            Step::Handoff("container"),
            Step::Handoff("bundle"),
            Step::Handoff("website"),
        ] {
            let n = *f.runs.get(&s).unwrap_or(&0);
            let want = if s == fail && s != Step::Handoff("container") { 2 } else { 1 };
            assert_eq!(n, want, "failing {fail}: {s} ran {n} times");
        }
        // Verify runs again whenever upload ran in the same run.
        let v = *f.runs.get(&Step::Verify).unwrap();
        let want_v = if fail == Step::Verify { 2 } else { 1 };
        assert_eq!(v, want_v, "failing {fail}: verify ran {v} times");
    }
}

#[tokio::test]
async fn state_of_another_version_is_refused_and_env_switch_keeps_build() {
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake::default();
    execute(&mut f, &req("9.1.1", "dev"), &opts(d.path())).await.unwrap();
    let e = match execute(&mut f, &req("9.1.2", "dev"), &opts(d.path())).await {
        Err(e) => e,
        Ok(_) => panic!("another version in the same dist must be refused"),
    };
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("release-state.json") && e.to_string().contains("9.1.1"),
        "{e}"
    );

    // dev then prod on the same dist: build is not redone, upload is probed again.
    let out = execute(&mut f, &req("9.1.1", "prod"), &opts(d.path())).await.unwrap();
    assert!(out.error.is_none());
    assert_eq!(f.runs.get(&Step::Build), Some(&1));
    assert_eq!(out.report.environment, Environment::Prod.to_string());
    assert_eq!(f.world.hash_lines.len(), 1);
}

#[tokio::test]
async fn json_report_has_every_step_and_links() {
    let d = tempfile::tempdir().unwrap();
    let mut f = Fake {
        fail_at: Some(Step::Handoff("hashes")),
        ..Default::default()
    };
    let out = execute(&mut f, &req("9.1.1", "prod"), &opts(d.path())).await.unwrap();
    let v = serde_json::to_value(&out.report).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 13);
    assert_eq!(v["steps"][8]["state"], "failed");
    assert_eq!(v["steps"][8]["label"], "failed");
    assert_eq!(v["steps"][9]["state"], "not_reached");
    assert_eq!(v["error"]["exit_code"], 3);
    assert_eq!(v["ok"], false);
    let md = out.report.to_markdown();
    assert!(md.contains("| hashes | failed |"), "{md}");
}
