//! The stable output format: one JSON object per line.

use serde::Serialize;

/// One measured figure, optionally beside its baseline.
pub struct Figure<'a> {
    pub bench: &'a str,
    pub metric: &'a str,
    pub value: f64,
    pub unit: &'a str,
    pub baseline: Option<(&'a str, f64)>,
}

/// A figure as printed: a struct rather than a JSON map, so the members keep this order
/// (maps print their keys sorted).
#[derive(Serialize)]
struct Line<'a> {
    bench: &'a str,
    metric: &'a str,
    value: f64,
    unit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_metric: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
}

impl Figure<'_> {
    /// Prints the figure as one JSON line; `ratio` is value / baseline.
    pub fn print(&self) {
        println!("{}", self.to_line());
    }

    fn to_line(&self) -> String {
        let line = Line {
            bench: self.bench,
            metric: self.metric,
            value: round(self.value),
            unit: self.unit,
            baseline_metric: self.baseline.map(|(m, _)| m),
            baseline: self.baseline.map(|(_, b)| round(b)),
            ratio: self
                .baseline
                .filter(|(_, b)| *b != 0.0)
                .map(|(_, b)| round(self.value / b)),
        };
        serde_json::to_string(&line).expect("a figure always serializes")
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_with_a_baseline_carries_the_ratio() {
        let f = Figure {
            bench: "api",
            metric: "create_per_s",
            value: 700.0,
            unit: "ops/s",
            baseline: Some(("store_create_per_s", 1000.0)),
        };
        assert_eq!(
            f.to_line(),
            r#"{"bench":"api","metric":"create_per_s","value":700.0,"unit":"ops/s","baseline_metric":"store_create_per_s","baseline":1000.0,"ratio":0.7}"#
        );
        let alone = Figure {
            baseline: None,
            ..f
        };
        assert_eq!(
            alone.to_line(),
            r#"{"bench":"api","metric":"create_per_s","value":700.0,"unit":"ops/s"}"#
        );
    }
}
