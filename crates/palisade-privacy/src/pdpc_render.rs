//! The plain-text rendering of a draft, escaped for wherever it is pasted.

use std::fmt::Write as _;

use super::{Draft, when};

/// Escapes one line of a value: `&`, `<` and `>` become HTML entities (no markup survives a paste into a web
/// form or mail), and a line that a spreadsheet would read as a formula (starting with `=`, `+`, `@`, or `-` not
/// followed by a space, the OWASP CSV-injection set, after any leading blanks) is prefixed with `'`.
#[must_use]
pub fn escape_line(line: &str) -> String {
    let escaped = line.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    // Leading blanks do not make a formula safe everywhere: look past them.
    let mut chars = escaped.trim_start().chars();
    let formula = match chars.next() {
        Some('=' | '+' | '@') => true,
        Some('-') => !matches!(chars.next(), Some(' ') | None),
        _ => false,
    };
    if formula { format!("'{escaped}") } else { escaped }
}

/// The draft as text: numbered sections, one `Label: value` line per field, a value's further lines indented
/// under it (so no value can start a line that looks like another field).
#[must_use]
pub fn render_text(draft: &Draft) -> String {
    let mut out = String::from("PDPC DATA BREACH NOTIFICATION: DRAFT, NOT SUBMITTED\n");
    let _ = writeln!(out, "Prepared {}. Check every field before filing it with the PDPC.", when(draft.prepared_at));
    for (n, section) in draft.sections.iter().enumerate() {
        let _ = writeln!(out, "\n{}. {}", n + 1, section.title);
        for field in &section.fields {
            let (label, provision) = field.key.label();
            let mut lines = field.value.lines();
            let first = lines.next().map(escape_line).unwrap_or_default();
            let _ = writeln!(out, "  {label} [{provision}]: {first}");
            for line in lines {
                let _ = writeln!(out, "      {}", escape_line(line));
            }
        }
    }
    out
}
