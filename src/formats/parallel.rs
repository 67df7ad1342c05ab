//! Rendering an index's entries on more than one core: the per-package work of a publish (parsing a
//! stored entry, writing its XML) is independent from package to package, and a 10-into-10,000 push
//! renders all 10,000 (issue 14, acceptance 5).

/// Threads at most: the machines this runs on have few cores, and past a few the sequential parts
/// (reading records, uploading) dominate.
const MAX_THREADS: usize = 4;

/// Below this many items one thread does it all: starting threads costs more than it saves.
const MIN_ITEMS_PER_THREAD: usize = 500;

/// `f` of every item, in order, on up to [`MAX_THREADS`] threads; the first error (in item order)
/// is returned. A panic in `f` is a bug and propagates.
pub fn try_map<'a, T: Sync, R: Send, E: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    try_map_coarse(items, MIN_ITEMS_PER_THREAD, f)
}

/// [`try_map`] for items of any size: a thread is started for every `min_items_per_thread` items
/// (1 for items that are each a large piece of work, such as a chunk of an index).
pub fn try_map_coarse<'a, T: Sync, R: Send, E: Send>(
    items: &'a [T],
    min_items_per_thread: usize,
    f: impl Fn(&'a T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(items.len() / min_items_per_thread.max(1))
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let f = &f;
    let parts: Vec<Result<Vec<R>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Result<Vec<R>, E>>()))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_reports_the_first_error() {
        let items: Vec<u32> = (0..5000).collect();
        let doubled = try_map(&items, |&i| Ok::<_, String>(i * 2)).unwrap();
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let err = try_map(&items, |&i| if i % 1000 == 999 { Err(i) } else { Ok(i) }).unwrap_err();
        assert_eq!(err, 999);
        let few = try_map_coarse(&items[..3], 1, |&i| Ok::<_, String>(i + 1)).unwrap();
        assert_eq!(few, [1, 2, 3]);
    }
}
