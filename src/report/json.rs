use std::io::{self, Write};

use serde::Serialize;

/// One pretty-printed JSON document and its newline: the form of every mode's
/// `--format json` document.
pub fn write<T: Serialize + ?Sized>(doc: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}
