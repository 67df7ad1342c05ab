//! Writing the compressed heap shared by HPKG and HPKR files (`haiku-formats.md` §1.3; Haiku's
//! `PackageFileHeapWriter.cpp`): the uncompressed heap is cut into 64 KiB chunks, each stored
//! compressed only if that makes it strictly smaller (and never below 64 bytes), followed by the
//! chunk-size table. Chunks are compressed in parallel on the available cores; the output does not
//! depend on the number of threads.

use crate::haiku::parallel::map_in_order;

/// Uncompressed chunk size in bytes (`kChunkSize` in `PackageFileHeapAccessorBase.h`); readers
/// hard-wire it, so it is not a tunable.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Chunks smaller than this many bytes are stored raw (`kCompressionSizeThreshold`).
const COMPRESSION_SIZE_THRESHOLD: usize = 64;
/// zlib level: 9 = `B_HPKG_COMPRESSION_LEVEL_BEST` mapped to `B_ZLIB_COMPRESSION_BEST`.
const ZLIB_LEVEL: u32 = 9;
/// zstd level: Haiku maps its best level to `B_ZSTD_COMPRESSION_BEST`, 19 in the Haiku sources
/// we read (later ones say 22). Any level decodes the same; 19 keeps `hpkg create` fast.
const ZSTD_LEVEL: i32 = 19;

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

/// A finished heap, ready to be written right after the file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedHeap {
    /// The stored chunks followed by the chunk-size table (`heap_size_compressed` bytes).
    pub bytes: Vec<u8>,
    /// Size of the uncompressed heap (`heap_size_uncompressed`).
    pub uncompressed_size: u64,
}

/// Accumulates the uncompressed heap; [`HeapWriter::finish`] compresses it.
#[derive(Debug, Default)]
pub struct HeapWriter {
    compression: Compression,
    data: Vec<u8>,
}

impl HeapWriter {
    /// An empty heap that will be compressed with `compression`.
    pub fn new(compression: Compression) -> HeapWriter {
        HeapWriter {
            compression,
            data: Vec::new(),
        }
    }

    /// Appends bytes and returns their offset in the uncompressed heap.
    pub fn append(&mut self, bytes: &[u8]) -> u64 {
        let offset = self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        offset
    }

    /// Current size of the uncompressed heap.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Whether nothing has been appended yet.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Compresses the chunks (in parallel) and appends the chunk-size table.
    pub fn finish(self) -> std::io::Result<EncodedHeap> {
        let uncompressed_size = self.data.len() as u64;
        if self.compression == Compression::None {
            return Ok(EncodedHeap {
                bytes: self.data,
                uncompressed_size,
            });
        }
        let chunks: Vec<&[u8]> = self.data.chunks(CHUNK_SIZE).collect();
        let stored = compress_chunks(&chunks, self.compression)?;
        let table_len = chunks.len().saturating_sub(1) * 2;
        let stored_len: usize = stored.iter().map(|c| c.len(&chunks)).sum();
        let mut bytes = Vec::with_capacity(stored_len + table_len);
        for (index, chunk) in stored.iter().enumerate() {
            bytes.extend_from_slice(chunk.bytes(chunks[index]));
        }
        // One u16 big-endian `stored size - 1` per chunk except the last, whose size is implied.
        for chunk in stored.iter().take(chunks.len().saturating_sub(1)) {
            let size = chunk.len(&chunks);
            bytes.extend_from_slice(&((size - 1) as u16).to_be_bytes());
        }
        Ok(EncodedHeap {
            bytes,
            uncompressed_size,
        })
    }
}

/// How one chunk is stored.
enum StoredChunk {
    /// Compressed bytes (strictly smaller than the chunk).
    Compressed(Vec<u8>),
    /// The chunk itself, at this index.
    Raw(usize),
}

impl StoredChunk {
    fn len(&self, chunks: &[&[u8]]) -> usize {
        match self {
            StoredChunk::Compressed(bytes) => bytes.len(),
            StoredChunk::Raw(index) => chunks[*index].len(),
        }
    }

    fn bytes<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            StoredChunk::Compressed(bytes) => bytes,
            StoredChunk::Raw(_) => raw,
        }
    }
}

/// Compresses every chunk on all cores; results keep chunk order.
fn compress_chunks(chunks: &[&[u8]], compression: Compression) -> std::io::Result<Vec<StoredChunk>> {
    map_in_order(chunks, |index, chunk| store_chunk(index, chunk, compression))
        .into_iter()
        .collect()
}

/// Compresses one chunk and keeps the result only if strictly smaller.
fn store_chunk(index: usize, chunk: &[u8], compression: Compression) -> std::io::Result<StoredChunk> {
    if chunk.len() < COMPRESSION_SIZE_THRESHOLD {
        return Ok(StoredChunk::Raw(index));
    }
    let compressed = match compression {
        Compression::None => return Ok(StoredChunk::Raw(index)),
        Compression::Zlib => {
            use std::io::Write;
            let mut encoder = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(chunk.len()),
                flate2::Compression::new(ZLIB_LEVEL),
            );
            encoder.write_all(chunk)?;
            encoder.finish()?
        }
        Compression::Zstd => zstd::bulk::compress(chunk, ZSTD_LEVEL)?,
    };
    Ok(if compressed.len() < chunk.len() {
        StoredChunk::Compressed(compressed)
    } else {
        StoredChunk::Raw(index)
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
}
