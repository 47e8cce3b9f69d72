//! One column definition of a `Table` (`columnDefinitions[]`).

use serde_json::{Value, json};

/// A `TableColumnDefinition`: name as upstream spells it (kubectl upper-cases it), cell type,
/// optional format (`name`, `date`), description and priority (1 = shown by `-o wide` only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
}

impl Column {
    /// A string column shown by default.
    pub fn new(name: &str, description: &str) -> Self {
        Column {
            name: name.to_string(),
            type_: "string".to_string(),
            format: String::new(),
            description: description.to_string(),
            priority: 0,
        }
    }

    /// The NAME column every printer starts with.
    pub fn name() -> Self {
        Column::new(
            "Name",
            "Name must be unique within a namespace; it identifies the object.",
        )
        .format("name")
    }

    /// The AGE column: time since the object's creationTimestamp.
    pub fn age() -> Self {
        Column::new(
            "Age",
            "Time since the server recorded the object's creationTimestamp.",
        )
    }

    pub fn integer(mut self) -> Self {
        self.type_ = "integer".to_string();
        self
    }

    pub fn type_(mut self, type_: &str) -> Self {
        self.type_ = type_.to_string();
        self
    }

    pub fn format(mut self, format: &str) -> Self {
        self.format = format.to_string();
        self
    }

    /// Marks a column shown only by `-o wide`.
    pub fn wide(mut self) -> Self {
        self.priority = 1;
        self
    }

    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}
