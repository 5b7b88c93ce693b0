//! The shape of the code: each capability folder's dependencies point one way, so a folder can
//! be read (and changed) knowing only the folders beneath it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every `crate::<module>` a folder's files name, by folder under `src/`.
fn folder_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in fs::read_dir(&src).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut deps = BTreeSet::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for f in fs::read_dir(d).unwrap() {
                let path = f.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = fs::read_to_string(&path).unwrap();
                    for (i, _) in text.match_indices("crate::") {
                        let rest = &text[i + "crate::".len()..];
                        let module: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        // `$crate::` inside macros names the crate, not a folder.
                        let preceded_by_dollar = text[..i].ends_with('$');
                        if !module.is_empty() && module != name && !preceded_by_dollar {
                            deps.insert(module);
                        }
                    }
                }
            }
        }
        graph.insert(name, deps);
    }
    graph
}

/// A cycle through folders, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for dep in graph.get(node).into_iter().flatten() {
            // Only folders take part; top-level files (`api`, `http`, `error`) are leaves here.
            if graph.contains_key(dep) {
                if let Some(c) = visit(dep, graph, path, done) {
                    return Some(c);
                }
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn capability_folders_import_each_other_one_way() {
    let graph = folder_imports();
    assert!(graph.len() >= 14, "{:?}", graph.keys());
    assert_eq!(find_cycle(&graph), None, "{graph:#?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert(
        "c".to_string(),
        BTreeSet::from(["a".to_string(), "http".to_string()]),
    );
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn no_service_file_grows_past_a_readable_size() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut long = Vec::new();
    while let Some(d) = stack.pop() {
        for f in fs::read_dir(d).unwrap() {
            let path = f.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = fs::read_to_string(&path).unwrap().lines().count();
                // The generated schema is one declaration per table.
                if lines > 1000 && !path.ends_with("db/schema.rs") {
                    long.push((path.display().to_string(), lines));
                }
            }
        }
    }
    assert_eq!(long, Vec::<(String, usize)>::new());
}
