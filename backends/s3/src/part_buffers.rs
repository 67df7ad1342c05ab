//! Part buffers that are reused within one multipart upload or one ranged download.
//!
//! Each part is read into a buffer of `part_size` bytes and handed to the SDK as [`Bytes`] (a download's
//! ranges likewise, to the reader). A fresh
//! `vec![0; part_size]` per part costs a memset plus a page fault per 4 KiB page, because the allocator
//! returns large blocks to the kernel and gets them back zeroed: about 0.2 CPU-s per GiB uploaded,
//! on a machine where the S3 server may be competing for the same cores. Instead, a buffer goes back
//! to its transfer's [`PartBuffers`] when the last `Bytes` that refers to it is dropped (the part's
//! request and any retry are done, or the reader has read the range) and is filled again by a later
//! part, so a transfer allocates at most about `parts_in_flight` buffers, however many parts it has.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// The free buffers of one upload.
#[derive(Clone, Default)]
pub(crate) struct PartBuffers {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl PartBuffers {
    /// A buffer of exactly `len` bytes: a returned one when there is one (its old contents are
    /// there to be overwritten), a zeroed new one otherwise.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match reused {
            Some(mut buf) => {
                // Shrinking keeps the allocation; growing (a larger part after a smaller one) zeroes
                // only the new tail.
                buf.resize(len, 0);
                buf
            }
            None => vec![0; len],
        }
    }

    /// Shares `buf` as `Bytes` that give it back to this pool once the last clone is dropped.
    pub(crate) fn share(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returning {
            buf,
            free: self.free.clone(),
        })
    }
}

/// A buffer on loan to the SDK; it goes back to the pool on drop.
struct Returning {
    buf: Vec<u8>,
    free: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Returning {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_once_every_clone_is_dropped_and_is_reused() {
        let pool = PartBuffers::default();
        let mut buf = pool.take(8);
        buf.copy_from_slice(b"abcdefgh");
        let address = buf.as_ptr();
        let shared = pool.share(buf);
        let retry = shared.clone();
        drop(shared);
        assert_eq!(pool.free.lock().unwrap().len(), 0, "a clone is still alive");
        assert_eq!(&retry[..], b"abcdefgh");
        drop(retry);
        let again = pool.take(4);
        assert_eq!(again.as_ptr(), address, "the same allocation is reused");
        assert_eq!(again.len(), 4);
        let fresh = pool.take(3);
        assert_eq!(fresh, vec![0; 3], "an empty pool hands out a zeroed buffer");
    }
}
