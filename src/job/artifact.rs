//! Where each artifact's bytes come from (`--artifact SOURCE=FILE`, a local path, or
//! `--fetch`), and go-getter's `checksum` and `archive` options.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::Digest;

use super::JobError;

/// `--fetch` downloads larger than this are cut off (and then fail to unpack).
pub const MAX_DOWNLOAD_BYTES: u64 = 16 << 30;

/// `--artifact SOURCE=FILE`: an exact source, or a prefix ending in `/` whose rest names
/// a file inside the directory FILE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub source: String,
    pub target: PathBuf,
}

pub fn parse_mappings(args: &[String]) -> Result<Vec<Mapping>, JobError> {
    args.iter()
        .map(|a| {
            // Sources contain `=` only in query strings; split at the last `=`.
            match a.rsplit_once('=') {
                Some((s, f)) if !s.is_empty() && !f.is_empty() => Ok(Mapping {
                    source: s.to_owned(),
                    target: PathBuf::from(f),
                }),
                _ => Err(JobError::Usage(format!(
                    "--artifact `{a}` must have the form SOURCE=FILE (or PREFIX/=DIR)"
                ))),
            }
        })
        .collect()
}

/// Split `url?query` into the part before the query and its `k=v` pairs.
pub fn split_query(source: &str) -> (&str, Vec<(String, String)>) {
    match source.split_once('?') {
        Some((base, q)) => (
            base,
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        ),
        None => (source, Vec::new()),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Strip go-getter's forced-getter prefix (`http::`, `file::`…).
fn strip_forced(s: &str) -> &str {
    match s.find("::") {
        Some(i) if !s[..i].contains('/') && !s[..i].contains(':') => &s[i + 2..],
        _ => s,
    }
}

/// The name go-getter sees: the URL's path, whose suffix picks the decompressor
/// (`hashicorp/go-getter:client.go` matches the extension on the source URL's path).
pub fn source_name(source: &str) -> String {
    let (base, _) = split_query(strip_forced(source));
    let base = base.split_once("//").map_or(base, |(scheme, rest)| {
        if scheme.ends_with(':') {
            rest.find('/').map_or("", |i| &rest[i..])
        } else {
            base
        }
    });
    // `//subdir` selectors are not part of the file name.
    base.to_owned()
}

/// A source go-getter fetches with its git getter.
pub fn is_git(source: &str) -> bool {
    source.starts_with("git::")
}

/// Whether go-getter would pick a decompressor for this name (`decompress.go`).
pub fn has_archive_suffix(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip", ".tar", ".tar.zst",
        ".tzst", ".gz", ".bz2", ".xz", ".zst",
    ];
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Everything that can go wrong finding an artifact's bytes is a usage error (exit 2).
pub struct Resolver<'a> {
    pub mappings: &'a [Mapping],
    pub base_dir: &'a Path,
    pub fetch: bool,
    pub download_dir: &'a Path,
}

impl Resolver<'_> {
    /// The local file for `source` (after interpolation, without options).
    pub fn resolve(&self, task: &str, source: &str) -> Result<PathBuf, JobError> {
        let (base, _) = split_query(source);
        for m in self.mappings {
            if m.source == source || m.source == base {
                return Ok(m.target.clone());
            }
        }
        let mut best: Option<&Mapping> = None;
        for m in self.mappings {
            if m.source.ends_with('/')
                && base.starts_with(&m.source)
                && best.is_none_or(|b| m.source.len() > b.source.len())
            {
                best = Some(m);
            }
        }
        if let Some(m) = best {
            let rest = &base[m.source.len()..];
            let rel = Path::new(rest);
            if rest.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(JobError::Usage(format!(
                    "artifact \"{source}\" of task \"{task}\": the part after the mapped prefix `{}` (`{rest}`) is not a plain relative file name",
                    m.source
                )));
            }
            return Ok(m.target.join(rel));
        }
        let plain = strip_forced(base);
        if plain.len() != base.len() {
            let getter = &base[..base.len() - plain.len() - 2];
            if !matches!(getter, "http" | "https" | "file") {
                return Err(JobError::Usage(format!(
                    "artifact \"{source}\" of task \"{task}\" uses go-getter's `{getter}::` getter, which cannot run offline: fetch it yourself and pass --artifact {source}={}",
                    if getter == "git" {
                        "DIR (a checkout)"
                    } else {
                        "FILE"
                    }
                )));
            }
        }
        if let Some(p) = plain.strip_prefix("file://") {
            return Ok(self.base_dir.join(p));
        }
        let scheme = plain.split_once("://").map(|(s, _)| s);
        match scheme {
            None => Ok(self.base_dir.join(plain)),
            Some("http" | "https") if self.fetch => self.download(task, plain),
            _ => Err(JobError::Usage(format!(
                "artifact \"{source}\" of task \"{task}\" is not mapped to a local file: pass --artifact {source}=FILE, or a prefix such as --artifact {}=DIR{}",
                prefix_of(base),
                if matches!(scheme, Some("http")) {
                    ", or --fetch to download it"
                } else {
                    ""
                }
            ))),
        }
    }

    /// go-getter's HTTP getter for `--fetch`: a GET (redirects followed, the system's CA
    /// roots for https), a 2xx answer saved under the URL's file name.
    fn download(&self, task: &str, url: &str) -> Result<PathBuf, JobError> {
        let fail = |m: String| {
            JobError::Usage(format!(
                "artifact \"{url}\" of task \"{task}\": --fetch failed: {m}"
            ))
        };
        let response = http_agent()
            .map_err(fail)?
            .get(url)
            .call()
            .map_err(|e| match e {
                ureq::Error::Status(code, r) => {
                    fail(format!("the server answered {code} {}", r.status_text()))
                }
                ureq::Error::Transport(t) => fail(t.to_string()),
            })?;
        let path = url.split_once("://").map_or(url, |(_, r)| r);
        let path = path.find('/').map_or("/", |i| &path[i..]);
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "artifact".into());
        // One directory per download: two sources may share a file name.
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.download_dir.join(n.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| fail(format!("cannot create `{}`: {e}", dir.display())))?;
        let file = dir.join(name);
        let mut out = std::fs::File::create(&file)
            .map_err(|e| fail(format!("cannot write `{}`: {e}", file.display())))?;
        let copied = std::io::copy(
            &mut response.into_reader().take(MAX_DOWNLOAD_BYTES + 1),
            &mut out,
        )
        .map_err(|e| fail(format!("cannot read the response: {e}")))?;
        if copied > MAX_DOWNLOAD_BYTES {
            return Err(fail(format!(
                "larger than {MAX_DOWNLOAD_BYTES} bytes: download it yourself and pass --artifact"
            )));
        }
        Ok(file)
    }
}

/// An HTTP client for `--fetch`: timeouts, and for https this host's CA roots.
fn http_agent() -> Result<ureq::Agent, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout_read(std::time::Duration::from_secs(60))
        .user_agent(concat!("nomad-chroot-check/", env!("CARGO_PKG_VERSION")))
        .tls_config(std::sync::Arc::new(tls))
        .build())
}

fn prefix_of(base: &str) -> String {
    match base.rfind('/') {
        Some(i) if base[..i].contains("://") && !base[..i].ends_with('/') => base[..=i].to_owned(),
        _ => base.to_owned(),
    }
}

/// go-getter's `checksum` option: `type:hex`, or bare hex whose length names the type
/// (`hashicorp/go-getter:checksum.go` `newChecksumFromValue`/`newChecksumFromType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub kind: String,
    pub expected: Vec<u8>,
}

impl Checksum {
    pub fn parse(value: &str) -> Result<Checksum, String> {
        let (kind, hexval) = match value.split_once(':') {
            Some((k, v)) => (k.to_owned(), v),
            None => {
                let kind = match value.len() {
                    32 => "md5",
                    40 => "sha1",
                    64 => "sha256",
                    128 => "sha512",
                    _ => return Err(format!("Unknown type for checksum {value}")),
                };
                (kind.to_owned(), value)
            }
        };
        if kind == "file" {
            return Err(
                "checksum=file:… (a checksum file to download) is not supported offline; give the digest as type:hex"
                    .into(),
            );
        }
        if !matches!(kind.as_str(), "md5" | "sha1" | "sha256" | "sha512") {
            return Err(format!("unsupported checksum type: {kind}"));
        }
        let expected = hex::decode(hexval).map_err(|e| format!("invalid checksum: {e}"))?;
        Ok(Checksum { kind, expected })
    }

    /// `None` when the file matches; go-getter's `ChecksumError` text when it does not.
    pub fn verify(&self, file: &Path) -> Result<Option<String>, std::io::Error> {
        let mut f = std::fs::File::open(file)?;
        let actual = match self.kind.as_str() {
            "md5" => digest::<md5::Md5>(&mut f)?,
            "sha1" => digest::<sha1::Sha1>(&mut f)?,
            "sha512" => digest::<sha2::Sha512>(&mut f)?,
            _ => digest::<sha2::Sha256>(&mut f)?,
        };
        if actual == self.expected {
            return Ok(None);
        }
        // `hashicorp/go-getter:checksum.go` `ChecksumError.Error`: the last line is
        // Go's `%T` of the hash, e.g. `*sha256.digest`.
        Ok(Some(format!(
            "Checksums did not match for {}.\nExpected: {}\nGot: {}\n*{}.digest",
            file.display(),
            hex::encode(&self.expected),
            hex::encode(&actual),
            self.kind
        )))
    }
}

fn digest<D: Digest + Write>(f: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut h = D::new();
    std::io::copy(f, &mut h)?;
    Ok(h.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_url_paths() {
        assert_eq!(
            source_name("http://127.0.0.1:8080/postgresql-11.11-0.tar.gz"),
            "/postgresql-11.11-0.tar.gz"
        );
        assert_eq!(source_name("https://h/a/b.zip?archive=zip"), "/a/b.zip");
        assert_eq!(source_name("local/app.tgz"), "local/app.tgz");
        assert_eq!(source_name("file:///srv/app.tar.xz"), "/srv/app.tar.xz");
    }

    #[test]
    fn queries_split_and_decode() {
        let (b, q) = split_query("http://h/x.tgz?checksum=sha256%3Aab&archive=false");
        assert_eq!(b, "http://h/x.tgz");
        assert_eq!(
            q,
            vec![
                ("checksum".into(), "sha256:ab".into()),
                ("archive".into(), "false".into())
            ]
        );
    }

    #[test]
    fn mappings_exact_prefix_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let maps = parse_mappings(&[
            "http://127.0.0.1:8080/=/srv/art".into(),
            "http://127.0.0.1:8080/special.tgz=/tmp/s.tgz".into(),
        ])
        .unwrap();
        let r = Resolver {
            mappings: &maps,
            base_dir: Path::new("/jobs"),
            fetch: false,
            download_dir: dir.path(),
        };
        assert_eq!(
            r.resolve("t", "http://127.0.0.1:8080/app-1.0.tar.gz")
                .unwrap(),
            PathBuf::from("/srv/art/app-1.0.tar.gz")
        );
        assert_eq!(
            r.resolve("t", "http://127.0.0.1:8080/special.tgz").unwrap(),
            PathBuf::from("/tmp/s.tgz")
        );
        assert_eq!(
            r.resolve("t", "bundles/a.tgz").unwrap(),
            PathBuf::from("/jobs/bundles/a.tgz")
        );
        assert_eq!(
            r.resolve("t", "file:///abs/a.tgz").unwrap(),
            PathBuf::from("/abs/a.tgz")
        );
        let e = r
            .resolve("t", "http://127.0.0.1:8080/../etc/passwd")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a plain relative file name"), "{e}");
        let e = r
            .resolve("srv", "https://example.com/dl/app.tgz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("https://example.com/dl/app.tgz"), "{e}");
        assert!(e.contains("--artifact https://example.com/dl/=DIR"), "{e}");
        assert!(parse_mappings(&["nothing".into()]).is_err());
        let e = r
            .resolve("t", "git::https://example.com/repo.git")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`git::` getter"), "{e}");
        assert_eq!(
            r.resolve("t", "file::bundles/a.tgz").unwrap(),
            PathBuf::from("/jobs/bundles/a.tgz")
        );
    }

    #[test]
    fn checksums_like_go_getter() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"hello\n").unwrap();
        // sha256("hello\n")
        let good = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert_eq!(
            Checksum::parse(&format!("sha256:{good}"))
                .unwrap()
                .verify(&f)
                .unwrap(),
            None
        );
        assert_eq!(Checksum::parse(good).unwrap().kind, "sha256");
        assert_eq!(
            Checksum::parse("md5:b1946ac92492d2347c6235b4d2611184")
                .unwrap()
                .verify(&f)
                .unwrap(),
            None
        );
        assert_eq!(
            Checksum::parse("sha1:f572d396fae9206628714fb2ce00f72e94f2258f")
                .unwrap()
                .verify(&f)
                .unwrap(),
            None
        );
        let bad = Checksum::parse(&format!("sha256:{}", "00".repeat(32)))
            .unwrap()
            .verify(&f)
            .unwrap()
            .unwrap();
        assert_eq!(
            bad,
            format!(
                "Checksums did not match for {}.\nExpected: {}\nGot: {good}\n*sha256.digest",
                f.display(),
                "00".repeat(32)
            )
        );
        assert!(Checksum::parse("crc32:00").is_err());
        assert!(Checksum::parse("abc").is_err());
        assert!(Checksum::parse("sha256:zz").is_err());
    }
}
