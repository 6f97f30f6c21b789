//! Dependencies between the crate's modules point one way: domain ← storage ← workflows ←
//! jobs/api ← startup ← cli (README "How it is built"). A `use crate::…` against that
//! direction fails here.

use std::{fs, path::Path};

/// Each top-level module and its layer. A module may use modules of lower layers only.
const LAYERS: [(&str, u8); 17] = [
    ("domain", 0),
    ("config", 1),
    ("secrets", 2),
    ("telemetry", 2),
    ("storage", 3),
    ("slack", 3),
    ("events", 3),
    ("auth", 3),
    ("resilience", 3),
    ("workflows", 4),
    ("jobs", 5),
    ("api", 5),
    ("startup", 6),
    // Developer tools beside the service: the demo starts it like `serve` does.
    ("dev", 7),
    ("cli", 8),
    ("lib", 9),
    ("main", 9),
];

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .unwrap_or_else(|| panic!("module {module} has no layer in tests/api/architecture.rs"))
        .1
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(dir: &Path, module: Option<&str>, found: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let module = module.map_or(name.clone(), str::to_owned);
        if path.is_dir() {
            sources(&path, Some(&module), found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push((module, fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The top-level modules `source` names through `crate::`, outside its unit tests.
fn used_modules(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut used = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(braced) = rest.strip_prefix('{') {
            // `use crate::{a::…, b, c::{…}}`: the names at the brace's top level.
            let mut depth = 0;
            let mut name = String::new();
            let mut at_start = true;
            for c in braced.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !name.is_empty() {
                            used.push(std::mem::take(&mut name));
                        }
                        at_start = true;
                    }
                    c if at_start && (c.is_alphanumeric() || c == '_') => name.push(c),
                    c if at_start && !name.is_empty() && !c.is_whitespace() || c == ':' => {
                        if !name.is_empty() {
                            used.push(std::mem::take(&mut name));
                        }
                        at_start = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                used.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
    }
    used
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), None, &mut files);
    sources(&root.join("jobs"), Some("jobs"), &mut files);
    assert!(files.len() > 50, "found {} files", files.len());

    let mut against = Vec::new();
    for (module, source) in &files {
        for used in used_modules(source) {
            if used != *module && layer(&used) >= layer(module) {
                against.push(format!("{module} uses {used}"));
            }
        }
    }
    against.sort();
    against.dedup();
    assert!(
        against.is_empty(),
        "imports against the layers: {against:#?}"
    );
}

#[test]
fn the_import_reader_sees_every_form() {
    let source = "use crate::{\n    domain::{A, B},\n    storage::{self, x},\n    slack,\n    dev,\n};\nfn f() { crate::jobs::run(); }\n#[cfg(test)]\nmod tests { use crate::cli; }";
    assert_eq!(
        used_modules(source),
        ["domain", "storage", "slack", "dev", "jobs"]
    );
}
