//! Turning byte spans in a TOML text into line, column and dotted key.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// 1-based line and 1-based column (in characters) of byte `offset` in `text`.
///
/// An offset past the end, or inside a multi-byte character, is moved back to
/// the nearest character boundary.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted path of the innermost key whose key or value overlaps `span`,
/// e.g. `visits.weekly_quota`; `None` for an empty span or a span outside
/// every key (the document as a whole).
pub(crate) fn key_at(root: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    if span.is_empty() {
        return None;
    }
    let mut path = Vec::new();
    if find(root, span, &mut path) {
        Some(path.join("."))
    } else {
        None
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn find(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if let DeValue::Table(inner) = value.get_ref()
            && find(inner, span, path)
        {
            return true;
        }
        if overlaps(&key.span(), span) || overlaps(&value.span(), span) {
            return true;
        }
        path.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        let eq = text.find("= 2").unwrap_or(0);
        assert_eq!(line_column(text, eq), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn key_at_finds_nested_keys() {
        let text =
            "id = \"x\"\n[visits]\nweekly_quota = 3\n[recording]\nlegal_visit = \"required\"\n";
        let doc = DeTable::parse(text).unwrap();
        let at = |needle: &str| {
            let start = text.find(needle).unwrap();
            key_at(doc.get_ref(), &(start..start + needle.len()))
        };
        assert_eq!(at("\"x\"").as_deref(), Some("id"));
        assert_eq!(at("3").as_deref(), Some("visits.weekly_quota"));
        assert_eq!(at("\"required\"").as_deref(), Some("recording.legal_visit"));
        assert_eq!(at("[recording]").as_deref(), Some("recording"));
        assert_eq!(key_at(doc.get_ref(), &(0..0)), None);
    }
}
