//! Copying an object from one backend to another: server-side when the target can reach the source
//! ([`StorageBackend::copy_from_peer`]), else streamed through this process with the recorded SHA-256
//! verified on the way. The one implementation behind [`StorageBackend::copy_from`].

use crate::backend::StorageBackend;
use crate::error::StorageError;
use crate::key::ObjectKey;
use crate::meta::{ObjectMeta, PutOptions};

/// Copies `from` of `source` to `to` of `target`; errors name both locations.
pub(crate) async fn copy_between<T>(
    source: &dyn StorageBackend,
    from: &ObjectKey,
    target: &T,
    to: &ObjectKey,
) -> Result<ObjectMeta, StorageError>
where
    T: StorageBackend + ?Sized,
{
    let peer_copy = match source.copy_source(from) {
        Some(location) => target.copy_from_peer(&location, to).await,
        None => Ok(None),
    };
    let result = match peer_copy {
        Ok(Some(meta)) => Ok(meta),
        Ok(None) => stream_copy(source, from, target, to).await,
        Err(err) => Err(err),
    };
    result.map_err(|err| {
        err.context(format!(
            "copying '{from}' of {} to '{to}' of {}",
            source.describe(),
            target.describe()
        ))
    })
}

/// Downloads `from` and uploads it to `to` with the source's content headers and its recorded SHA-256
/// as the expected digest, so a body that does not match what the source recorded is refused by `put`
/// and nothing is stored. (A source without a recorded digest gets one computed on the way.)
async fn stream_copy<T>(
    source: &dyn StorageBackend,
    from: &ObjectKey,
    target: &T,
    to: &ObjectKey,
) -> Result<ObjectMeta, StorageError>
where
    T: StorageBackend + ?Sized,
{
    let reader = source.get(from).await?;
    let opts = PutOptions {
        content_type: reader.headers.content_type.clone(),
        cache_control: reader.headers.cache_control,
        sha256: reader.meta.sha256,
    };
    let mut body = reader.body;
    target.put(to, &mut body, reader.meta.size, &opts).await
}
