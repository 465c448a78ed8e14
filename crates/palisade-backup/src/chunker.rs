//! Content-defined chunking (FastCDC 2020) over a stream pushed in pieces.
//!
//! Boundaries depend on content, not offsets, so inserting a row early in a table moves only the chunks around
//! it: the rest keep their ids and are not stored again.

use fastcdc::v2020::FastCDC;

pub const MIN_SIZE: u32 = 64 * 1024;
pub const AVG_SIZE: u32 = 256 * 1024;
pub const MAX_SIZE: u32 = 1024 * 1024;

/// Cuts as soon as this much is buffered; the last (unfinished) piece is carried over.
const WINDOW: usize = 4 * MAX_SIZE as usize;

/// Buffers pushed bytes and yields finished chunks.
#[derive(Debug, Default)]
pub struct Chunker {
    buf: Vec<u8>,
}

impl Chunker {
    #[must_use]
    pub fn new() -> Chunker {
        Chunker { buf: Vec::with_capacity(WINDOW + MAX_SIZE as usize) }
    }

    /// Appends `data`; returns the chunks that are now final.
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(data);
        if self.buf.len() < WINDOW { Vec::new() } else { self.cut(Tail::Hold) }
    }

    /// Ends the stream and returns the remaining chunks.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.cut(Tail::Emit)
    }

    fn cut(&mut self, tail: Tail) -> Vec<Vec<u8>> {
        let cuts: Vec<(usize, usize)> =
            FastCDC::new(&self.buf, MIN_SIZE as usize, AVG_SIZE as usize, MAX_SIZE as usize)
                .map(|c| (c.offset, c.length))
                .collect();
        // The final piece ends where the buffer ends, not where the content says: keep it for the next push.
        let keep_from = if tail == Tail::Emit { self.buf.len() } else { cuts.last().map_or(0, |&(offset, _)| offset) };
        let mut out = Vec::with_capacity(cuts.len());
        for (offset, length) in cuts {
            if offset >= keep_from {
                break;
            }
            if let Some(piece) = self.buf.get(offset..offset + length) {
                out.push(piece.to_vec());
            }
        }
        self.buf.drain(..keep_from);
        out
    }
}

/// What to do with the piece after the last content-defined cut: while more data may come it ends only where the
/// buffer ends, so it is held for the next push; at the end of the stream it is emitted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    Hold,
    Emit,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x & 0xff) as u8
            })
            .collect()
    }

    fn chunk_all(data: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut c = Chunker::new();
        let mut out = Vec::new();
        for p in data.chunks(piece) {
            out.extend(c.push(p));
        }
        out.extend(c.finish());
        out
    }

    #[test]
    fn pushing_in_pieces_cuts_where_one_pass_does() {
        let data = pseudo_random(9 * 1024 * 1024 + 123, 7);
        let whole = chunk_all(&data, data.len());
        let pieces = chunk_all(&data, 77_777);
        assert_eq!(whole, pieces);
        assert_eq!(whole.concat(), data);
        assert!(whole.len() > 8, "{} chunks", whole.len());
        assert!(whole.iter().all(|c| c.len() <= MAX_SIZE as usize));
    }

    #[test]
    fn an_insert_changes_only_nearby_chunks() {
        let data = pseudo_random(8 * 1024 * 1024, 11);
        let mut edited = data.clone();
        edited.splice(4_000_000..4_000_000, b"a new row in the middle".iter().copied());
        let a = chunk_all(&data, 100_000);
        let b = chunk_all(&edited, 100_000);
        let same = b.iter().filter(|c| a.contains(c)).count();
        assert!(same + 2 >= b.len(), "{same} of {} chunks unchanged", b.len());
    }

    #[test]
    fn an_empty_stream_has_no_chunks() {
        assert!(Chunker::new().finish().is_empty());
    }
}
