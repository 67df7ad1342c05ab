//! Running one function over many items on all available cores (chunk compression, package
//! scanning, inspecting and stubbing a publish's packages), with results in input order. Plain `std::thread::scope` with a shared counter: the
//! work items are independent and similar in size, so no work-stealing pool is needed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Applies `f` to every item, spreading items over at most `available_parallelism()` threads
/// (one thread, the caller's, when there is only one item or one core); returns results in order.
pub fn map_in_order<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &T) -> R + Sync,
{
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    map_in_order_on(items, cores, f)
}

/// [`map_in_order`] on at most `threads` threads, for work that waits rather than computes (an
/// `fsync` waits for the disk: many at once share its journal commits), where more threads than
/// cores pay off.
pub fn map_in_order_on<T, R, F>(items: &[T], threads: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &T) -> R + Sync,
{
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().enumerate().map(|(i, item)| f(i, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let work = || loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(index) else {
            return;
        };
        let result = f(index, item);
        results.lock().expect("a worker panicked")[index] = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(work);
        }
    });
    results
        .into_inner()
        .expect("a worker panicked")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order() {
        let items: Vec<u64> = (0..1000).collect();
        let out = map_in_order(&items, |i, x| (i as u64) * 1000 + x * 2);
        assert_eq!(out, (0..1000u64).map(|x| x * 1000 + x * 2).collect::<Vec<_>>());
        assert!(map_in_order(&[] as &[u8], |_, x| *x).is_empty());
        let waits = map_in_order_on(&items, 16, |i, x| i as u64 + x);
        assert_eq!(waits, (0..1000u64).map(|x| 2 * x).collect::<Vec<_>>());
    }
}
