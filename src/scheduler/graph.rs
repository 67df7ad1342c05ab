//! The build graph: one node per build, edges from a build to the builds that need its packages.

/// Index of a build in its graph.
pub type BuildId = usize;

/// One build.
#[derive(Clone, Debug, PartialEq)]
pub struct Build {
    /// Port name (for reports).
    pub name: String,
    /// Expected duration in seconds (from earlier builds, or an estimate).
    pub duration: f64,
    /// Builds whose packages this build needs; all have smaller ids (the graph is topologically
    /// ordered by construction).
    pub deps: Vec<BuildId>,
}

/// Why a graph cannot be scheduled.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A dependency refers to a build that does not come before the dependent.
    #[error("build {build} depends on {dep}, which is not an earlier build (a cycle or a forward edge)")]
    NotTopological {
        /// The dependent build.
        build: BuildId,
        /// The dependency.
        dep: BuildId,
    },
}

/// Builds in topological order, with the derived facts every policy needs.
#[derive(Clone, Debug)]
pub struct BuildGraph {
    builds: Vec<Build>,
    dependents: Vec<Vec<BuildId>>,
    bottom_level: Vec<f64>,
}

impl BuildGraph {
    /// Checks the order and derives dependents and critical-path lengths.
    pub fn new(builds: Vec<Build>) -> Result<Self, GraphError> {
        let mut dependents = vec![Vec::new(); builds.len()];
        for (id, build) in builds.iter().enumerate() {
            for &dep in &build.deps {
                if dep >= id {
                    return Err(GraphError::NotTopological { build: id, dep });
                }
                dependents[dep].push(id);
            }
        }
        // Bottom level: the longest chain of durations from a build to the end of the run, itself
        // included. Computed from the last build backwards, which the topological order allows.
        let mut bottom_level = vec![0.0; builds.len()];
        for id in (0..builds.len()).rev() {
            let tail = dependents[id]
                .iter()
                .map(|&d| bottom_level[d])
                .fold(0.0, f64::max);
            bottom_level[id] = builds[id].duration + tail;
        }
        Ok(Self {
            builds,
            dependents,
            bottom_level,
        })
    }

    /// The builds.
    pub fn builds(&self) -> &[Build] {
        &self.builds
    }

    /// Builds that need `id`.
    pub fn dependents(&self, id: BuildId) -> &[BuildId] {
        &self.dependents[id]
    }

    /// Longest chain of durations from `id` to the end, `id` included.
    pub fn bottom_level(&self, id: BuildId) -> f64 {
        self.bottom_level[id]
    }

    /// The critical path: the longest chain of durations in the graph.
    pub fn critical_path(&self) -> f64 {
        self.bottom_level.iter().copied().fold(0.0, f64::max)
    }

    /// Sum of all durations.
    pub fn total_work(&self) -> f64 {
        self.builds.iter().map(|b| b.duration).sum()
    }

    /// No schedule on `builders` builders can finish sooner than this.
    pub fn lower_bound(&self, builders: usize) -> f64 {
        self.critical_path()
            .max(self.total_work() / builders.max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(duration: f64, deps: &[BuildId]) -> Build {
        Build {
            name: String::new(),
            duration,
            deps: deps.to_vec(),
        }
    }

    #[test]
    fn critical_path_and_bounds() {
        // 0 → 1 → 3, 0 → 2 → 3: the path through 2 is longer.
        let graph = BuildGraph::new(vec![
            build(1.0, &[]),
            build(2.0, &[0]),
            build(5.0, &[0]),
            build(1.0, &[1, 2]),
        ])
        .unwrap();
        assert_eq!(graph.critical_path(), 7.0);
        assert_eq!(graph.bottom_level(1), 3.0);
        assert_eq!(graph.total_work(), 9.0);
        assert_eq!(graph.lower_bound(1), 9.0);
        assert_eq!(graph.lower_bound(4), 7.0);
        assert_eq!(graph.dependents(0), &[1, 2]);
    }

    #[test]
    fn forward_edges_are_rejected() {
        let err = BuildGraph::new(vec![build(1.0, &[1]), build(1.0, &[])]).unwrap_err();
        assert_eq!(err, GraphError::NotTopological { build: 0, dep: 1 });
    }
}
