//! Input guards shared by every HCL reader (jobspecs, var files, client configs, node
//! files): hcl-edit's parser recurses once per nesting level and backtracks through
//! unclosed brackets, so pathological input is refused before it reaches the parser.

/// Deeper bracket nesting than this is refused before parsing: the parser recurses
/// once per level, and no real jobspec comes close.
pub const MAX_NESTING: usize = 100;
/// Open `[` and `(` at once, in one expression or across them. On input that leaves
/// them unclosed after a splat (`a[*][a[*][…`), the parser backtracks through every way
/// to close them: time doubles with about every second level (35 ms at 16 levels, 13 s
/// at 48, on this machine). Closed or not, no Nomad file comes near 12.
pub const MAX_BRACKETS: usize = 12;

/// Where a file nests too deeply (1-based line and column, the line's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
    pub text: String,
    pub message: String,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Refuse nesting deeper than [`MAX_NESTING`], or more than [`MAX_BRACKETS`] open
/// brackets. Strings, comments and heredoc bodies are skipped so their brackets do not
/// count, except inside `${ … }`.
pub fn check_nesting(text: &str) -> Result<(), TooDeep> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut brackets = 0usize;
    let is_bracket = |c: u8| matches!(c, b'[' | b'(' | b']' | b')');
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'"' => {
                // A quoted template: brackets inside `${ … }` nest in the parser too.
                i += 1;
                let mut t = Interp::default();
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'"' if t.depth == 0 => break,
                        b'\n' => break,
                        _ => i += t.step(&bytes[i..]),
                    }
                    if depth + t.depth > MAX_NESTING || brackets + t.brackets > MAX_BRACKETS {
                        return Err(too_deep(text, line, i - line_start));
                    }
                    i += 1;
                }
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                let mut j = i + 2;
                if bytes.get(j) == Some(&b'-') {
                    j += 1;
                }
                let start = j;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if j > start && bytes.get(j) == Some(&b'\n') {
                    let delim = &text[start..j];
                    // Skip to the line holding only the delimiter.
                    let mut k = j + 1;
                    let mut t = Interp::default();
                    loop {
                        line += 1;
                        let end = text[k..].find('\n').map(|n| k + n).unwrap_or(text.len());
                        if text[k..end].trim() == delim || end >= text.len() {
                            line_start = k;
                            i = end;
                            break;
                        }
                        // Interpolations in the body are parsed recursively as well.
                        let lb = &text.as_bytes()[k..end];
                        let mut x = 0;
                        while x < lb.len() {
                            x += t.step(&lb[x..]);
                            if depth + t.depth > MAX_NESTING || brackets + t.brackets > MAX_BRACKETS
                            {
                                return Err(too_deep(text, line, x));
                            }
                            x += 1;
                        }
                        k = end + 1;
                    }
                    continue;
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                brackets += usize::from(is_bracket(c));
                if depth > MAX_NESTING || brackets > MAX_BRACKETS {
                    return Err(too_deep(text, line, i - line_start));
                }
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                brackets = brackets.saturating_sub(usize::from(is_bracket(c)));
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Nesting inside the `${ … }` and `%{ … }` of one template.
#[derive(Default)]
struct Interp {
    depth: usize,
    /// Open `[` and `(` among them.
    brackets: usize,
}

impl Interp {
    /// Account for the byte at `at[0]`; returns how many bytes it took beyond the first
    /// (1 for the `{` of `${`).
    fn step(&mut self, at: &[u8]) -> usize {
        match at {
            [b'$' | b'%', b'{', ..] => {
                self.depth += 1;
                return 1;
            }
            [c @ (b'{' | b'[' | b'('), ..] if self.depth > 0 => {
                self.depth += 1;
                self.brackets += usize::from(*c != b'{');
            }
            [c @ (b'}' | b']' | b')'), ..] if self.depth > 0 => {
                self.depth -= 1;
                self.brackets = self.brackets.saturating_sub(usize::from(*c != b'}'));
            }
            _ => {}
        }
        0
    }
}

fn too_deep(text: &str, line: usize, col0: usize) -> TooDeep {
    TooDeep {
        line,
        column: col0 + 1,
        text: line_text(text, line),
        message: format!(
            "nesting deeper than {MAX_NESTING} levels, or more than {MAX_BRACKETS} open `[`/`(`; \
             refusing to parse (no jobspec or client config nests this deep)"
        ),
    }
}

/// The text of 1-based `line`, cut at 200 bytes so a huge single line cannot drown a
/// message.
pub fn line_text(text: &str, line: usize) -> String {
    let l = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    if l.len() > 200 {
        let mut end = 200;
        while !l.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &l[..end])
    } else {
        l.to_owned()
    }
}

/// 1-based line and column of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text.as_bytes()[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = text
        .get(start..at)
        .map_or(at - start, |s| s.chars().count())
        + 1;
    (line, col)
}
