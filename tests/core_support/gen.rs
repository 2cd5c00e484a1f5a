//! Generated valkey-like build trees, for tests (small) and benchmarks (valkey-sized).
//! Shared by tests/core_*.rs (through core_support) and benches/{package,verify}.rs (by path).

use std::io::Write;
use std::path::Path;

/// Deterministic xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Bytes that compress about like an unstripped x86_64 valkey build (gzip -6 keeps ~43%):
/// runs of "code" drawn from a small vocabulary of instruction-like tokens with random
/// operands, interleaved with incompressible runs (constants, hashes, compressed sections).
pub fn binary_like(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut vocab: Vec<Vec<u8>> = Vec::new();
    let mut vr = Rng::new(42);
    for _ in 0..512 {
        let len = 2 + (vr.next() % 7) as usize;
        vocab.push((0..len).map(|_| vr.next() as u8).collect());
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    while out.len() < size {
        let run = 256 + (rng.next() % 4096) as usize;
        if rng.next() % 100 < 22 {
            for _ in 0..run {
                out.push(rng.next() as u8);
            }
        } else {
            let mut n = 0;
            while n < run {
                if out.len() > 8192 && rng.next() % 4 == 1 {
                    // A repeat of recent code (what LZ77 finds in real binaries).
                    let len = 8 + (rng.next() % 40) as usize;
                    let from = out.len() - 1 - (rng.next() % 8000) as usize;
                    for i in 0..len {
                        let b = out[from - len.min(from) + i];
                        out.push(b);
                    }
                    n += len;
                    continue;
                }
                let t = &vocab[(rng.next() % 64 + if rng.next() % 8 == 0 { rng.next() % 416 } else { 0 }) as usize % 512];
                out.extend_from_slice(t);
                n += t.len();
                if rng.next() % 4 == 0 {
                    out.push(rng.next() as u8);
                    n += 1;
                }
            }
        }
    }
    out.truncate(size);
    out
}

/// Write a valkey build tree into `dir`: `src/valkey-*` (server copies identical) and COPYING.
/// Sizes in bytes: server, cli, benchmark.
pub fn write_tree(dir: &Path, server: usize, cli: usize, benchmark: usize, seed: u64) -> std::io::Result<()> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src)?;
    let write = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let p = src.join(name);
        let mut f = std::fs::File::create(&p)?;
        f.write_all(bytes)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
    };
    let s = binary_like(server, seed);
    for n in ["valkey-server", "valkey-sentinel", "valkey-check-aof", "valkey-check-rdb"] {
        write(n, &s)?;
    }
    drop(s);
    write("valkey-cli", &binary_like(cli, seed + 1))?;
    write("valkey-benchmark", &binary_like(benchmark, seed + 2))?;
    std::fs::write(src.join("server.o"), b"object file: never packaged\n")?;
    std::fs::write(dir.join("COPYING"), COPYING)?;
    Ok(())
}

pub const COPYING: &str = "BSD 3-Clause License\n\nCopyright (c) 2024-present, Valkey contributors\nAll rights reserved.\n\n(Shortened copy for valkey-release tests and benchmarks.)\n";

pub const MB: usize = 1_000_000;
