//! Reading manifests from files, directories and stdin: multi-document YAML or JSON, `List`s
//! expanded into their items.

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One object read from a manifest, with where it came from for error messages.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub source: String,
    pub object: Value,
}

/// Reads every object from `sources` (`-` is stdin). Directories are read for `.yaml`, `.yml`
/// and `.json` files in name order, and recursively when `recursive` is set.
pub fn read_all(sources: &[String], recursive: bool) -> anyhow::Result<Vec<Manifest>> {
    if sources.is_empty() {
        bail!("must specify one of -f and -k");
    }
    let mut out = Vec::new();
    for source in sources {
        if source == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            out.extend(parse(&text, "stdin")?);
            continue;
        }
        let path = Path::new(source);
        if path.is_dir() {
            for file in files_in(path, recursive)? {
                out.extend(read_file(&file)?);
            }
        } else {
            out.extend(read_file(path)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<Manifest>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("the path \"{}\" does not exist", path.display()))?;
    parse(&text, &path.display().to_string())
}

fn files_in(dir: &Path, recursive: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                out.extend(files_in(&entry, true)?);
            }
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Parses a multi-document YAML (or JSON) text. Empty documents are skipped; a `List` becomes
/// its items.
pub fn parse(text: &str, source: &str) -> anyhow::Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc)
            .with_context(|| format!("error parsing {source} (document {})", index + 1))?;
        if value.is_null() {
            continue;
        }
        if !value.is_object() {
            bail!(
                "error parsing {source}: document {} is not an object",
                index + 1
            );
        }
        let items = if value["kind"].as_str().is_some_and(|k| k.ends_with("List"))
            && value["items"].is_array()
        {
            value["items"].as_array().cloned().unwrap_or_default()
        } else {
            vec![value]
        };
        for object in items {
            if object["apiVersion"].as_str().unwrap_or_default().is_empty()
                || object["kind"].as_str().unwrap_or_default().is_empty()
            {
                bail!("error validating {source}: apiVersion and kind must be set");
            }
            out.push(Manifest {
                source: source.to_string(),
                object,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists_become_objects() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let objects = parse(text, "t.yaml").unwrap();
        let names: Vec<_> = objects
            .iter()
            .map(|m| m.object["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_document_without_kind_is_refused() {
        let err = parse("apiVersion: v1\nmetadata: {name: a}\n", "t.yaml").unwrap_err();
        assert!(err.to_string().contains("apiVersion and kind must be set"));
    }

    #[test]
    fn malformed_yaml_names_the_source() {
        let err = parse("a: [unclosed", "bad.yaml").unwrap_err();
        assert!(format!("{err:#}").contains("bad.yaml"));
    }
}
