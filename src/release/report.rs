//! The final report of a release: every step with its state, every link, the PRs a person must
//! merge; as text, as JSON (`--json`), and as Markdown for `$GITHUB_STEP_SUMMARY`.

use super::payload::Request;
use super::{Link, Outcome, RunOptions, Stages, Step, StepState};
use crate::error::Error;
use crate::manifest::Manifest;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// One step's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: Step,
    pub state: StepState,
    /// `state` for people: `done`, `skipped (already done)`, ...
    pub label: String,
    /// Why a step was skipped as not applicable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to_merge: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handoff: Vec<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    /// Wall seconds the step took in this run (a step that ran, failed or was found done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

impl StepReport {
    pub fn new(step: Step, state: StepState, outcome: Option<Outcome>) -> StepReport {
        let o = outcome.unwrap_or_default();
        StepReport {
            step,
            state,
            label: state.label().to_string(),
            reason: None,
            summary: if o.summary.is_empty() { None } else { Some(o.summary) },
            error: None,
            links: o.links,
            to_merge: o.to_merge,
            handoff: o.handoff,
            data: o.data,
            seconds: None,
        }
    }

    /// This report with the wall time since `started` (rounded to 0.1 s).
    pub fn timed(mut self, started: std::time::Instant) -> StepReport {
        self.seconds = Some((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        self
    }
}

/// One artifact in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRow {
    pub target: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The error that ended a run.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    pub step: Option<Step>,
    pub exit_code: i32,
    pub message: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    pub version: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_sha: Option<String>,
    /// Where the request came from.
    pub origin: String,
    pub dry_run: bool,
    pub dist: String,
    /// True when every applicable step is done.
    pub ok: bool,
    pub steps: Vec<StepReport>,
    pub artifacts: Vec<ArtifactRow>,
    /// Every link of every step.
    pub links: Vec<Link>,
    /// Open pull requests a person must merge.
    pub to_merge: Vec<String>,
    /// Files written for review (apply them to the named repositories).
    pub handoff: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl ReleaseReport {
    pub(crate) fn build<S: Stages>(
        req: &Request,
        opts: &RunOptions,
        steps: Vec<StepReport>,
        stages: &S,
        failure: Option<&Error>,
    ) -> ReleaseReport {
        let artifacts = match Manifest::load_if_present(&opts.dist) {
            Ok(Some(m)) => m
                .artifacts
                .iter()
                .map(|a| ArtifactRow {
                    target: a.target.clone(),
                    file: a.file.clone(),
                    size: a.size,
                    sha256: a.sha256.clone(),
                    key: stages.artifact_key(&a.file),
                    url: stages.artifact_url(&a.file),
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut links = Vec::new();
        let mut to_merge = Vec::new();
        let mut handoff = Vec::new();
        for s in &steps {
            for l in &s.links {
                if !links.contains(l) {
                    links.push(l.clone());
                }
            }
            for u in &s.to_merge {
                if !to_merge.contains(u) {
                    to_merge.push(u.clone());
                }
            }
            for h in &s.handoff {
                if !handoff.contains(h) {
                    handoff.push(h.clone());
                }
            }
        }
        let ok = failure.is_none()
            && steps
                .iter()
                .all(|s| s.state != StepState::Failed && s.state != StepState::NotReached);
        let error = failure.map(|e| ErrorInfo {
            step: steps.iter().find(|s| s.state == StepState::Failed).map(|s| s.step),
            exit_code: e.exit_code(),
            message: e.to_string(),
        });
        ReleaseReport {
            version: req.version.to_string(),
            environment: req.environment.to_string(),
            source_sha: req.source_sha.clone(),
            origin: req.origin.clone(),
            dry_run: opts.dry_run,
            dist: opts.dist.display().to_string(),
            ok,
            steps,
            artifacts,
            links,
            to_merge,
            handoff,
            error,
        }
    }

    /// The report for people (stdout).
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let dry = if self.dry_run { ", dry run" } else { "" };
        o.push_str(&format!(
            "Release {} ({}{dry}) from {}\n",
            self.version, self.environment, self.origin
        ));
        if let Some(s) = &self.source_sha {
            o.push_str(&format!("  source_sha {s}\n"));
        }
        o.push('\n');
        o.push_str("Steps:\n");
        for s in &self.steps {
            let mut detail = s.summary.clone().unwrap_or_default();
            if let Some(r) = &s.reason {
                detail = r.clone();
            }
            if let Some(e) = &s.error {
                detail = e.clone();
            }
            if let (Some(t), StepState::Done | StepState::Failed) = (s.seconds, s.state) {
                detail = format!("{detail} ({t:.1} s)");
            }
            o.push_str(format!("  {:<12} {:<32} {}\n", s.step.as_str(), s.label, detail).trim_end());
            o.push('\n');
        }
        if !self.artifacts.is_empty() {
            o.push_str("\nArtifacts:\n");
            for a in &self.artifacts {
                o.push_str(&format!("  {}  {}  sha256 {}\n", a.file, human_size(a.size), a.sha256));
                if let Some(u) = a.url.as_ref().or(a.key.as_ref()) {
                    o.push_str(&format!("    {u}\n"));
                }
            }
        }
        let other_links: Vec<&Link> = self.links.iter().filter(|l| l.kind != "object" && l.kind != "file").collect();
        if !other_links.is_empty() {
            o.push_str("\nLinks:\n");
            for l in other_links {
                o.push_str(&format!("  {}: {}\n", l.label, l.url));
            }
        }
        if !self.handoff.is_empty() {
            o.push_str("\nFor review (nothing was pushed; a person applies these to their repositories):\n");
            for h in &self.handoff {
                o.push_str(&format!("  {h}\n"));
            }
        }
        for u in &self.to_merge {
            o.push_str(&format!("\nA person must review and merge this pull request: {u}\n"));
        }
        o.push('\n');
        match &self.error {
            None if self.dry_run => o.push_str("Dry run complete: built and checked; nothing was uploaded or published.\n"),
            None => o.push_str("Release complete.\n"),
            Some(e) => o.push_str(&format!(
                "Release NOT complete: step {} failed (exit {}). Fix the cause and run the same command again: \
                 finished steps are re-checked and skipped.\n",
                e.step.map(|s| s.as_str()).unwrap_or("?"),
                e.exit_code
            )),
        }
        o
    }

    /// The Markdown summary for `$GITHUB_STEP_SUMMARY`.
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let status = match &self.error {
            None if self.dry_run => "dry run complete",
            None => "complete",
            Some(_) => "NOT complete",
        };
        o.push_str(&format!("## Valkey release {} ({}): {status}\n\n", self.version, self.environment));
        if let Some(s) = &self.source_sha {
            o.push_str(&format!("Source commit: `{s}`\n\n"));
        }
        o.push_str("| step | state | detail |\n|---|---|---|\n");
        for s in &self.steps {
            let detail = s
                .error
                .clone()
                .or_else(|| s.reason.clone())
                .or_else(|| s.summary.clone())
                .unwrap_or_default();
            o.push_str(&format!("| {} | {} | {} |\n", s.step, s.label, md_cell(&detail)));
        }
        if !self.artifacts.is_empty() {
            o.push_str("\n| target | file | size | sha256 | key |\n|---|---|---|---|---|\n");
            for a in &self.artifacts {
                let file = match &a.url {
                    Some(u) if u.starts_with("http") => format!("[{}]({u})", a.file),
                    _ => format!("`{}`", a.file),
                };
                let key = a.key.as_deref().map(|k| format!("`{k}`")).unwrap_or_default();
                o.push_str(&format!(
                    "| {} | {file} | {} | `{}` | {key} |\n",
                    a.target,
                    human_size(a.size),
                    a.sha256
                ));
            }
        }
        let prs: Vec<&Link> = self.links.iter().filter(|l| l.kind == "pr" || l.kind == "commit").collect();
        if !prs.is_empty() {
            o.push('\n');
            for l in prs {
                o.push_str(&format!("- {}: {}\n", l.label, l.url));
            }
        }
        for h in &self.handoff {
            o.push_str(&format!("\n- For review (not pushed): `{h}`\n"));
        }
        for u in &self.to_merge {
            o.push_str(&format!("\n**A person must review and merge {u}**\n"));
        }
        if let Some(e) = &self.error {
            o.push_str(&format!(
                "\n**Failed:** {} (exit {}). Re-run the workflow: finished steps are skipped.\n",
                md_cell(&e.message),
                e.exit_code
            ));
        }
        o
    }

    /// Append the Markdown summary to `$GITHUB_STEP_SUMMARY` when that variable is set.
    pub fn write_step_summary(&self) -> crate::Result<bool> {
        let Some(p) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
            return Ok(false);
        };
        let p = Path::new(&p);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| Error::io(p, "open step summary", e))?;
        f.write_all(self.to_markdown().as_bytes())
            .map_err(|e| Error::io(p, "write step summary", e))?;
        Ok(true)
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `12.6 MB`, `830 B`.
pub fn human_size(n: u64) -> String {
    const U: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Is this run inside GitHub Actions?
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").map(|v| v == "true").unwrap_or(false)
}

/// Print each target's build log (`dist/logs/<target>.log`) to stderr, folded in
/// `::group::`/`::endgroup::` when running in GitHub Actions. Returns the targets printed.
pub fn print_log_groups(dist: &Path, targets: &[String]) -> Vec<String> {
    let mut done = Vec::new();
    if !in_github_actions() {
        return done;
    }
    let mut err = std::io::stderr().lock();
    for t in targets {
        let p = dist.join("logs").join(format!("{t}.log"));
        let Ok(text) = std::fs::read_to_string(&p) else { continue };
        let _ = writeln!(err, "::group::build {t}");
        // No log line may act as a workflow command (the runner trims leading spaces).
        let _ = write!(
            err,
            "{}",
            crate::farm::signal::actions_replay(&text, &crate::farm::signal::random_token())
        );
        let _ = writeln!(err, "::endgroup::");
        done.push(t.clone());
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sizes() {
        assert_eq!(human_size(830), "830 B");
        assert_eq!(human_size(12_600_000), "12.6 MB");
    }
}
