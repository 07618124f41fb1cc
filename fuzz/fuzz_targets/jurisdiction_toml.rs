//! Jurisdiction files (`parley_policy::load_str`): loaded, or refused
//! with an error that names the file and a position inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz.toml";

fuzz_target!(|text: &str| {
    if let Err(e) = parley_policy::load_str(text, FILE) {
        assert_eq!(e.file, FILE);
        assert!(!e.message.is_empty(), "an error without a message");
        let lines = text.split('\n').count();
        assert!(
            e.line <= lines,
            "line {} of a {lines}-line file: {e}",
            e.line
        );
        if e.line > 0 {
            let width = text
                .split('\n')
                .nth(e.line - 1)
                .map_or(0, |l| l.chars().count());
            assert!(
                e.column <= width + 1,
                "column {} of a {width}-character line: {e}",
                e.column
            );
        }
    }
});
