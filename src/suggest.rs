//! "Did you mean …?" for a misspelt key, block or value (clap's and cargo's habit).

/// The candidate closest to `word`, when one is close enough to be a typo of it.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, c)| *score >= 0.8 && *c != word)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// ` (did you mean `x`?)`, or nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["name", "bundle", "expect", "exit_code", "stdout"];
        assert_eq!(closest("expected", keys), Some("expect"));
        assert_eq!(closest("bundel", keys), Some("bundle"));
        assert_eq!(closest("zzz", keys), None);
        assert_eq!(
            closest("confg", ["config", "env", "resources"]),
            Some("config")
        );
    }
}
