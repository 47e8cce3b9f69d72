//! Printing server-side `Table`s in kubectl's column layout.

use serde_json::Value;

/// Renders a `meta.k8s.io/v1` Table. `wide` shows priority > 0 columns; `namespace_column`
/// prepends a NAMESPACE column; `name_prefix` writes names as `pod/web` (when several
/// types are printed together).
pub fn render_table(
    table: &Value,
    wide: bool,
    namespace_column: bool,
    name_prefix: Option<&str>,
    with_headers: bool,
) -> String {
    let columns = table["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shown: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut lines: Vec<Vec<String>> = Vec::new();
    if with_headers {
        let mut header = Vec::new();
        if namespace_column {
            header.push("NAMESPACE".to_string());
        }
        for &i in &shown {
            header.push(
                columns[i]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
            );
        }
        lines.push(header);
    }
    for row in table["rows"].as_array().into_iter().flatten() {
        let mut line = Vec::new();
        if namespace_column {
            line.push(
                row["object"]["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        for (pos, &i) in shown.iter().enumerate() {
            let mut cell = cell_text(&row["cells"][i]);
            if pos == 0
                && let Some(prefix) = name_prefix
            {
                cell = format!("{prefix}/{cell}");
            }
            line.push(cell);
        }
        lines.push(line);
    }
    align(&lines)
}

/// Pads columns like Go's tabwriter with kubectl's settings (3 spaces between columns).
pub fn align(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            text.push_str(cell);
            if i + 1 < line.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                text.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => "<none>".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Objects as YAML, like `kubectl get -o yaml` (a `List` when there are several).
pub fn to_yaml(value: &Value) -> anyhow::Result<String> {
    Ok(serde_yaml::to_string(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_padded_and_wide_columns_hidden() {
        let table = json!({
            "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0},
                {"name": "IP", "priority": 1}
            ],
            "rows": [
                {"cells": ["web-1", "1/1", "10.0.0.5"], "object": {"metadata": {"namespace": "default"}}},
                {"cells": ["a", "0/1", null], "object": {"metadata": {"namespace": "kube-system"}}}
            ]
        });
        assert_eq!(
            render_table(&table, false, false, None, true),
            "NAME    READY\nweb-1   1/1\na       0/1\n"
        );
        assert_eq!(
            render_table(&table, true, true, Some("pod"), true),
            "NAMESPACE     NAME        READY   IP\n\
             default       pod/web-1   1/1     10.0.0.5\n\
             kube-system   pod/a       0/1     <none>\n"
        );
    }
}
