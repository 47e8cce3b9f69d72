//! The stable output format: one JSON object per line.

use serde_json::{Value, json};

/// One measured figure, optionally beside its baseline.
pub struct Figure<'a> {
    pub bench: &'a str,
    pub metric: &'a str,
    pub value: f64,
    pub unit: &'a str,
    pub baseline: Option<(&'a str, f64)>,
}

impl Figure<'_> {
    /// Prints the figure as one JSON line; `ratio` is value / baseline.
    pub fn print(&self) {
        println!("{}", self.to_json());
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "bench": self.bench,
            "metric": self.metric,
            "value": round(self.value),
            "unit": self.unit,
        });
        if let Some((metric, baseline)) = self.baseline {
            v["baseline_metric"] = json!(metric);
            v["baseline"] = json!(round(baseline));
            if baseline != 0.0 {
                v["ratio"] = json!(round(self.value / baseline));
            }
        }
        v
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
        let v = f.to_json();
        assert_eq!(v["ratio"], 0.7);
        assert_eq!(v["baseline_metric"], "store_create_per_s");
    }
}
