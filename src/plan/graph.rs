//! Graph algorithms over the planned ports, all iterative (a chain of thousands of ports must not
//! overflow the stack) and deterministic (ties break by node number, which is discovery order).
//!
//! Nodes are `0..n`; `deps[v]` lists the nodes `v` needs built first.

use std::collections::{BTreeSet, HashMap, VecDeque};

/// Kahn's topological order of the nodes with `include[v]`, each after its included dependencies.
/// Returns the order and the included nodes left out: those on or behind a cycle.
pub fn topological_order(include: &[bool], deps: &[Vec<usize>]) -> (Vec<usize>, Vec<usize>) {
    let n = deps.len();
    let mut waiting = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for v in (0..n).filter(|&v| include[v]) {
        for &d in deps[v].iter().filter(|&&d| include[d]) {
            waiting[v] += 1;
            dependents[d].push(v);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&v| include[v] && waiting[v] == 0).collect();
    let mut order = Vec::new();
    while let Some(v) = ready.pop_first() {
        order.push(v);
        for &w in &dependents[v] {
            waiting[w] -= 1;
            if waiting[w] == 0 {
                ready.insert(w);
            }
        }
    }
    let left = (0..n).filter(|&v| include[v] && waiting[v] > 0).collect();
    (order, left)
}

/// The strongly connected components of the subgraph `nodes` with more than one member: exactly the
/// nodes that lie on a cycle (self-loops aside). Tarjan's algorithm with an explicit call stack.
pub fn cyclic_components(nodes: &[usize], deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = deps.len();
    let mut in_subgraph = vec![false; n];
    for &v in nodes {
        in_subgraph[v] = true;
    }
    let mut number = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut components = Vec::new();
    for &root in nodes {
        if number[root] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        number[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
            if let Some(&w) = deps[v].get(*edge) {
                *edge += 1;
                if !in_subgraph[w] {
                    continue;
                }
                if number[w] == UNSEEN {
                    number[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(number[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == number[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    components.push(component);
                }
            }
        }
    }
    components
}

/// A shortest cycle from `start` back to itself through `members` (a cyclic component holding
/// `start`), as the list of nodes starting with `start`. Breadth-first, so the cycle named is short.
pub fn cycle_through(start: usize, members: &[usize], deps: &[Vec<usize>]) -> Vec<usize> {
    let member: std::collections::HashSet<usize> = members.iter().copied().collect();
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in deps[v].iter().filter(|w| member.contains(w)) {
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_dependencies_first_and_reports_cycles() {
        // 0 needs 1, 1 needs 2; 3 <-> 4; 5 needs 3.
        let deps = vec![vec![1], vec![2], vec![], vec![4], vec![3], vec![3]];
        let (order, left) = topological_order(&[true; 6], &deps);
        assert_eq!(order, vec![2, 1, 0]);
        assert_eq!(left, vec![3, 4, 5]);
        assert_eq!(cyclic_components(&left, &deps), vec![vec![3, 4]]);
        assert_eq!(cycle_through(4, &[3, 4], &deps), vec![4, 3]);
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let n = 200_000;
        let deps: Vec<Vec<usize>> = (0..n)
            .map(|v| if v + 1 < n { vec![v + 1] } else { vec![0] })
            .collect();
        let all: Vec<usize> = (0..n).collect();
        let components = cyclic_components(&all, &deps);
        assert_eq!(components.len(), 1);
        assert_eq!(components[0].len(), n);
    }
}
