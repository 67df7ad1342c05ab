//! An fmf tree (the Flexible Metadata Format that tmt reads) as its leaves, in the subset the gate
//! reads: the tree root is the directory holding `.fmf/version`; every directory is a node, its
//! `main.fmf` the node's own data, every other `NAME.fmf` a child node `NAME`; a key starting with
//! `/` inside a file is a child node (`/smoke:` — fmf's "virtual" nodes); children inherit their
//! parent's data, a key ending in `+` extends the inherited value instead of replacing it (lists
//! appended, strings concatenated, mappings merged, numbers added). Only leaves are objects (tests,
//! plans); hidden files and directories (`.git`, `.fmf`) are not part of the tree, and a
//! subdirectory holding its own `.fmf/version` starts another tree and is left out.
//!
//! Not read, refused by name so that nothing is silently misread: the `/` directive (`inherit:
//! false`, `select:`) and keys ending in `-` (removal). YAML is read with `yaml-rust2` (pure Rust,
//! YAML 1.2); anchors and aliases are refused by it.

use std::path::Path;

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

/// `.fmf` files read from one tree: more is refused (a package's tests are a handful of files).
const MAX_FMF_FILES: usize = 1000;
/// Largest `.fmf` file read.
const MAX_FMF_FILE_BYTES: u64 = 1024 * 1024;
/// Deepest directory or virtual-node nesting followed.
const MAX_DEPTH: usize = 32;

/// One object of the tree: a leaf node with its data, inheritance applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    /// Its fmf name: the path from the tree root (`/tests/smoke`).
    pub name: String,
    /// Its data: the parents' merged with its own.
    pub data: Hash,
    /// The directory, from the tree root (`/tests`), of the file that defined it last: tmt's
    /// default `path` of a test.
    pub dir: String,
}

/// A node while the tree is read.
#[derive(Default)]
struct Node {
    /// Its own data, as written (keys ending in `+` kept as written).
    data: Hash,
    /// Its children, in the order fmf reads them (files, then directories, each sorted by name;
    /// virtual nodes where their file defines them).
    children: Vec<(String, Node)>,
    /// The directory of the file that defined it last (`/` for the root).
    dir: String,
}

impl Node {
    fn child(&mut self, name: &str, dir: &str) -> &mut Node {
        let at = match self.children.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.children.push((
                    name.to_owned(),
                    Node {
                        dir: dir.to_owned(),
                        ..Node::default()
                    },
                ));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }

    /// Adds the mapping `data` (from a file in `dir`) to this node; `/…` keys become children.
    fn apply(&mut self, data: Hash, dir: &str, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nodes nested deeper than {MAX_DEPTH}"));
        }
        self.dir = dir.to_owned();
        for (key, value) in data {
            let Yaml::String(key) = key else {
                return Err(format!("key {key:?} is not a string"));
            };
            if key == "/" {
                return Err("the `/` directive (inherit, select) is not in the subset the gate reads".into());
            }
            if key.ends_with('-') {
                return Err(format!(
                    "key {key}: removal (`-`) is not in the subset the gate reads"
                ));
            }
            if let Some(path) = key.strip_prefix('/') {
                let child_data = match value {
                    Yaml::Hash(hash) => hash,
                    Yaml::Null => Hash::new(),
                    _ => return Err(format!("node {key} is not a mapping")),
                };
                let mut node = &mut *self;
                for part in path.split('/').filter(|p| !p.is_empty()) {
                    node = node.child(part, dir);
                }
                node.apply(child_data, dir, depth + 1)?;
            } else {
                self.data.insert(Yaml::String(key), value);
            }
        }
        Ok(())
    }
}

/// Reads the fmf tree rooted at `root` (which must hold `.fmf/version`); its leaves in tree order.
/// Errors name the file and what is wrong.
pub fn read_tree(root: &Path) -> Result<Vec<Leaf>, String> {
    let version = root.join(".fmf/version");
    if !version.is_file() {
        return Err(format!("{}: not an fmf tree (no .fmf/version)", root.display()));
    }
    let mut top = Node {
        dir: "/".into(),
        ..Node::default()
    };
    let mut files = 0;
    grow(root, "", &mut top, &mut files, 0)?;
    let mut leaves = Vec::new();
    collect(&top, "", &Hash::new(), &mut leaves)?;
    Ok(leaves)
}

/// Reads the directory `root/relative` into `node`.
fn grow(root: &Path, relative: &str, node: &mut Node, files: &mut usize, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{}: directories nested deeper than {MAX_DEPTH}",
            root.display()
        ));
    }
    let here = root.join(relative.trim_start_matches('/'));
    let dir = if relative.is_empty() { "/" } else { relative };
    let mut entries: Vec<(String, std::fs::FileType)> = std::fs::read_dir(&here)
        .map_err(|e| format!("{}: {e}", here.display()))?
        .map(|entry| {
            let entry = entry.map_err(|e| format!("{}: {e}", here.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            Ok((entry.file_name().to_string_lossy().into_owned(), kind))
        })
        .collect::<Result<_, String>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.retain(|(name, _)| !name.starts_with('.'));
    for (name, _) in entries.iter().filter(|(n, k)| k.is_file() && n.ends_with(".fmf")) {
        *files += 1;
        if *files > MAX_FMF_FILES {
            return Err(format!(
                "{}: more than {MAX_FMF_FILES} .fmf files",
                root.display()
            ));
        }
        let path = here.join(name);
        let data = read_file(&path)?;
        let at = |e: String| format!("{}: {e}", path.display());
        if name == "main.fmf" {
            node.apply(data, dir, depth).map_err(at)?;
        } else {
            let stem = name.trim_end_matches(".fmf");
            node.child(stem, dir).apply(data, dir, depth).map_err(at)?;
        }
    }
    for (name, _) in entries.iter().filter(|(_, k)| k.is_dir()) {
        let sub = format!("{relative}/{name}");
        if here.join(name).join(".fmf/version").exists() {
            continue;
        }
        let child = node.child(name, &sub);
        child.dir = sub.clone();
        grow(root, &sub, child, files, depth + 1)?;
    }
    Ok(())
}

/// A `.fmf` file's mapping (an empty file is an empty mapping).
fn read_file(path: &Path) -> Result<Hash, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size > MAX_FMF_FILE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_FMF_FILE_BYTES} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let documents =
        YamlLoader::load_from_str(&text).map_err(|e| format!("{}: not YAML: {e}", path.display()))?;
    match documents.into_iter().next() {
        None | Some(Yaml::Null) => Ok(Hash::new()),
        Some(Yaml::Hash(hash)) => Ok(hash),
        Some(_) => Err(format!("{}: not a mapping", path.display())),
    }
}

/// Appends the leaves under `node` (named `name`, inheriting `inherited`) to `out`. Nodes with
/// neither data nor children (a directory without metadata) are not objects.
fn collect(node: &Node, name: &str, inherited: &Hash, out: &mut Vec<Leaf>) -> Result<(), String> {
    let mut data = inherited.clone();
    for (key, value) in &node.data {
        merge(&mut data, key, value).map_err(|e| format!("{}: {e}", display_name(name)))?;
    }
    let children: Vec<&(String, Node)> = node
        .children
        .iter()
        .filter(|(_, child)| has_content(child))
        .collect();
    if children.is_empty() {
        if !node.data.is_empty() {
            out.push(Leaf {
                name: display_name(name),
                data,
                dir: node.dir.clone(),
            });
        }
        return Ok(());
    }
    for (child_name, child) in children {
        collect(child, &format!("{name}/{child_name}"), &data, out)?;
    }
    Ok(())
}

fn display_name(name: &str) -> String {
    if name.is_empty() {
        "/".into()
    } else {
        name.to_owned()
    }
}

fn has_content(node: &Node) -> bool {
    !node.data.is_empty() || node.children.iter().any(|(_, c)| has_content(c))
}

/// Sets `key` to `value` in `data`; `key+` extends what `data` already has under `key`.
fn merge(data: &mut Hash, key: &Yaml, value: &Yaml) -> Result<(), String> {
    let Yaml::String(text) = key else {
        return Err(format!("key {key:?} is not a string"));
    };
    let Some(base) = text.strip_suffix('+') else {
        data.insert(key.clone(), value.clone());
        return Ok(());
    };
    let base_key = Yaml::String(base.to_owned());
    let merged = match (data.get(&base_key), value) {
        (None, value) => value.clone(),
        (Some(Yaml::Array(old)), Yaml::Array(new)) => Yaml::Array(old.iter().chain(new).cloned().collect()),
        (Some(Yaml::Array(old)), new) => {
            Yaml::Array(old.iter().chain(std::iter::once(new)).cloned().collect())
        }
        (Some(Yaml::String(old)), Yaml::String(new)) => Yaml::String(format!("{old}{new}")),
        (Some(Yaml::Integer(old)), Yaml::Integer(new)) => Yaml::Integer(old.saturating_add(*new)),
        (Some(Yaml::Hash(old)), Yaml::Hash(new)) => {
            let mut out = old.clone();
            for (k, v) in new {
                out.insert(k.clone(), v.clone());
            }
            Yaml::Hash(out)
        }
        (Some(old), new) => {
            return Err(format!(
                "key {text}: cannot extend {} with {}",
                kind(old),
                kind(new)
            ))
        }
    };
    data.insert(base_key, merged);
    Ok(())
}

/// A YAML value's kind, for messages.
pub fn kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Real(_) => "a number",
        Yaml::Integer(_) => "an integer",
        Yaml::String(_) => "a string",
        Yaml::Boolean(_) => "a boolean",
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a mapping",
        Yaml::Alias(_) => "an alias",
        Yaml::Null => "null",
        Yaml::BadValue => "a bad value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".fmf")).unwrap();
        std::fs::write(dir.path().join(".fmf/version"), "1\n").unwrap();
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }

    fn get<'a>(leaf: &'a Leaf, key: &str) -> &'a Yaml {
        leaf.data
            .get(&Yaml::String(key.into()))
            .unwrap_or(&Yaml::BadValue)
    }

    #[test]
    fn files_directories_and_virtual_nodes_become_leaves_inheriting_their_parents() {
        let dir = tree(&[
            ("main.fmf", "contact: t@example.invalid\nrequire: [bash]\n"),
            ("plans/smoke.fmf", "discover:\n  how: fmf\nexecute:\n  how: tmt\n"),
            (
                "tests/main.fmf",
                "duration: 2m\n/greets:\n  test: greeter\n  require+: [greeter]\n/fails:\n  test: exit 1\n",
            ),
            ("tests/deep/main.fmf", "test: ./run.sh\nduration+: ' 1m'\n"),
            ("tests/empty/README", "no metadata here\n"),
            (".git/main.fmf", "test: never\n"),
            ("other/.fmf/version", "1\n"),
            ("other/main.fmf", "test: another tree\n"),
        ]);
        let leaves = read_tree(dir.path()).unwrap();
        let names: Vec<&str> = leaves.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["/plans/smoke", "/tests/greets", "/tests/fails", "/tests/deep"]
        );
        let greets = &leaves[1];
        assert_eq!(get(greets, "test").as_str(), Some("greeter"));
        assert_eq!(
            get(greets, "require"),
            &Yaml::Array(vec![Yaml::String("bash".into()), Yaml::String("greeter".into())])
        );
        assert_eq!(get(greets, "contact").as_str(), Some("t@example.invalid"));
        assert_eq!(greets.dir, "/tests");
        assert_eq!(get(&leaves[3], "duration").as_str(), Some("2m 1m"));
        assert_eq!(leaves[3].dir, "/tests/deep");
        assert_eq!(leaves[0].dir, "/plans");
    }

    #[test]
    fn what_the_subset_does_not_read_is_refused_by_name() {
        let err = |files: &[(&str, &str)]| read_tree(tree(files).path()).unwrap_err();
        assert!(err(&[("a.fmf", "/:\n  inherit: false\ntest: x\n")]).contains("`/` directive"));
        assert!(err(&[("a.fmf", "require-: [x]\n")]).contains("removal"));
        assert!(err(&[("a.fmf", "- a\n- b\n")]).contains("not a mapping"));
        assert!(err(&[("a.fmf", "test: [unclosed\n")]).contains("not YAML"));
        assert!(err(&[("main.fmf", "n: 1\n/a:\n  n+: x\n")]).contains("cannot extend"));
        let no_root = tempfile::tempdir().unwrap();
        assert!(read_tree(no_root.path()).unwrap_err().contains(".fmf/version"));
    }
}
