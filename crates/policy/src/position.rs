//! Turning byte offsets in a TOML text into line and column.

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
}
