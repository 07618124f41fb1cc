//! Reading jurisdiction files: one text, one file, or a directory of files.
//!
//! The only I/O in this crate is here, in [`load_file`] and [`load_dir`].

use std::path::Path;

use serde_path_to_error::Segment;

use crate::error::ConfigError;
use crate::jurisdiction::{Jurisdiction, Jurisdictions};
use crate::position::line_column;
use crate::raw::RawFile;
use crate::validate::{Source, validate};

/// Parses and validates one jurisdiction from TOML `text`; `file` names it in errors.
pub fn load_str(text: &str, file: &str) -> Result<Jurisdiction, ConfigError> {
    load_with_id_offset(text, file).map(|(j, _)| j)
}

/// Like [`load_str`], also returning the byte offset of the `id` value.
fn load_with_id_offset(text: &str, file: &str) -> Result<(Jurisdiction, usize), ConfigError> {
    let doc = toml::Deserializer::parse(text).map_err(|e| syntax_error(text, file, &e))?;
    let raw: RawFile =
        serde_path_to_error::deserialize(doc).map_err(|e| shape_error(text, file, &e))?;
    let id_offset = raw.id.span().start;
    let j = validate(raw, &Source { text, file })?;
    Ok((j, id_offset))
}

/// A file that is not TOML at all, located by toml's span.
fn syntax_error(text: &str, file: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
    ConfigError {
        file: file.to_owned(),
        line,
        column,
        key: None,
        message: format!("TOML syntax error: {}", e.message()),
    }
}

/// TOML whose shape is not a jurisdiction's: located by toml's span, the key
/// named by the path serde was deserializing. A missing key's error points
/// at its table; serde names the key only in its message
/// (``missing field `x` ``), so that is where it is read from.
fn shape_error(
    text: &str,
    file: &str,
    e: &serde_path_to_error::Error<toml::de::Error>,
) -> ConfigError {
    let inner = e.inner();
    let (line, column) = line_column(text, inner.span().map_or(0, |s| s.start));
    let mut path: Vec<String> = e
        .path()
        .iter()
        .filter_map(|segment| match segment {
            // `$__…` keys are serde's private ones (toml's `Spanned` wraps
            // each value in one), not the file's.
            Segment::Map { key } if !key.starts_with("$__") => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            _ => None,
        })
        .collect();
    let message = inner.message();
    if let Some(missing) = backticked_after(message, "missing field ") {
        path.push(missing.to_owned());
    }
    ConfigError {
        file: file.to_owned(),
        line,
        column,
        key: (!path.is_empty()).then(|| path.join(".")),
        message: message
            .replacen("missing field", "missing required key", 1)
            .replacen("unknown field", "unknown key", 1),
    }
}

/// The text between backticks right after `prefix`, e.g. `name` in "missing field `name`".
fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split('`').next()
}

/// Reads and validates one jurisdiction file. A file that cannot be read is an
/// error with line 0.
pub fn load_file(path: &Path) -> Result<Jurisdiction, ConfigError> {
    let file = path.display().to_string();
    let text = read(path)?;
    load_str(&text, &file)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::whole_file(
            &path.display().to_string(),
            format!("cannot read this jurisdiction file: {e}"),
        )
    })
}

/// All `*.toml` in a directory, sorted by file name; duplicate ids refused (naming both files); an empty directory is an error.
///
/// Subdirectories and files with other extensions are ignored. The first
/// invalid file stops loading.
pub fn load_dir(dir: &Path) -> Result<Jurisdictions, ConfigError> {
    let dir_name = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigError::whole_file(
            &dir_name,
            format!("cannot list this jurisdictions directory: {e}"),
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            ConfigError::whole_file(
                &dir_name,
                format!("cannot list this jurisdictions directory: {e}"),
            )
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if paths.is_empty() {
        return Err(ConfigError::whole_file(
            &dir_name,
            "no jurisdiction files (*.toml) in this directory; add at least one (see docs/configuration.md)",
        ));
    }
    let mut all = Jurisdictions::default();
    let mut source_of: std::collections::BTreeMap<String, String> = Default::default();
    for path in paths {
        let file = path.display().to_string();
        let text = read(&path)?;
        let (j, id_offset) = load_with_id_offset(&text, &file)?;
        if let Some(first) = source_of.get(&j.id) {
            let (line, column) = line_column(&text, id_offset);
            return Err(ConfigError {
                file,
                line,
                column,
                key: Some("id".into()),
                message: format!(
                    "id {:?} is already used by {first}; every jurisdiction needs its own id",
                    j.id
                ),
            });
        }
        source_of.insert(j.id.clone(), file);
        all.insert(j);
    }
    Ok(all)
}
