//! `hashicorp/go-cty-funcs/filesystem`: abspath, basename, dirname, file, filebase64,
//! fileexists, fileset, pathexpand. Relative paths start at the jobspec's directory,
//! as `nomad job run` sets `BaseDir`. Files are read as every input of ours is: regular
//! files only, and never more than [`MAX_INPUT_FILE_BYTES`].

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Args, Funcs};
use crate::config::MAX_INPUT_FILE_BYTES;
use crate::job::hcl::value::Value;

pub(super) fn call(f: &Funcs, name: &str, a: Args<'_>) -> Result<Value, String> {
    match name {
        "file" | "filebase64" => {
            a.count(1, 1)?;
            let path = resolve(&f.base_dir, &a.string(0, "path")?)?;
            let bytes = read(&path)?;
            if name == "filebase64" {
                return Ok(Value::String(STANDARD.encode(bytes)));
            }
            String::from_utf8(bytes).map(Value::String).map_err(|_| {
                format!(
                    "contents of {} are not valid UTF-8; use the filebase64 function to obtain the Base64 encoded contents or the other file functions (e.g. filemd5, filesha256) to obtain file hashing results instead",
                    path.display()
                )
            })
        }
        "fileexists" => {
            a.count(1, 1)?;
            let path = resolve(&f.base_dir, &a.string(0, "path")?)?;
            match std::fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
                Err(_) => Err(format!("failed to stat {}", path.display())),
                Ok(m) if m.is_file() => Ok(Value::Bool(true)),
                Ok(m) => Err(format!(
                    "{} is not a regular file, but {:?}",
                    path.display(),
                    if m.is_dir() {
                        "d---------"
                    } else {
                        "?---------"
                    }
                )),
            }
        }
        "fileset" => {
            a.count(2, 2)?;
            let root = resolve(&f.base_dir, &a.string(0, "path")?)?;
            let pattern = a.string(1, "pattern")?;
            fileset(&root, &pattern)
        }
        "abspath" => {
            a.count(1, 1)?;
            let p = a.string(0, "path")?;
            let base = std::env::current_dir().map_err(|e| e.to_string())?;
            Ok(Value::String(clean(&base.join(p)).display().to_string()))
        }
        "basename" => {
            a.count(1, 1)?;
            Ok(Value::String(go_base(&a.string(0, "path")?)))
        }
        "dirname" => {
            a.count(1, 1)?;
            Ok(Value::String(go_dir(&a.string(0, "path")?)))
        }
        "pathexpand" => {
            a.count(1, 1)?;
            Ok(Value::String(expand_home(&a.string(0, "path")?)?))
        }
        _ => unreachable!("dispatched by name"),
    }
}

fn expand_home(p: &str) -> Result<String, String> {
    if !p.starts_with('~') {
        return Ok(p.to_owned());
    }
    if p.len() > 1 && !p.starts_with("~/") {
        return Err("failed to expand ~: cannot expand user-specific home dir".into());
    }
    let home = std::env::var("HOME").map_err(|_| "failed to expand ~: no HOME".to_string())?;
    Ok(format!("{home}{}", &p[1..]))
}

fn resolve(base: &Path, p: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(expand_home(p)?);
    Ok(clean(&if p.is_absolute() { p } else { base.join(p) }))
}

/// Go's `filepath.Clean`, lexically.
fn clean(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no file exists at {}", path.display()),
        _ => format!("failed to read {}", path.display()),
    })?;
    // A device or FIFO (`/dev/zero`, `/dev/stdin`) would be read forever or block.
    if !meta.is_file() {
        return Err(format!(
            "failed to read {}: it is not a regular file",
            path.display()
        ));
    }
    let too_big = || {
        format!(
            "failed to read {}: larger than {MAX_INPUT_FILE_BYTES} bytes",
            path.display()
        )
    };
    if meta.len() > MAX_INPUT_FILE_BYTES {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_INPUT_FILE_BYTES + 1).read_to_end(&mut buf))
        .map_err(|_| format!("failed to read {}", path.display()))?;
    if buf.len() as u64 > MAX_INPUT_FILE_BYTES {
        return Err(too_big());
    }
    Ok(buf)
}

/// `doublestar.Glob(path/pattern)`: the regular files below `root` whose relative path
/// matches, `**` spanning directories.
fn fileset(root: &Path, pattern: &str) -> Result<Value, String> {
    let pat = glob::Pattern::new(pattern).map_err(|e| {
        format!(
            "failed to glob pattern ({}): {e}",
            root.join(pattern).display()
        )
    })?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            seen += 1;
            // A jobspec next to a huge tree must not walk it forever.
            if seen > 100_000 {
                return Err(format!(
                    "failed to glob pattern ({pattern}): more than 100000 entries under {}",
                    root.display()
                ));
            }
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(rel) = p.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            let is_file = std::fs::metadata(&p).is_ok_and(|m| m.is_file());
            if is_file && pat.matches_with(&rel, opts) {
                out.push(Value::String(rel));
            }
        }
    }
    Ok(Value::set_of(out))
}

/// Go's `filepath.Base`.
fn go_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_owned()
}

/// Go's `filepath.Dir`.
fn go_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    let c = clean(Path::new(dir));
    if dir.is_empty() {
        ".".into()
    } else {
        c.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::eval_in;
    use crate::job::hcl::value::Value;

    /// `hashicorp/go-cty-funcs:filesystem/filesystem_test.go`, with files of our own.
    #[test]
    fn file_functions_read_relative_to_the_jobspec() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("hello.txt"), "Hello World").unwrap();
        std::fs::write(d.join("icon.bin"), [0xffu8, 0xd8, 0xff]).unwrap();
        std::fs::create_dir_all(d.join("sub/deep")).unwrap();
        std::fs::write(d.join("sub/a.tmpl"), "a").unwrap();
        std::fs::write(d.join("sub/deep/b.tmpl"), "b").unwrap();
        std::fs::write(d.join("sub/c.txt"), "c").unwrap();
        let ev = |s: &str| eval_in(d, s);
        assert_eq!(ev("file(\"hello.txt\")"), Ok(Value::str("Hello World")));
        assert_eq!(
            ev("file(\"./sub/../hello.txt\")"),
            Ok(Value::str("Hello World"))
        );
        assert!(
            ev("file(\"icon.bin\")")
                .unwrap_err()
                .contains("not valid UTF-8")
        );
        assert!(
            ev("file(\"nope.txt\")")
                .unwrap_err()
                .contains("no file exists at")
        );
        assert!(
            ev("file(\"/dev/zero\")")
                .unwrap_err()
                .contains("is not a regular file")
        );
        assert_eq!(
            ev("filebase64(\"hello.txt\")"),
            Ok(Value::str("SGVsbG8gV29ybGQ="))
        );
        assert_eq!(ev("filebase64(\"icon.bin\")"), Ok(Value::str("/9j/")));
        assert_eq!(ev("fileexists(\"hello.txt\")"), Ok(Value::Bool(true)));
        assert_eq!(ev("fileexists(\"nope.txt\")"), Ok(Value::Bool(false)));
        assert!(
            ev("fileexists(\"sub\")")
                .unwrap_err()
                .contains("is not a regular file")
        );
        assert_eq!(
            ev("fileset(\"sub\", \"*.tmpl\")").unwrap().to_json(),
            serde_json::json!(["a.tmpl"])
        );
        assert_eq!(
            ev("fileset(\"sub\", \"**/*.tmpl\")").unwrap().to_json(),
            serde_json::json!(["a.tmpl", "deep/b.tmpl"])
        );
        assert_eq!(
            ev("fileset(\".\", \"sub/{a,c}.*\")")
                .map(|v| v.to_json())
                .unwrap_or_default(),
            serde_json::json!([])
        );
        assert_eq!(
            ev("fileset(\"sub\", \"*.none\")").unwrap().to_json(),
            serde_json::json!([])
        );
    }

    #[test]
    fn path_functions() {
        let d = std::path::Path::new("/nonexistent");
        let ev = |s: &str| eval_in(d, s).unwrap();
        assert_eq!(ev("basename(\"foo/bar/baz.txt\")"), Value::str("baz.txt"));
        assert_eq!(ev("basename(\"/\")"), Value::str("/"));
        assert_eq!(ev("basename(\"\")"), Value::str("."));
        assert_eq!(ev("dirname(\"foo/bar/baz.txt\")"), Value::str("foo/bar"));
        assert_eq!(ev("dirname(\"baz.txt\")"), Value::str("."));
        assert_eq!(ev("dirname(\"/baz.txt\")"), Value::str("/"));
        let home = std::env::var("HOME").unwrap();
        assert_eq!(ev("pathexpand(\"~/x\")"), Value::str(format!("{home}/x")));
        assert_eq!(ev("pathexpand(\"/etc\")"), Value::str("/etc"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            ev("abspath(\"a/../b\")"),
            Value::str(cwd.join("b").display().to_string())
        );
        assert_eq!(ev("abspath(\"/x/./y\")"), Value::str("/x/y"));
    }
}
