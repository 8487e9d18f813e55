//! The SPBE category of an application: `umum` (common, used by every OPD) or `khusus`
//! (special, one OPD's business). Stored as that text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Umum,
    Khusus,
}

impl Category {
    pub const ALL: [Category; 2] = [Category::Umum, Category::Khusus];

    /// What a face says when it is given anything else (prefixed with the field's name).
    pub const EXPECTED: &'static str = "must be `umum` or `khusus`";

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Umum => "umum",
            Category::Khusus => "khusus",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_read_and_write_as_stored() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
        assert_eq!(Category::parse("khusus"), Some(Category::Khusus));
        assert_eq!(Category::parse("semua"), None);
        assert_eq!(Category::parse("Umum"), None, "stored lowercase only");
        assert_eq!(Category::parse(""), None);
        assert!(serde_json::from_str::<Category>("\"semua\"").is_err());
        assert_eq!(serde_json::from_str::<Category>("\"umum\"").unwrap(), Category::Umum);
    }
}
