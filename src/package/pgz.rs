//! Parallel, deterministic gzip writer.
//!
//! The input is cut into fixed 1 MiB chunks (by byte offset only); each chunk is deflated
//! as an independent raw deflate stream (fresh compressor, sync-flushed to a byte boundary,
//! the last one finished), and the pieces are concatenated behind one gzip header, with the
//! CRC-32 and size of the whole input in the trailer. The output is a single ordinary gzip
//! member (any gunzip reads it) and depends only on the input bytes, the level and the chunk
//! size — never on the number of threads or the machine: the compressor is miniz_oxide
//! (pure Rust, no CPU-dependent code paths).
//!
//! Memory is bounded: at most [`BATCH`] chunks are held at once.

use std::io::{self, Write};

/// Bytes of input per independently compressed chunk. Changing it changes the output.
pub const CHUNK: usize = 1 << 20;
/// Chunks compressed in parallel per batch (does not affect the output).
pub const BATCH: usize = 8;

/// A gzip writer compressing chunks on all cores (rayon).
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    level: u32,
    os: u8,
    buf: Vec<u8>,
    pending: Vec<Vec<u8>>,
    crc: flate2::Crc,
    header_done: bool,
}

impl<W: Write> ParGzWriter<W> {
    /// `level` 0-9; `os` is the header's OS byte. The header has mtime 0 and no name.
    pub fn new(inner: W, level: u32, os: u8) -> Self {
        ParGzWriter {
            inner: Some(inner),
            level,
            os,
            buf: Vec::with_capacity(CHUNK),
            pending: Vec::new(),
            crc: flate2::Crc::new(),
            header_done: false,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_done {
            let xfl = if self.level >= 9 {
                2
            } else if self.level <= 1 {
                4
            } else {
                0
            };
            let h = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, self.os];
            self.inner_mut().write_all(&h)?;
            self.header_done = true;
        }
        Ok(())
    }

    fn inner_mut(&mut self) -> &mut W {
        self.inner.as_mut().expect("ParGzWriter used after finish")
    }

    /// Compress the pending chunks in parallel and write them in order.
    fn flush_batch(&mut self, last: bool) -> io::Result<()> {
        use rayon::prelude::*;
        self.header()?;
        let chunks = std::mem::take(&mut self.pending);
        let n = chunks.len();
        let level = self.level;
        let out: Vec<io::Result<Vec<u8>>> = chunks
            .par_iter()
            .enumerate()
            .map(|(i, c)| deflate_chunk(c, level, last && i + 1 == n))
            .collect();
        for piece in out {
            let piece = piece?;
            self.inner_mut().write_all(&piece)?;
        }
        Ok(())
    }

    /// Write the last chunk and the trailer; return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        self.pending.push(rest);
        self.flush_batch(true)?;
        let crc = self.crc.sum();
        let size = self.crc.amount();
        let mut w = self.inner.take().expect("finish once");
        w.write_all(&crc.to_le_bytes())?;
        w.write_all(&size.to_le_bytes())?;
        Ok(w)
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        if self.buf.len() == CHUNK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.pending.push(full);
            if self.pending.len() == BATCH {
                self.flush_batch(false)?;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Raw-deflate `data` with a fresh compressor: sync-flushed (byte-aligned, not final) or finished.
fn deflate_chunk(data: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new(Compression::new(level), false);
    let mut out: Vec<u8> = Vec::with_capacity(data.len() / 2 + 4096);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&data[consumed..], &mut out, flush).map_err(io::Error::other)?;
        if last {
            if status == Status::StreamEnd {
                break;
            }
        } else if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            // All input taken and the flush finished without filling the buffer.
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), 6, 3);
        for piece in data.chunks(7919) {
            w.write_all(piece).unwrap();
        }
        let gz = w.finish().unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        gz
    }

    #[test]
    fn round_trips_at_chunk_edges() {
        for n in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, BATCH * CHUNK, BATCH * CHUNK + 5] {
            let data: Vec<u8> = (0..n).map(|i| ((i * 31) ^ (i >> 7)) as u8).collect();
            let gz = roundtrip(&data);
            assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
            assert_eq!(gz[9], 3);
        }
    }

    #[test]
    fn same_bytes_whatever_the_write_sizes() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect();
        let a = roundtrip(&data);
        let mut w = ParGzWriter::new(Vec::new(), 6, 3);
        w.write_all(&data).unwrap();
        assert_eq!(w.finish().unwrap(), a);
    }
}
