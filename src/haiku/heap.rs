//! The heap reader: random access to any byte range of the uncompressed heap of an HPKG/HPKR file,
//! decompressing only the 64 KiB chunks that range touches (`PackageFileHeapReader.cpp`).
//!
//! The heap starts at `header_size`; with compression its stored chunks are followed by a table of
//! big-endian u16 `stored_size - 1`, one per chunk except the last. A chunk whose stored size equals
//! its uncompressed size is raw; any other is a zlib stream or a zstd frame. Facts: `haiku-formats.md`
//! §1.3.

use std::borrow::Cow;

use crate::haiku::format_error::{FormatError, FormatErrorKind, FormatResult};
use crate::haiku::header::{CommonHeader, COMPRESSION_NONE, COMPRESSION_ZLIB, COMPRESSION_ZSTD};

/// Uncompressed chunk size in bytes; hard-wired in readers, whatever the header says
/// (`kChunkSize` in `PackageFileHeapAccessorBase.h`).
pub const HEAP_CHUNK_SIZE: u64 = 64 * 1024;

/// Where the stored heap is read from: a file held in memory, or an open file read with positional
/// reads (so a reader of a large package holds only the chunks it decompresses).
pub trait HeapSource {
    /// `length` bytes at file offset `offset`. The header checks put the whole heap inside the file,
    /// so a short read means the file changed while it was read.
    fn bytes_at(&self, offset: u64, length: u64) -> FormatResult<Cow<'_, [u8]>>;
}

impl HeapSource for [u8] {
    fn bytes_at(&self, offset: u64, length: u64) -> FormatResult<Cow<'_, [u8]>> {
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(offset.saturating_add(length)).ok())
            .filter(|(_, end)| *end <= self.len());
        match range {
            Some((start, end)) => Ok(Cow::Borrowed(&self[start..end])),
            None => Err(truncated(offset, length)),
        }
    }
}

impl HeapSource for Vec<u8> {
    fn bytes_at(&self, offset: u64, length: u64) -> FormatResult<Cow<'_, [u8]>> {
        self.as_slice().bytes_at(offset, length)
    }
}

impl HeapSource for std::fs::File {
    fn bytes_at(&self, offset: u64, length: u64) -> FormatResult<Cow<'_, [u8]>> {
        use std::os::unix::fs::FileExt;
        // Every caller bounds `length` by a chunk (64 KiB) or a size-checked section.
        let mut buf = vec![0u8; usize::try_from(length).map_err(|_| truncated(offset, length))?];
        self.read_exact_at(&mut buf, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => truncated(offset, length),
            _ => FormatError::at_file(offset, FormatErrorKind::Io(e.to_string())),
        })?;
        Ok(Cow::Owned(buf))
    }
}

fn truncated(offset: u64, length: u64) -> FormatError {
    FormatError::at_file(
        offset,
        FormatErrorKind::Truncated(format!(
            "{length} bytes at offset {offset} are past the end of the file (was it changed while read?)"
        )),
    )
}

/// Where one chunk is stored.
#[derive(Debug, Clone, Copy)]
struct StoredChunk {
    /// File offset of the chunk's first byte.
    file_offset: u64,
    /// Stored (possibly compressed) size in bytes; at most the chunk's uncompressed size.
    stored_size: u64,
}

/// Random access to the uncompressed heap. Holds only the chunk layout; the file bytes are passed to
/// each read, so one reader serves a borrowed or an owned buffer alike.
#[derive(Debug, Clone)]
pub struct HeapReader {
    /// Heap compression (`COMPRESSION_*`).
    compression: u16,
    /// File offset of the heap.
    heap_offset: u64,
    /// Uncompressed heap size.
    uncompressed_size: u64,
    /// Layout of every chunk (empty for an uncompressed heap, where offsets map one to one).
    chunks: Vec<StoredChunk>,
}

fn inconsistent(offset: u64, message: String) -> FormatError {
    FormatError::at_file(offset, FormatErrorKind::InconsistentSize(message))
}

thread_local! {
    /// This thread's zlib inflater, reused for every chunk (see `decompress_chunk`).
    static INFLATER: std::cell::RefCell<flate2::Decompress> =
        std::cell::RefCell::new(flate2::Decompress::new(true));
}

impl HeapReader {
    /// Validates the heap layout of `file` described by `header` (sizes, chunk-size table).
    pub fn new<S: HeapSource + ?Sized>(file: &S, header: &CommonHeader) -> FormatResult<HeapReader> {
        let heap_offset = u64::from(header.header_size);
        let compressed = header.heap_size_compressed;
        let uncompressed = header.heap_size_uncompressed;
        let mut reader = HeapReader {
            compression: header.heap_compression,
            heap_offset,
            uncompressed_size: uncompressed,
            chunks: Vec::new(),
        };
        if header.heap_compression == COMPRESSION_NONE || uncompressed == 0 {
            if compressed != uncompressed {
                return Err(inconsistent(
                    24,
                    format!("heap stores {compressed} bytes for {uncompressed} uncompressed bytes"),
                ));
            }
            return Ok(reader);
        }
        let chunk_count = uncompressed.div_ceil(HEAP_CHUNK_SIZE);
        // The table has one u16 per chunk but the last; it must fit in the stored heap, which bounds
        // the chunk count (and every allocation below) by the file size.
        let table_length = (chunk_count - 1).saturating_mul(2);
        if table_length > compressed {
            return Err(inconsistent(
                32,
                format!(
                    "{uncompressed} uncompressed bytes need a {table_length}-byte chunk table, \
                     but the heap stores only {compressed} bytes"
                ),
            ));
        }
        let data_length = compressed - table_length;
        let table_offset = heap_offset + data_length;
        // `parse_common` checked heap_offset + compressed <= file length, so the table is in the file.
        let table = file.bytes_at(table_offset, table_length)?;
        let mut chunks = Vec::with_capacity(chunk_count as usize);
        let mut used = 0u64;
        for index in 0..chunk_count {
            let expected = Self::chunk_length(uncompressed, index);
            let stored_size = if index + 1 < chunk_count {
                let at = (index * 2) as usize;
                u64::from(u16::from_be_bytes([table[at], table[at + 1]])) + 1
            } else {
                data_length.checked_sub(used).ok_or_else(|| {
                    inconsistent(
                        table_offset,
                        format!("chunk sizes add up to more than {data_length} bytes"),
                    )
                })?
            };
            if stored_size == 0 || stored_size > expected {
                return Err(inconsistent(
                    table_offset + index * 2,
                    format!("chunk {index} stores {stored_size} bytes for {expected} uncompressed bytes"),
                ));
            }
            chunks.push(StoredChunk {
                file_offset: heap_offset + used,
                stored_size,
            });
            used += stored_size;
            if used > data_length {
                return Err(inconsistent(
                    table_offset + index * 2,
                    format!("chunk sizes add up to more than the {data_length} stored bytes"),
                ));
            }
        }
        reader.chunks = chunks;
        Ok(reader)
    }

    /// Uncompressed size of chunk `index` of a heap of `uncompressed` bytes.
    fn chunk_length(uncompressed: u64, index: u64) -> u64 {
        (uncompressed - index * HEAP_CHUNK_SIZE).min(HEAP_CHUNK_SIZE)
    }

    /// Size of the uncompressed heap in bytes.
    pub fn uncompressed_size(&self) -> u64 {
        self.uncompressed_size
    }

    /// Reads `length` bytes at `offset` of the uncompressed heap. The caller bounds `length` (section
    /// limits, data sizes checked against the heap), so the result buffer is bounded too.
    pub fn read<S: HeapSource + ?Sized>(&self, file: &S, offset: u64, length: u64) -> FormatResult<Vec<u8>> {
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= self.uncompressed_size);
        let Some(end) = end else {
            return Err(FormatError::at_heap(
                offset,
                FormatErrorKind::InconsistentSize(format!(
                    "{length} bytes at heap offset {offset} run past the {}-byte heap",
                    self.uncompressed_size
                )),
            ));
        };
        if self.chunks.is_empty() {
            return Ok(file.bytes_at(self.heap_offset + offset, length)?.into_owned());
        }
        // Grow with the data actually decompressed rather than trusting the requested length up front:
        // a tiny file can claim a 64 MiB section whose first chunk is already corrupt.
        let mut out = Vec::with_capacity(length.min(HEAP_CHUNK_SIZE) as usize);
        let mut position = offset;
        while position < end {
            let index = position / HEAP_CHUNK_SIZE;
            let chunk = self.decompress_chunk(file, index)?;
            let chunk_start = index * HEAP_CHUNK_SIZE;
            let from = (position - chunk_start) as usize;
            let to = ((end - chunk_start) as usize).min(chunk.len());
            out.extend_from_slice(&chunk[from..to]);
            position = chunk_start + to as u64;
        }
        Ok(out)
    }

    /// Returns chunk `index` uncompressed, checking it decompresses to exactly its size.
    fn decompress_chunk<S: HeapSource + ?Sized>(&self, file: &S, index: u64) -> FormatResult<Vec<u8>> {
        let chunk = self.chunks[index as usize];
        let expected = Self::chunk_length(self.uncompressed_size, index);
        let stored = file.bytes_at(chunk.file_offset, chunk.stored_size)?;
        if chunk.stored_size == expected {
            return Ok(stored.into_owned());
        }
        let stored = &stored[..];
        let bad = |reason: String| {
            FormatError::at_file(
                chunk.file_offset,
                FormatErrorKind::BadChunk { chunk: index, reason },
            )
        };
        let mut out = Vec::with_capacity(expected as usize);
        match self.compression {
            COMPRESSION_ZLIB => {
                // One inflater per thread, reset per chunk: a new decoder per chunk costs a 32 KiB
                // buffer plus the inflate state, and scanning 10,000 packages that way fragmented the
                // allocator into hundreds of MB (measured with the zlib-rs backend).
                // One byte of spare room so an over-long stream is detected, not truncated.
                out.reserve_exact(1);
                let status = INFLATER.with(|inflater| {
                    let mut inflater = inflater.borrow_mut();
                    inflater.reset(true);
                    inflater.decompress_vec(stored, &mut out, flate2::FlushDecompress::Finish)
                });
                match status {
                    Ok(flate2::Status::StreamEnd) => {}
                    Ok(_) => return Err(bad("zlib: stream does not end where the chunk does".to_owned())),
                    Err(e) => return Err(bad(format!("zlib: {e}"))),
                }
            }
            COMPRESSION_ZSTD => {
                out = zstd::bulk::decompress(stored, expected as usize)
                    .map_err(|e| bad(format!("zstd: {e}")))?;
            }
            other => {
                return Err(bad(format!(
                    "compressed chunk in a heap with compression {other}"
                )))
            }
        }
        if out.len() as u64 != expected {
            return Err(bad(format!(
                "decompresses to {} bytes, expected {expected}",
                out.len()
            )));
        }
        Ok(out)
    }
}
