//! Writing the compressed heap shared by HPKG and HPKR files (`haiku-formats.md` §1.3; Haiku's
//! `PackageFileHeapWriter.cpp`): the uncompressed heap is cut into 64 KiB chunks, each stored
//! compressed only if that makes it strictly smaller (and never below 64 bytes), followed by the
//! chunk-size table.
//!
//! The heap streams into a sink (the package file, or memory for the small HPKR index): appended
//! bytes are held only until a batch of [`BATCH_CHUNKS`] full chunks is ready, which is compressed in
//! parallel on the available cores and written out. Memory is a batch plus two bytes per chunk for
//! the table, whatever the heap's size; the output does not depend on the number of threads.

use std::io::{Read, Write};

use crate::haiku::parallel::map_in_order;

/// Uncompressed chunk size in bytes (`kChunkSize` in `PackageFileHeapAccessorBase.h`); readers
/// hard-wire it, so it is not a tunable.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Chunks smaller than this many bytes are stored raw (`kCompressionSizeThreshold`).
const COMPRESSION_SIZE_THRESHOLD: usize = 64;
/// Default zlib level: 9 = `B_HPKG_COMPRESSION_LEVEL_BEST` mapped to `B_ZLIB_COMPRESSION_BEST`, what
/// Haiku's writers use. Any level decodes the same; [`HeapWriter::with_zlib_level`] picks another.
pub const ZLIB_LEVEL_BEST: u32 = 9;
/// zstd level: Haiku maps its best level to `B_ZSTD_COMPRESSION_BEST`, 19 in the Haiku sources
/// we read (later ones say 22). Any level decodes the same; 19 keeps `hpkg create` fast.
const ZSTD_LEVEL: i32 = 19;
/// Full chunks compressed per batch: enough work to keep every core busy, while a batch (2 MiB
/// uncompressed, at most as much compressed) keeps `hpkg create`'s memory flat.
pub const BATCH_CHUNKS: usize = 32;
/// Bytes in a batch.
const BATCH_BYTES: usize = BATCH_CHUNKS * CHUNK_SIZE;

/// Heap compression (`B_HPKG_COMPRESSION_*`, the header's `heap_compression` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Chunks stored raw, no chunk-size table (`B_HPKG_COMPRESSION_NONE` = 0).
    None,
    /// zlib streams, level 9 (`B_HPKG_COMPRESSION_ZLIB` = 1); Haiku's default and HPKR's only choice.
    #[default]
    Zlib,
    /// zstd frames (`B_HPKG_COMPRESSION_ZSTD` = 2).
    Zstd,
}

impl Compression {
    /// The header value.
    pub fn code(self) -> u16 {
        match self {
            Compression::None => 0,
            Compression::Zlib => 1,
            Compression::Zstd => 2,
        }
    }
}

/// A finished heap held in memory, ready to be written right after the file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedHeap {
    /// The stored chunks followed by the chunk-size table (`heap_size_compressed` bytes).
    pub bytes: Vec<u8>,
    /// Size of the uncompressed heap (`heap_size_uncompressed`).
    pub uncompressed_size: u64,
}

/// The sizes a finished heap records in the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapSizes {
    /// Bytes written to the sink: stored chunks and table (`heap_size_compressed`).
    pub compressed: u64,
    /// Size of the uncompressed heap (`heap_size_uncompressed`).
    pub uncompressed: u64,
}

/// Streams the heap into `W`; [`HeapWriter::finish_into`] writes the rest and the chunk table.
#[derive(Debug)]
pub struct HeapWriter<W: Write = Vec<u8>> {
    /// How chunks are stored.
    compression: Compression,
    /// The zlib level (0–9) when `compression` is [`Compression::Zlib`].
    zlib_level: u32,
    /// Where stored chunks go.
    sink: W,
    /// Appended bytes not yet written: less than a batch once `append*` returns.
    pending: Vec<u8>,
    /// Bytes appended so far: the uncompressed heap size, and the next append's offset.
    uncompressed: u64,
    /// Stored size of every chunk written so far, for the table.
    stored_sizes: Vec<u32>,
    /// Bytes written to the sink.
    written: u64,
    /// The first failure of a write from [`HeapWriter::append`], which stays infallible for
    /// in-memory callers; reported by `finish_into`.
    error: Option<std::io::Error>,
}

impl HeapWriter<Vec<u8>> {
    /// An empty heap held in memory that will be compressed with `compression`.
    pub fn new(compression: Compression) -> HeapWriter<Vec<u8>> {
        HeapWriter::with_sink(compression, Vec::new())
    }

    /// Compresses what is pending and appends the chunk-size table.
    pub fn finish(self) -> std::io::Result<EncodedHeap> {
        let (bytes, sizes) = self.finish_into()?;
        Ok(EncodedHeap {
            bytes,
            uncompressed_size: sizes.uncompressed,
        })
    }
}

impl<W: Write> HeapWriter<W> {
    /// An empty heap written to `sink` as it fills.
    pub fn with_sink(compression: Compression, sink: W) -> HeapWriter<W> {
        HeapWriter {
            compression,
            zlib_level: ZLIB_LEVEL_BEST,
            sink,
            pending: Vec::new(),
            uncompressed: 0,
            stored_sizes: Vec::new(),
            written: 0,
            error: None,
        }
    }

    /// Compresses zlib chunks at `level` (clamped to 0–9) instead of [`ZLIB_LEVEL_BEST`]: every
    /// level is a valid zlib stream for Haiku's reader, so this trades file size for CPU time.
    pub fn with_zlib_level(mut self, level: u32) -> Self {
        self.zlib_level = level.min(9);
        self
    }

    /// Appends bytes and returns their offset in the uncompressed heap.
    pub fn append(&mut self, bytes: &[u8]) -> u64 {
        let offset = self.uncompressed;
        self.uncompressed += bytes.len() as u64;
        for piece in bytes.chunks(BATCH_BYTES) {
            self.pending.extend_from_slice(piece);
            if self.pending.len() >= BATCH_BYTES {
                if let Err(e) = self.write_full_chunks() {
                    self.error.get_or_insert(e);
                }
            }
        }
        offset
    }

    /// Appends exactly `length` bytes read from `reader` (a file's contents, streamed a batch at a
    /// time) and returns their offset. A reader that ends early is an `UnexpectedEof` error.
    pub fn append_reader(&mut self, mut reader: impl Read, length: u64) -> std::io::Result<u64> {
        let offset = self.uncompressed;
        let mut remaining = length;
        while remaining > 0 {
            let start = self.pending.len();
            let take = (BATCH_BYTES - start).min(usize::try_from(remaining).unwrap_or(usize::MAX));
            self.pending.resize(start + take, 0);
            reader.read_exact(&mut self.pending[start..])?;
            self.uncompressed += take as u64;
            remaining -= take as u64;
            if self.pending.len() >= BATCH_BYTES {
                self.write_full_chunks()?;
            }
        }
        Ok(offset)
    }

    /// Current size of the uncompressed heap.
    pub fn len(&self) -> u64 {
        self.uncompressed
    }

    /// Whether nothing has been appended yet.
    pub fn is_empty(&self) -> bool {
        self.uncompressed == 0
    }

    /// Writes what is pending (the last chunk may be short), then the chunk-size table; returns the
    /// sink and the sizes for the header.
    pub fn finish_into(mut self) -> std::io::Result<(W, HeapSizes)> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let rest = std::mem::take(&mut self.pending);
        self.write_chunks(&rest)?;
        // One u16 big-endian `stored size - 1` per chunk except the last, whose size is implied.
        if self.compression != Compression::None {
            let count = self.stored_sizes.len().saturating_sub(1);
            let mut table = Vec::with_capacity(count * 2);
            for size in &self.stored_sizes[..count] {
                table.extend_from_slice(&((size - 1) as u16).to_be_bytes());
            }
            self.sink.write_all(&table)?;
            self.written += table.len() as u64;
        }
        Ok((
            self.sink,
            HeapSizes {
                compressed: self.written,
                uncompressed: self.uncompressed,
            },
        ))
    }

    /// Writes the whole chunks of `pending`, keeping the short tail.
    fn write_full_chunks(&mut self) -> std::io::Result<()> {
        let full = self.pending.len() - self.pending.len() % CHUNK_SIZE;
        let batch: Vec<u8> = self.pending.drain(..full).collect();
        self.write_chunks(&batch)
    }

    /// Stores `data` chunk by chunk (compressed in parallel) into the sink.
    fn write_chunks(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.compression == Compression::None {
            self.sink.write_all(data)?;
            self.written += data.len() as u64;
            return Ok(());
        }
        let chunks: Vec<&[u8]> = data.chunks(CHUNK_SIZE).collect();
        for (index, stored) in compress_chunks(&chunks, self.compression, self.zlib_level)?
            .iter()
            .enumerate()
        {
            let bytes = stored.bytes(chunks[index]);
            self.sink.write_all(bytes)?;
            self.written += bytes.len() as u64;
            // A stored chunk is at most CHUNK_SIZE bytes, so it fits a u32 (and the table's u16).
            self.stored_sizes.push(bytes.len() as u32);
        }
        Ok(())
    }
}

/// How one chunk is stored.
enum StoredChunk {
    /// Compressed bytes (strictly smaller than the chunk).
    Compressed(Vec<u8>),
    /// The chunk itself.
    Raw,
}

impl StoredChunk {
    fn bytes<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            StoredChunk::Compressed(bytes) => bytes,
            StoredChunk::Raw => raw,
        }
    }
}

/// Compresses every chunk on all cores; results keep chunk order.
fn compress_chunks(
    chunks: &[&[u8]],
    compression: Compression,
    zlib_level: u32,
) -> std::io::Result<Vec<StoredChunk>> {
    map_in_order(chunks, |_, chunk| store_chunk(chunk, compression, zlib_level))
        .into_iter()
        .collect()
}

/// Compresses one chunk and keeps the result only if strictly smaller.
fn store_chunk(chunk: &[u8], compression: Compression, zlib_level: u32) -> std::io::Result<StoredChunk> {
    if chunk.len() < COMPRESSION_SIZE_THRESHOLD {
        return Ok(StoredChunk::Raw);
    }
    let compressed = match compression {
        Compression::None => return Ok(StoredChunk::Raw),
        Compression::Zlib => {
            let mut encoder = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(chunk.len()),
                flate2::Compression::new(zlib_level),
            );
            encoder.write_all(chunk)?;
            encoder.finish()?
        }
        Compression::Zstd => zstd::bulk::compress(chunk, ZSTD_LEVEL)?,
    };
    Ok(if compressed.len() < chunk.len() {
        StoredChunk::Compressed(compressed)
    } else {
        StoredChunk::Raw
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a heap the way Haiku's reader does, to check the writer independently.
    fn decode(heap: &EncodedHeap, compression: Compression) -> Vec<u8> {
        let size = heap.uncompressed_size as usize;
        if compression == Compression::None {
            return heap.bytes.clone();
        }
        let count = size.div_ceil(CHUNK_SIZE);
        let table_len = count.saturating_sub(1) * 2;
        let (data, table) = heap.bytes.split_at(heap.bytes.len() - table_len);
        let mut sizes: Vec<usize> = table
            .chunks(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])) + 1)
            .collect();
        sizes.push(data.len() - sizes.iter().sum::<usize>());
        let mut out = Vec::new();
        let mut at = 0;
        for (i, stored) in sizes.into_iter().enumerate() {
            let chunk = &data[at..at + stored];
            at += stored;
            let expected = CHUNK_SIZE.min(size - i * CHUNK_SIZE);
            if stored == expected {
                out.extend_from_slice(chunk);
            } else if compression == Compression::Zlib {
                use std::io::Read;
                flate2::read::ZlibDecoder::new(chunk)
                    .read_to_end(&mut out)
                    .unwrap();
            } else {
                out.extend(zstd::bulk::decompress(chunk, expected).unwrap());
            }
        }
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        // Compressible text with an incompressible stretch in the middle.
        let mut rng = fastrand::Rng::with_seed(7);
        (0..len)
            .map(|i| {
                if (len / 3..len / 2).contains(&i) {
                    rng.u8(..)
                } else {
                    b"hello heap "[i % 11]
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_for_every_compression() {
        for compression in [Compression::None, Compression::Zlib, Compression::Zstd] {
            for len in [
                0,
                10,
                63,
                64,
                1000,
                CHUNK_SIZE,
                CHUNK_SIZE + 1,
                5 * CHUNK_SIZE + 17,
            ] {
                let data = sample(len);
                let mut writer = HeapWriter::new(compression);
                assert_eq!(writer.append(&data), 0);
                let heap = writer.finish().unwrap();
                assert_eq!(heap.uncompressed_size, len as u64);
                assert_eq!(decode(&heap, compression), data, "{compression:?} {len}");
            }
        }
    }

    #[test]
    fn streaming_in_pieces_across_batches_writes_the_same_heap() {
        let data = sample(2 * BATCH_BYTES + CHUNK_SIZE / 2 + 5);
        for compression in [Compression::None, Compression::Zstd] {
            let mut whole = HeapWriter::new(compression);
            whole.append(&data);
            let whole = whole.finish().unwrap();
            let mut pieces = HeapWriter::new(compression);
            let cut = [0, 7, CHUNK_SIZE + 3, BATCH_BYTES + 11, data.len()];
            for (i, range) in cut.windows(2).enumerate() {
                let piece = &data[range[0]..range[1]];
                let offset = if i % 2 == 0 {
                    pieces.append_reader(piece, piece.len() as u64).unwrap()
                } else {
                    pieces.append(piece)
                };
                assert_eq!(offset, range[0] as u64);
            }
            let pieces = pieces.finish().unwrap();
            assert_eq!(pieces, whole, "{compression:?}");
            assert_eq!(decode(&pieces, compression), data, "{compression:?}");
        }
    }

    #[test]
    fn a_reader_shorter_than_announced_is_an_error() {
        let mut writer = HeapWriter::new(Compression::Zlib);
        let err = writer.append_reader(&b"short"[..], 6).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn small_and_incompressible_chunks_stay_raw() {
        let mut writer = HeapWriter::new(Compression::Zlib);
        writer.append(&[b'a'; 63]);
        let heap = writer.finish().unwrap();
        assert_eq!(heap.bytes, [b'a'; 63]);
        let random: Vec<u8> = {
            let mut rng = fastrand::Rng::with_seed(1);
            (0..CHUNK_SIZE + 100).map(|_| rng.u8(..)).collect()
        };
        let mut writer = HeapWriter::new(Compression::Zlib);
        writer.append(&random);
        let heap = writer.finish().unwrap();
        // Both chunks raw: the data, then one table entry of 65535.
        assert_eq!(&heap.bytes[..random.len()], random.as_slice());
        assert_eq!(&heap.bytes[random.len()..], [0xff, 0xff]);
    }

    #[test]
    fn zlib_chunks_are_zlib_streams_at_level_9() {
        let mut writer = HeapWriter::new(Compression::Zlib);
        writer.append(&sample(1000));
        let heap = writer.finish().unwrap();
        assert_eq!(&heap.bytes[..2], [0x78, 0xda]);
    }

    #[test]
    fn another_zlib_level_round_trips_and_says_so_in_the_stream_header() {
        let data = sample(3 * CHUNK_SIZE + 5);
        let mut writer = HeapWriter::new(Compression::Zlib).with_zlib_level(1);
        writer.append(&data);
        let heap = writer.finish().unwrap();
        // FLEVEL 0 (fastest) in the zlib header: 0x78 0x01.
        assert_eq!(&heap.bytes[..2], [0x78, 0x01]);
        assert_eq!(decode(&heap, Compression::Zlib), data);
    }
}
