//! Interrupts: Ctrl-C (SIGINT) and SIGTERM (what CI sends on cancel, and `docker stop`,
//! `kill`) both stop a run the same way: containers and partial files removed, exit 130.

/// Resolves when the process gets SIGINT or SIGTERM (and never when neither can be watched).
pub async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await
            }
        }
    }
}

/// Watch for an interrupt in the background and cancel `token` on it (saying so on stderr), so a
/// run removes its containers and partial files. Abort the handle when the run is over.
pub fn cancel_on_interrupt(token: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        interrupted().await;
        eprintln!("interrupted: removing this run's containers and partial files ...");
        token.cancel();
    })
}

/// A build log replayed into a GitHub Actions log: inside `::stop-commands::<token>` ...
/// `::<token>::` with a token no log line can guess, so no line of it (`::set-output`,
/// `::add-mask::`, `##[...]`, a premature `::endgroup::`) is taken as a workflow command.
pub fn actions_replay(log: &str, token: &str) -> String {
    let mut s = String::with_capacity(log.len() + 2 * token.len() + 40);
    s.push_str(&format!("::stop-commands::{token}\n"));
    for line in log.lines() {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(&format!("::{token}::\n"));
    s
}

/// A fresh random token for [`actions_replay`] (128 bits from the OS).
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    if getrandom(&mut b).is_err() {
        // Not guessable enough without the OS source; fall back to time and pid mixed by SHA-256.
        use sha2::Digest;
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        b.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes())[..16]);
    }
    hex::encode(b)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_logs_cannot_issue_workflow_commands() {
        let log = "cc -o x\n::endgroup::\n::add-mask::secret\n  ::set-output name=x::y\n##[error]fake\n";
        let token = random_token();
        assert_eq!(token.len(), 32);
        assert_ne!(token, random_token());
        let out = actions_replay(log, &token);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("::stop-commands::{token}"));
        assert_eq!(*lines.last().unwrap(), format!("::{token}::"));
        // every log line is inside, unchanged, and none of them is the resume line
        assert_eq!(&lines[1..lines.len() - 1], log.lines().collect::<Vec<_>>().as_slice());
        assert!(!log.contains(&token));
    }
}
