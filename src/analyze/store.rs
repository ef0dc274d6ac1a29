//! Nix store paths: recognising them, and checking that every store path the bundle's
//! files mention is present in the task's root. The scan itself happens during
//! extraction (`ExtractSummary::store_refs`); this is only the membership check.

use std::collections::{BTreeMap, BTreeSet};

use crate::finding::{Cause, Finding, Kind, Severity};
use crate::rootfs::RootFs;

/// Nix's base-32 alphabet (`nix/src/libutil/hash.cc` `base32Chars`).
const NIX_BASE32: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

fn is_hash_part(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| NIX_BASE32.contains(&c))
}

/// `/nix/store/<hash>-<name>` for a path that starts with one.
pub fn store_path_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/nix/store/")?;
    let top = rest.split('/').next()?;
    let (hash, name) = top.split_at_checked(32)?;
    (is_hash_part(hash) && name.starts_with('-') && name.len() > 1)
        .then(|| format!("/nix/store/{top}"))
}

/// The store path a task path lies in, wherever the store was unpacked
/// (`/local/nix/store/…` too).
pub fn store_path_within(path: &str) -> Option<String> {
    let i = path.find("/nix/store/")?;
    store_path_of(&path[i..])
}

/// `glibc-2.40` for `/nix/store/<hash>-glibc-2.40`.
pub fn store_name(store_path: &str) -> &str {
    store_path
        .strip_prefix("/nix/store/")
        .and_then(|s| s.get(33..))
        .unwrap_or(store_path)
}

/// The fix for a missing store path: where it was unpacked instead when the bundle has
/// it under another directory (a `/nix/store` closure deployed with `destination =
/// "local/"`), else which package's closure it belongs to.
pub fn fix_hint(fs: &RootFs, sp: &str, owner: Option<&str>) -> String {
    for prefix in ["/local", "/alloc/data", "/alloc"] {
        let there = format!("{prefix}{sp}");
        if fs.resolve(&there).is_ok() {
            return format!(
                "add {sp} to the bundle at /nix/store: the artifact unpacked it at {there}; set the artifact's destination = \"/\" so store paths land where they are named"
            );
        }
    }
    match owner {
        Some(o) => format!("add {sp} to the bundle: it is in the closure of {o}"),
        None => format!("add {sp} to the bundle"),
    }
}

/// The store paths the analysed closure lives in, closed over the references the
/// bundle's files make: what Nix itself would call the closure.
pub fn scope_closure(
    seed_files: &BTreeSet<String>,
    refs: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    // store path → store paths its files reference
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut loose: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (target, files) in refs {
        for f in files {
            match store_path_within(f) {
                Some(sp) => {
                    edges.entry(sp).or_default().insert(target.clone());
                }
                None => {
                    loose.entry(f.as_str()).or_default().insert(target.as_str());
                }
            }
        }
    }
    let mut scope: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    for f in seed_files {
        if let Some(sp) = store_path_within(f) {
            todo.push(sp);
        }
        if let Some(ts) = loose.get(f.as_str()) {
            todo.extend(ts.iter().map(|t| (*t).to_owned()));
        }
    }
    while let Some(sp) = todo.pop() {
        if scope.insert(sp.clone()) {
            if let Some(next) = edges.get(&sp) {
                todo.extend(next.iter().cloned());
            }
        }
    }
    scope
}

/// Every referenced store path missing from the root: an error when a file of the
/// analysed closure's store paths names it, a warning when only other files do.
/// `chains` gives the chain to each file the closure uses: a finding's `needed_by` is
/// the shortest of them to a referring file, that file last.
pub fn check_refs(
    fs: &RootFs,
    refs: &BTreeMap<String, BTreeSet<String>>,
    scope: &BTreeSet<String>,
    seed_files: &BTreeSet<String>,
    chains: &BTreeMap<String, Vec<String>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (sp, files) in refs {
        if fs.resolve(sp).is_ok() {
            continue;
        }
        let needed = scope.contains(sp)
            || files.iter().any(|f| {
                seed_files.contains(f) || store_path_within(f).is_some_and(|s| scope.contains(&s))
            });
        let severity = if needed {
            Severity::Error
        } else {
            Severity::Warning
        };
        let referrers: Vec<String> = files.iter().cloned().collect();
        // The referring file the closure reaches soonest; a store path's files count
        // as reached through the closure file that lives in it.
        let chain = referrers
            .iter()
            .filter_map(|f| {
                let c = chains.get(f).or_else(|| {
                    let sp = store_path_within(f)?;
                    chains
                        .iter()
                        .filter(|(k, _)| store_path_within(k).as_deref() == Some(sp.as_str()))
                        .map(|(_, c)| c)
                        .min_by_key(|c| c.len())
                })?;
                let mut c = c.clone();
                c.push(f.clone());
                Some(c)
            })
            .min_by_key(Vec::len)
            .unwrap_or_default();
        let owner = referrers
            .iter()
            .filter_map(|f| store_path_within(f))
            .find(|owner| owner != sp)
            .map(|s| store_name(&s).to_owned());
        let named: Vec<&str> = referrers.iter().take(3).map(String::as_str).collect();
        let mut msg = format!(
            "{} is referenced by {} file{} of the bundle ({}{}) but is neither in the bundle nor in chroot_env",
            sp,
            referrers.len(),
            if referrers.len() == 1 { "" } else { "s" },
            named.join(", "),
            if referrers.len() > named.len() {
                ", …"
            } else {
                ""
            }
        );
        if !needed {
            msg.push_str(" (none of them is in the analysed closure)");
        }
        let hint = fix_hint(fs, sp, owner.as_deref());
        out.push(
            Finding::new(severity, Kind::Missing, Cause::StoreReference, sp.clone())
                .needed_by(chain)
                .message(msg)
                .hint(hint)
                .on_host(std::path::Path::new(sp).exists()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdfghijklmnpqrsvwxyz";

    #[test]
    fn recognises_store_paths() {
        let p = format!("/nix/store/{H}-glibc-2.40/lib/libc.so.6");
        assert_eq!(
            store_path_of(&p),
            Some(format!("/nix/store/{H}-glibc-2.40"))
        );
        assert_eq!(store_name(&store_path_of(&p).unwrap()), "glibc-2.40");
        assert_eq!(
            store_path_within(&format!("/local{p}")),
            Some(format!("/nix/store/{H}-glibc-2.40"))
        );
        assert_eq!(store_path_of("/nix/store/short-x"), None);
        assert_eq!(store_path_of(&format!("/nix/store/{}e-x", &H[..31])), None);
        assert_eq!(store_path_of(&format!("/usr{p}")), None);
    }

    #[test]
    fn scope_follows_references() {
        let a = format!("/nix/store/{H}-a");
        let b = format!("/nix/store/{}-b", "1".repeat(32));
        let c = format!("/nix/store/{}-c", "2".repeat(32));
        let mut refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        refs.entry(b.clone())
            .or_default()
            .insert(format!("{a}/bin/a"));
        refs.entry(c.clone())
            .or_default()
            .insert("/local/notes.txt".into());
        let seeds: BTreeSet<String> = [format!("{a}/bin/a")].into();
        let scope = scope_closure(&seeds, &refs);
        assert!(scope.contains(&a) && scope.contains(&b) && !scope.contains(&c));
    }
}
