//! The error returned when a configuration file cannot be loaded.

/// An error loading configuration, naming the file, line, column and key.
///
/// `line` and `column` are 1-based (column counts characters); both are 0 when
/// the error concerns the file as a whole (it cannot be read, a directory is
/// empty). `key` is the dotted path of the offending key, e.g.
/// `recording.legal_visit`, when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{message}", location(file, *line, *column), key_part(key))]
pub struct ConfigError {
    /// The file (or directory) the error is in, as given by the caller.
    pub file: String,
    /// 1-based line, or 0 for the whole file.
    pub line: usize,
    /// 1-based column in characters, or 0 for the whole file.
    pub column: usize,
    /// The dotted key, e.g. `visits.weekly_quota`.
    pub key: Option<String>,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

fn location(file: &str, line: usize, column: usize) -> String {
    if line == 0 {
        format!("{file}: ")
    } else {
        format!("{file}:{line}:{column}: ")
    }
}

fn key_part(key: &Option<String>) -> String {
    match key {
        Some(k) => format!("key `{k}`: "),
        None => String::new(),
    }
}

impl ConfigError {
    /// An error about a whole file or directory (no position).
    pub fn whole_file(file: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            key: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_and_key() {
        let e = ConfigError {
            file: "config/jurisdictions/x.toml".into(),
            line: 12,
            column: 15,
            key: Some("recording.legal_visit".into()),
            message: "must be \"forbidden\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "config/jurisdictions/x.toml:12:15: key `recording.legal_visit`: must be \"forbidden\""
        );
    }

    #[test]
    fn display_without_position() {
        let e = ConfigError::whole_file("x.toml", "cannot read: denied");
        assert_eq!(e.to_string(), "x.toml: cannot read: denied");
    }
}
