//! Size-enforcing, hashing reads of an upload body.
//!
//! Every backend streams the body through [`ExactReader`], so "exactly `size` bytes" and "record the
//! SHA-256" are enforced in one place and the file is never read twice to checksum it.

use std::io;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::meta::Sha256Digest;

/// Reads exactly `size` bytes from a body, hashing them as they pass.
pub struct ExactReader<'a> {
    body: &'a mut (dyn AsyncRead + Send + Unpin),
    remaining: u64,
    hasher: Sha256,
}

impl<'a> ExactReader<'a> {
    /// Wraps `body`, which must yield exactly `size` bytes.
    pub fn new(body: &'a mut (dyn AsyncRead + Send + Unpin), size: u64) -> Self {
        Self {
            body,
            remaining: size,
            hasher: Sha256::new(),
        }
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Fills `buf` completely, or with all remaining bytes if fewer remain; returns how many bytes were
    /// read (0 only when nothing remains). A body that ends early is an `UnexpectedEof` error.
    pub async fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let mut filled = 0;
        while filled < want {
            let n = self.body.read(&mut buf[filled..want]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "body ended {} bytes short of its declared size",
                        self.remaining - filled as u64
                    ),
                ));
            }
            filled += n;
        }
        self.hasher.update(&buf[..filled]);
        self.remaining -= filled as u64;
        Ok(filled)
    }

    /// Checks that the body is exhausted exactly at the declared size and, if given, that its digest is
    /// `expected`; returns the digest.
    pub async fn finish(self, expected: Option<&Sha256Digest>) -> io::Result<Sha256Digest> {
        if self.remaining != 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("body ended {} bytes short of its declared size", self.remaining),
            ));
        }
        let mut probe = [0u8; 1];
        if self.body.read(&mut probe).await? != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "body is longer than its declared size",
            ));
        }
        let digest = Sha256Digest(self.hasher.finalize().into());
        match expected {
            Some(expected) if *expected != digest => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("body has SHA-256 {digest}, expected {expected}"),
            )),
            _ => Ok(digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exact_body_is_hashed() {
        let data = b"hello world".to_vec();
        let mut body: &[u8] = &data;
        let mut reader = ExactReader::new(&mut body, data.len() as u64);
        let mut buf = [0u8; 4];
        let mut total = 0;
        loop {
            let n = reader.read_full(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, data.len());
        let digest = reader.finish(Some(&Sha256Digest::of(&data))).await.unwrap();
        assert_eq!(digest, Sha256Digest::of(&data));
    }

    #[tokio::test]
    async fn short_long_and_wrong_bodies_fail() {
        let data = b"abc".to_vec();
        let mut body: &[u8] = &data;
        let mut reader = ExactReader::new(&mut body, 4);
        let mut buf = [0u8; 8];
        assert_eq!(
            reader.read_full(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );

        let mut body: &[u8] = &data;
        let mut reader = ExactReader::new(&mut body, 2);
        assert_eq!(reader.read_full(&mut buf).await.unwrap(), 2);
        assert_eq!(
            reader.finish(None).await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );

        let mut body: &[u8] = &data;
        let mut reader = ExactReader::new(&mut body, 3);
        reader.read_full(&mut buf).await.unwrap();
        let wrong = Sha256Digest::of(b"xyz");
        assert_eq!(
            reader.finish(Some(&wrong)).await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
