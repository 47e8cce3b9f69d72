//! The controller enable list: `*` enables all, `name` enables one, `-name` disables one;
//! later entries win (`*,-cronjob` runs everything but the cronjob controller).

/// A parsed enable list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnableList {
    entries: Vec<(bool, String)>,
}

impl Default for EnableList {
    /// Everything enabled.
    fn default() -> Self {
        EnableList::parse("*")
    }
}

impl EnableList {
    /// Parses the comma-separated syntax; an empty list enables everything.
    pub fn parse(text: &str) -> Self {
        let mut entries: Vec<(bool, String)> = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.strip_prefix('-') {
                Some(name) => (false, name.trim().to_string()),
                None => (true, entry.to_string()),
            })
            .collect();
        if entries.is_empty() {
            entries.push((true, "*".to_string()));
        }
        EnableList { entries }
    }

    /// Whether the controller `name` runs.
    pub fn is_enabled(&self, name: &str) -> bool {
        self.entries
            .iter()
            .rfind(|(_, pattern)| pattern == "*" || pattern == name)
            .is_some_and(|(enabled, _)| *enabled)
    }
}

impl std::str::FromStr for EnableList {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(EnableList::parse(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_minus_name_disables_only_that_name() {
        let list = EnableList::parse("*,-cronjob");
        assert!(list.is_enabled("replicaset"));
        assert!(!list.is_enabled("cronjob"));
    }

    #[test]
    fn names_alone_enable_only_those() {
        let list = EnableList::parse("job, cronjob");
        assert!(list.is_enabled("job"));
        assert!(!list.is_enabled("replicaset"));
    }

    #[test]
    fn later_entries_win_and_empty_means_all() {
        assert!(EnableList::parse("-job,*").is_enabled("job"));
        assert!(!EnableList::parse("*,-*,").is_enabled("job"));
        assert!(EnableList::parse("").is_enabled("anything"));
    }
}
