//! What a builder container may use: memory, processes, CPUs, wall time, and who it runs as.
//!
//! Set per builder in targets.toml (`[builders.<name>.limits]`); what is not set is sized from
//! the engine's own resources (`GET /info`: memory and CPUs) and the number of containers that
//! run at once. Every container also gets `cap_drop: ALL`, `no-new-privileges` and no network.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The default per-target time limit.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(60 * 60);
/// The default process limit (a parallel Valkey build uses well under a hundred).
pub const DEFAULT_PIDS: i64 = 4096;
/// The least memory a default limit gives a container (one Valkey compile at -j2 peaks ~1 GB).
const MIN_DEFAULT_MEMORY: i64 = 2 << 30;
/// The default build user (the image needs no entry for it: the build only needs /build).
pub const DEFAULT_USER: &str = "1000:1000";

/// `[builders.<name>.limits]` in targets.toml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Memory (and memory+swap) of the container: `512m`, `4g`, or bytes. Default: the engine's
    /// memory / containers at once, at least 2g (at most the engine's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Processes (and threads) in the container. Default 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    /// CPUs the container may use (`1.5`). Default: all of the engine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Wall time of one build of a target, after which its container is killed and the target
    /// fails: `90s`, `45m`, `2h`. Default `60m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    /// `uid:gid` the build runs as; `"root"` for an image whose build needs it. Default `1000:1000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// The limits a container gets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    pub memory_bytes: i64,
    pub pids: i64,
    pub nano_cpus: i64,
    #[serde(serialize_with = "secs")]
    pub time_limit: Duration,
    /// `None`: root.
    pub user: Option<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// What the engine has (from `GET /info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineResources {
    pub memory_bytes: i64,
    pub cpus: i64,
}

/// `512m`, `4g`, `1024k`, `123` (bytes).
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: i64 = num.parse().ok()?;
    (n > 0).then(|| n.checked_mul(mult)).flatten()
}

/// `90s`, `45m`, `2h`, or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1u64),
        'm' => (&s[..s.len() - 1], 60),
        'h' => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    let n: u64 = num.parse().ok()?;
    (n > 0).then(|| Duration::from_secs(n.saturating_mul(mult)))
}

impl LimitsSpec {
    /// Check the values (targets.toml loading): a clear error naming the builder and field.
    pub fn validate(&self, builder: &str) -> Result<()> {
        let bad =
            |field: &str, v: &str, right: &str| Error::input(format!("targets.toml: [builders.{builder}.limits] {field} = {v}: {right}"));
        if let Some(m) = &self.memory {
            if parse_size(m).is_none_or(|b| b < 6 << 20) {
                return Err(bad(
                    "memory",
                    &format!("{m:?}"),
                    "expected a size of at least 6m such as \"512m\" or \"4g\"",
                ));
            }
        }
        if let Some(p) = self.pids {
            if p < 16 {
                return Err(bad("pids", &p.to_string(), "expected at least 16"));
            }
        }
        if let Some(c) = self.cpus {
            if !(c.is_finite() && c >= 0.01) {
                return Err(bad("cpus", &c.to_string(), "expected a number of CPUs such as 2 or 1.5"));
            }
        }
        if let Some(t) = &self.time_limit {
            if parse_duration(t).is_none() {
                return Err(bad(
                    "time_limit",
                    &format!("{t:?}"),
                    "expected a duration such as \"90s\", \"45m\" or \"2h\"",
                ));
            }
        }
        if let Some(u) = &self.user {
            let ok =
                u == "root" || u.split(':').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) && u.split(':').count() <= 2;
            if !ok {
                return Err(bad("user", &format!("{u:?}"), "expected \"uid:gid\" (numbers) or \"root\""));
            }
        }
        Ok(())
    }

    /// The limits of a container on an engine with `res`, `concurrent` containers at once.
    pub fn resolve(&self, res: EngineResources, concurrent: usize) -> Limits {
        let default_memory = (res.memory_bytes / concurrent.max(1) as i64).max(MIN_DEFAULT_MEMORY);
        let default_memory = if res.memory_bytes > 0 {
            default_memory.min(res.memory_bytes)
        } else {
            MIN_DEFAULT_MEMORY
        };
        let cpus = self.cpus.unwrap_or(res.cpus.max(1) as f64);
        Limits {
            memory_bytes: self.memory.as_deref().and_then(parse_size).unwrap_or(default_memory),
            pids: self.pids.unwrap_or(DEFAULT_PIDS),
            nano_cpus: (cpus * 1e9) as i64,
            time_limit: self.time_limit.as_deref().and_then(parse_duration).unwrap_or(DEFAULT_TIME_LIMIT),
            user: match self.user.as_deref() {
                Some("root") => None,
                Some(u) => Some(u.to_string()),
                None => Some(DEFAULT_USER.to_string()),
            },
        }
    }
}

impl Limits {
    /// One line for the target's log.
    pub fn describe(&self) -> String {
        format!(
            "limits: memory {} MiB, pids {}, cpus {:.2}, time {} s, user {}, cap_drop ALL, no-new-privileges, network none",
            self.memory_bytes >> 20,
            self.pids,
            self.nano_cpus as f64 / 1e9,
            self.time_limit.as_secs(),
            self.user.as_deref().unwrap_or("root")
        )
    }

    /// The numeric uid and gid of the build user (0 for root).
    pub fn uid_gid(&self) -> (u64, u64) {
        let Some(u) = &self.user else { return (0, 0) };
        let mut it = u.split(':').map(|p| p.parse::<u64>().unwrap_or(0));
        let uid = it.next().unwrap_or(0);
        (uid, it.next().unwrap_or(uid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1m"), None);
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0m"), None);
    }

    #[test]
    fn defaults_come_from_the_engine() {
        let res = EngineResources {
            memory_bytes: 16 << 30,
            cpus: 8,
        };
        let l = LimitsSpec::default().resolve(res, 2);
        assert_eq!(l.memory_bytes, 8 << 30);
        assert_eq!(l.nano_cpus, 8_000_000_000);
        assert_eq!(l.pids, DEFAULT_PIDS);
        assert_eq!(l.time_limit, DEFAULT_TIME_LIMIT);
        assert_eq!(l.user.as_deref(), Some(DEFAULT_USER));
        // small engines still give a build 2 GiB (but never more than they have)
        let small = EngineResources {
            memory_bytes: 3 << 30,
            cpus: 2,
        };
        assert_eq!(LimitsSpec::default().resolve(small, 4).memory_bytes, 2 << 30);
        let tiny = EngineResources {
            memory_bytes: 1 << 30,
            cpus: 1,
        };
        assert_eq!(LimitsSpec::default().resolve(tiny, 1).memory_bytes, 1 << 30);
        let set = LimitsSpec {
            memory: Some("256m".into()),
            pids: Some(64),
            cpus: Some(1.5),
            time_limit: Some("5s".into()),
            user: Some("root".into()),
        };
        let l = set.resolve(res, 2);
        assert_eq!(
            (l.memory_bytes, l.pids, l.nano_cpus, l.time_limit.as_secs(), l.user),
            (256 << 20, 64, 1_500_000_000, 5, None)
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = LimitsSpec {
            memory: Some("lots".into()),
            ..Default::default()
        }
        .validate("bookworm")
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("[builders.bookworm.limits] memory = \"lots\""), "{e}");
        for s in [
            LimitsSpec {
                pids: Some(1),
                ..Default::default()
            },
            LimitsSpec {
                time_limit: Some("soon".into()),
                ..Default::default()
            },
            LimitsSpec {
                user: Some("builder".into()),
                ..Default::default()
            },
            LimitsSpec {
                cpus: Some(0.0),
                ..Default::default()
            },
        ] {
            assert_eq!(s.validate("b").unwrap_err().exit_code(), 2);
        }
    }
}
