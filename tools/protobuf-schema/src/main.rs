//! Writes the protobuf field table of every built-in Kubernetes kind as JSON.
//!
//! Field numbers and wire types come from the prost annotations of the `k8s-pb` crate (its
//! generated sources); JSON field names come from the serde code of `k8s-openapi` (the
//! `"clusterIP" => Field::Key_cluster_ip` arms of its deserializers), matched on the field
//! name with case and separators ignored, because k8s-pb's snake_case names lose the
//! capitalisation the JSON API uses (`clusterIP`, `podCIDRs`, `$ref`).
//!
//! Usage: `cargo run --manifest-path tools/protobuf-schema/Cargo.toml [-- K8S_PB_DIR
//! K8S_OPENAPI_DIR OUT]`. Without arguments the crate directories are found with
//! `cargo metadata` on the skiff workspace and the table is written to
//! `core/api/src/protobuf/schema.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use syn::{Attribute, Fields, GenericArgument, Item, PathArguments, Type};

/// One field of a prost message, as the table records it.
struct FieldDesc {
    tag: u32,
    rust_name: String,
    /// `string`, `bytes`, `bool`, `int32`, `int64`, `double`, a message name, or `map:<value>`.
    ty: String,
    repeated: bool,
}

/// One prost message: its fields and whether it is a list wrapper (`+protobuf.nullable=true`,
/// whose JSON form is the bare list of its single repeated field).
struct MessageDesc {
    fields: Vec<FieldDesc>,
    wrapper: bool,
}

#[derive(Default)]
struct Proto {
    messages: BTreeMap<String, MessageDesc>,
    /// apiVersion -> module of the kinds served under it.
    packages: BTreeMap<String, String>,
}

fn main() -> Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (pb_dir, openapi_dir, out) = match args.as_slice() {
        [pb, openapi, out] => (
            PathBuf::from(pb),
            PathBuf::from(openapi),
            PathBuf::from(out),
        ),
        [] => {
            let (pb, openapi) = crate_dirs(&repo)?;
            (pb, openapi, repo.join("core/api/src/protobuf/schema.json"))
        }
        _ => bail!("usage: protobuf-schema [K8S_PB_DIR K8S_OPENAPI_DIR OUT]"),
    };

    let mut proto = Proto::default();
    for file in rust_files(&pb_dir.join("src"))? {
        let module = module_of(&pb_dir.join("src"), &file);
        let source = std::fs::read_to_string(&file)?;
        let parsed =
            syn::parse_file(&source).with_context(|| format!("parsing {}", file.display()))?;
        collect(&mut proto, &module, &parsed.items)?;
    }
    let names = json_names(&openapi_dir.join("src"))?;

    let mut messages = serde_json::Map::new();
    let mut guessed = 0;
    for (name, message) in &proto.messages {
        let candidates = names.candidates(name);
        let mut fields = Vec::new();
        for f in &message.fields {
            let key = normalize(&f.rust_name);
            let json_name = if let Some(j) = candidates.iter().find_map(|c| c.get(&key)) {
                j.clone()
            } else if names.is_embedded(name, &candidates, f, proto.messages.get(&f.ty)) {
                eprintln!("inline: {name}.{} ({})", f.rust_name, f.ty);
                String::new()
            } else if let Some(j) = names.anywhere.get(&key) {
                j.clone()
            } else {
                guessed += 1;
                eprintln!("no JSON name in k8s-openapi for {name}.{}", f.rust_name);
                lower_camel(&f.rust_name)
            };
            fields.push(json!([f.tag, json_name, f.ty, f.repeated]));
        }
        messages.insert(name.clone(), Value::Array(fields));
    }
    let wrappers: Vec<&String> = proto
        .messages
        .iter()
        .filter(|(_, m)| m.wrapper)
        .map(|(n, _)| n)
        .collect();
    let table = json!({
        "packages": proto.packages,
        "wrappers": wrappers,
        "messages": messages,
    });
    let mut text = serde_json::to_string(&table)?;
    text.push('\n');
    std::fs::write(&out, text)?;
    eprintln!(
        "wrote {} messages ({} field names guessed) to {}",
        proto.messages.len(),
        guessed,
        out.display()
    );
    Ok(())
}

/// Finds the k8s-pb and k8s-openapi source directories the workspace resolves to.
fn crate_dirs(repo: &Path) -> Result<(PathBuf, PathBuf)> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(repo.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let dir = |name: &str| -> Result<PathBuf> {
        meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["manifest_path"].as_str())
            .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
            .with_context(|| format!("{name} is not a dependency of the workspace"))
    };
    Ok((dir("k8s-pb")?, dir("k8s-openapi")?))
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `src/api/apps/v1/mod.rs` -> `api.apps.v1`; `src/lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    if last != "mod.rs" && last != "lib.rs" {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts.join(".")
}

fn collect(proto: &mut Proto, module: &str, items: &[Item]) -> Result<()> {
    for item in items {
        match item {
            Item::Struct(s) if derives_message(&s.attrs) => {
                let name = join(module, &s.ident.to_string());
                let mut fields = Vec::new();
                if let Fields::Named(named) = &s.fields {
                    for field in &named.named {
                        let ident = field.ident.as_ref().unwrap().to_string();
                        let rust_name = ident.trim_start_matches("r#").to_string();
                        if let Some(f) = field_desc(module, &rust_name, &field.attrs, &field.ty)
                            .with_context(|| format!("{name}.{rust_name}"))?
                        {
                            fields.push(f);
                        }
                    }
                }
                let wrapper = docs(&s.attrs).contains("+protobuf.nullable=true")
                    && fields.len() == 1
                    && fields[0].repeated;
                proto.messages.insert(name, MessageDesc { fields, wrapper });
            }
            Item::Impl(i) => {
                let is_resource = i
                    .trait_
                    .as_ref()
                    .and_then(|(_, p, _)| p.segments.last())
                    .is_some_and(|s| s.ident == "Resource");
                if !is_resource {
                    continue;
                }
                for impl_item in &i.items {
                    if let syn::ImplItem::Const(c) = impl_item
                        && c.ident == "API_VERSION"
                        && let syn::Expr::Lit(lit) = &c.expr
                        && let syn::Lit::Str(s) = &lit.lit
                    {
                        proto.packages.insert(s.value(), module.to_string());
                    }
                }
            }
            Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    collect(proto, &join(module, &m.ident.to_string()), inner)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn derives_message(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("derive") && quote_tokens(a).contains("Message"))
}

fn quote_tokens(a: &Attribute) -> String {
    match &a.meta {
        syn::Meta::List(l) => l.tokens.to_string(),
        _ => String::new(),
    }
}

fn docs(attrs: &[Attribute]) -> String {
    let mut out = String::new();
    for a in attrs {
        if let syn::Meta::NameValue(nv) = &a.meta
            && nv.path.is_ident("doc")
            && let syn::Expr::Lit(lit) = &nv.value
            && let syn::Lit::Str(s) = &lit.lit
        {
            out.push_str(&s.value());
            out.push('\n');
        }
    }
    out
}

/// Reads `#[prost(message, optional, tag = "1")]` and the field's Rust type.
fn field_desc(
    module: &str,
    rust_name: &str,
    attrs: &[Attribute],
    ty: &Type,
) -> Result<Option<FieldDesc>> {
    let Some(attr) = attrs.iter().find(|a| a.path().is_ident("prost")) else {
        return Ok(None);
    };
    let mut kind = None;
    let mut map_types = None;
    let mut repeated = false;
    let mut tag = None;
    attr.parse_nested_meta(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if meta.input.peek(syn::Token![=]) {
            let value: syn::LitStr = meta.value()?.parse()?;
            match key.as_str() {
                "tag" => tag = Some(value.value()),
                "map" | "btree_map" | "hash_map" => map_types = Some(value.value()),
                // The reader accepts packed and unpacked repeated numbers alike.
                "packed" => {}
                _ => kind = Some(key),
            }
        } else {
            match key.as_str() {
                "repeated" => repeated = true,
                "optional" | "required" | "packed" | "boxed" => {}
                _ => kind = Some(key),
            }
        }
        Ok(())
    })?;
    let tag: u32 = tag.context("no tag")?.parse()?;
    let ty = if let Some(types) = map_types {
        let value = types
            .split(',')
            .nth(1)
            .map(str::trim)
            .context("map without a value type")?;
        if value == "message" {
            format!("map:{}", resolve(module, ty)?)
        } else {
            format!("map:{value}")
        }
    } else {
        match kind.context("no wire type")?.as_str() {
            "message" => resolve(module, ty)?,
            k @ ("string" | "bytes" | "bool" | "int32" | "int64" | "double") => k.to_string(),
            other => bail!("wire type {other} is not in the table format"),
        }
    };
    Ok(Some(FieldDesc {
        tag,
        rust_name: rust_name.to_string(),
        ty,
        repeated,
    }))
}

/// The message name a field's type refers to, with `Option`, `Vec`, `Box` and map wrappers
/// removed and `super::` paths resolved against the field's module.
fn resolve(module: &str, ty: &Type) -> Result<String> {
    let Type::Path(tp) = ty else {
        bail!("unexpected field type");
    };
    let last = tp.path.segments.last().context("empty type path")?;
    let wrapper = ["Option", "Vec", "Box", "BTreeMap", "HashMap"];
    if wrapper.contains(&last.ident.to_string().as_str())
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(GenericArgument::Type(inner)) = args
            .args
            .iter()
            .filter(|a| matches!(a, GenericArgument::Type(_)))
            .last()
    {
        return resolve(module, inner);
    }
    let mut parts: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split('.').map(str::to_string).collect()
    };
    for seg in &tp.path.segments {
        match seg.ident.to_string().as_str() {
            "super" => {
                parts.pop();
            }
            "crate" => parts.clear(),
            "self" => {}
            other => parts.push(other.to_string()),
        }
    }
    Ok(parts.join("."))
}

/// The JSON field names k8s-openapi knows.
#[derive(Default)]
struct JsonNames {
    /// (module, lowercase struct name) -> normalized field name -> JSON name.
    by_struct: HashMap<(String, String), HashMap<String, String>>,
    /// normalized field name -> JSON name, over every struct (the spelling is the same
    /// wherever a name occurs, which lets alpha/beta versions k8s-openapi lacks be named).
    anywhere: HashMap<String, String>,
}

impl JsonNames {
    /// The k8s-openapi structs whose names a message's fields take, best first: the same
    /// module, then the same kind in another version of its group, then anywhere.
    fn candidates(&self, message: &str) -> Vec<&HashMap<String, String>> {
        let (module, short) = message.rsplit_once('.').unwrap_or(("", message));
        let short = short.to_lowercase();
        let group = module.rsplit_once('.').map_or("", |(g, _)| g);
        let mut found: Vec<(u8, &String, &HashMap<String, String>)> = self
            .by_struct
            .iter()
            .filter(|((_, s), _)| *s == short)
            .map(|((m, _), fields)| {
                let rank = if m == module {
                    0
                } else if m.rsplit_once('.').map_or("", |(g, _)| g) == group {
                    1
                } else {
                    2
                };
                (rank, m, fields)
            })
            .collect();
        found.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        found.into_iter().map(|(_, _, f)| f).collect()
    }

    /// Whether a field is a Go struct embedded with `json:",inline"` (its fields appear in
    /// the parent's JSON): a message field the parent's k8s-openapi model does not have,
    /// because k8s-openapi flattens embedded structs, and whose own fields the parent's model
    /// does have (`Probe.handler` holds `httpGet`, `exec`, ...). `child` lists the embedded
    /// message's field names.
    fn is_embedded(
        &self,
        message: &str,
        parents: &[&HashMap<String, String>],
        f: &FieldDesc,
        child: Option<&MessageDesc>,
    ) -> bool {
        let (module, short) = message.rsplit_once('.').unwrap_or(("", message));
        let Some(exact) = self
            .by_struct
            .get(&(module.to_string(), short.to_lowercase()))
        else {
            return false;
        };
        // Only the same module's model: another version may embed where this one nests
        // (node/v1 RuntimeClass flattens what v1alpha1 keeps under `spec`).
        let parent = exact;
        let Some(child) = child else {
            return false;
        };
        let key = normalize(&f.rust_name);
        let flattened = child
            .fields
            .iter()
            .filter(|c| parent.contains_key(&normalize(&c.rust_name)))
            .count();
        !f.repeated
            && !f.ty.starts_with("map:")
            && !parents.iter().any(|p| p.contains_key(&key))
            && flattened > 0
            && flattened * 2 >= child.fields.len()
    }
}

/// Reads the deserializers of every Kubernetes version k8s-openapi carries (later versions
/// win; names never change between versions).
fn json_names(src: &Path) -> Result<JsonNames> {
    let struct_re = regex::Regex::new(r"pub struct (\w+)")?;
    let field_re = regex::Regex::new(r#""([^"]+)" => Field::Key_(\w+),"#)?;
    let mut versions: Vec<PathBuf> = std::fs::read_dir(src)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("v1_"))
        })
        .collect();
    versions.sort();
    if versions.is_empty() {
        bail!("no Kubernetes version modules under {}", src.display());
    }
    let mut out = JsonNames::default();
    for version in versions {
        for file in rust_files(&version)? {
            let text = std::fs::read_to_string(&file)?;
            let Some(s) = struct_re.captures(&text) else {
                continue;
            };
            let dir = file.parent().unwrap_or(&version);
            let module = if dir == version {
                String::new()
            } else {
                module_of(&version, &dir.join("mod.rs"))
            };
            let entry = out
                .by_struct
                .entry((module, s[1].to_lowercase()))
                .or_default();
            for c in field_re.captures_iter(&text) {
                // Keyed by both spellings: the JSON name (`$ref` -> `ref`) wins.
                entry
                    .entry(normalize(&c[2]))
                    .or_insert_with(|| c[1].to_string());
                entry.insert(normalize(&c[1]), c[1].to_string());
                // Lowercase spellings (`port`, not `Port`) are the common ones; ASCII puts them last.
                out.anywhere
                    .entry(normalize(&c[1]))
                    .and_modify(|j| {
                        if c[1] > **j {
                            *j = c[1].to_string();
                        }
                    })
                    .or_insert_with(|| c[1].to_string());
            }
        }
    }
    Ok(out)
}

/// Case and separators ignored: `cluster_ip`, `clusterIP` and `u_id`/`uid` meet.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn lower_camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_string()
    } else {
        format!("{module}.{name}")
    }
}
