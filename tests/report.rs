//! What a user sees: the report's root causes, host dependencies and noise, the JSON
//! contract of every document (`docs/report-format.md`), SARIF, `--tree`, `--quiet`,
//! `-v`, the error documents, rejected archives, help texts and the README's Usage
//! commands, all through the built binary on the fixture bundles (`fixtures/build.sh`).
//!
//! A libtest-mimic harness: trials that need the fixture bundles or the sandbox are
//! reported ignored, with the reason, where those are missing.

mod contract;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nomad_chroot_check::finding::{Cause, Kind, VOCABULARY};
use serde_json::Value;
use strum::IntoEnumIterator;

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

type R = Result<(), Failed>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

fn fixture(case: &str) -> PathBuf {
    Path::new(REPO)
        .join("fixtures/build")
        .join(case)
        .join("bundle.tar.gz")
}

/// The tool in the repository, with a private TMPDIR (checked empty afterwards).
fn ncc(args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(args)
        .current_dir(REPO)
        .env("TMPDIR", tmp.path())
        .env_remove("RUST_LOG")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{args:?} left {left:?} in TMPDIR");
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

fn json_of(o: &Output) -> Result<Value, Failed> {
    serde_json::from_slice(&o.stdout)
        .map_err(|e| format!("stdout is not one JSON document ({e}):\n{}", describe(o)).into())
}

/// A bundle-mode report as JSON, checked against the contract.
fn report(args: &[&str]) -> Result<(Output, Value), Failed> {
    let mut a = vec!["--format", "json"];
    a.extend(args);
    let o = ncc(&a);
    let v = json_of(&o)?;
    contract::report(&v, o.status.code()).map_err(|e| format!("{e}\n{}", describe(&o)))?;
    Ok((o, v))
}

fn findings<'a>(v: &'a Value, kind: &str, cause: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == kind && f["cause"] == cause)
        .collect()
}

// ---------------------------------------------------------------------------------------

/// The document's kinds-and-causes table is the code's vocabulary, and the vocabulary
/// has every kind and cause the code defines.
fn vocabulary_matches_the_code() -> R {
    let doc = contract::documented_vocabulary();
    let code: BTreeMap<String, BTreeSet<String>> = VOCABULARY
        .iter()
        .map(|(k, cs)| {
            (
                k.name().to_owned(),
                cs.iter().map(|c| c.name().to_owned()).collect(),
            )
        })
        .collect();
    ensure!(
        doc == &code,
        "docs/report-format.md's table differs from finding::VOCABULARY:\ndoc:  {doc:?}\ncode: {code:?}"
    );
    for k in Kind::iter() {
        ensure!(!k.causes().is_empty(), "kind {} has no causes", k.name());
    }
    let used: BTreeSet<Cause> = VOCABULARY
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    for c in Cause::iter() {
        ensure!(used.contains(&c), "cause {} is in no kind's list", c.name());
    }
    Ok(())
}

/// README's first command on README's own example: one root cause said once, the
/// findings it explains grouped under it, no "glibc is not in the bundle".
fn destination_root_cause() -> R {
    let b = fixture("example-layout");
    let args = [
        b.to_str().unwrap(),
        "--client-config",
        "fixtures/example/client.hcl",
    ];
    let (o, v) = report(&args)?;
    ensure!(o.status.code() == Some(1), "{}", describe(&o));
    let causes = v["root_causes"].as_array().ok_or("no root_causes")?;
    ensure!(
        causes.len() == 1 && causes[0]["id"] == "destination",
        "{v:#}"
    );
    ensure!(
        v["summary"][0] == causes[0]["message"],
        "the headline: {}",
        v["summary"]
    );
    let summary = v["summary"].to_string();
    ensure!(!summary.contains("is not in the bundle"), "{summary}");
    for f in v["findings"].as_array().unwrap() {
        if f["severity"] == "error" {
            ensure!(f["root_cause"] == "destination", "not explained: {f:#}");
        }
        // A chain, entrypoint first: never a list of unrelated referrers.
        let chain = f["needed_by"].as_array().unwrap();
        if f["cause"] == "store-reference" && !chain.is_empty() {
            let first = chain[0].as_str().unwrap();
            ensure!(
                !first.contains("/lib/") || first.contains("/bin/"),
                "a store reference's chain starts at a program: {f:#}"
            );
        }
    }
    let t = ncc(&args);
    let out = text(&t.stdout);
    ensure!(
        out.matches("set the artifact's `destination = \"/\"`")
            .count()
            == 1,
        "the fix is said once:\n{out}"
    );
    ensure!(
        !out.contains("fix: add /nix/store"),
        "no per-finding fix lines for what the root cause explains:\n{out}"
    );
    ensure!(
        out.starts_with("FAIL: ")
            && out
                .lines()
                .nth(1)
                .is_some_and(|l| l.contains("unpacked under /local")),
        "{out}"
    );
    Ok(())
}

/// A store path missing from the bundle: the chain runs from the entrypoint to the
/// file that names it.
fn store_reference_chain() -> R {
    let b = fixture("example-layout-missing-store-path");
    let (_, v) = report(&[
        b.to_str().unwrap(),
        "--destination",
        "/",
        "--chroot-env",
        "none",
        "--no-run",
        "--",
        "/usr/local/bin/hello",
    ])?;
    let f = findings(&v, "missing", "store-reference");
    let ncurses = f
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("-ncurses-6.4"))
        .ok_or_else(|| format!("no ncurses store reference: {v:#}"))?;
    let chain: Vec<&str> = ncurses["needed_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    ensure!(chain.first() == Some(&"/usr/local/bin/hello"), "{chain:?}");
    ensure!(
        chain.last().is_some_and(|l| l.ends_with("/bin/bash")),
        "{chain:?}"
    );
    ensure!(
        ncurses["nomad_error"]
            .as_str()
            .is_some_and(|e| e.contains("libtinfo.so.6")),
        "{ncurses:#}"
    );
    Ok(())
}

/// A bundle holding a Debian binary without its libraries passes only because this host
/// lends them through the default chroot_env: the report says so.
fn host_dependencies() -> R {
    let dir = tempfile::tempdir()?;
    let bundle = dir.path().join("host-ls.tar.gz");
    let gz = flate2::write::GzEncoder::new(fs::File::create(&bundle)?, flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    t.append_path_with_name("/bin/ls", "bin/app")?;
    t.into_inner()?.finish()?;
    let b = bundle.to_str().unwrap();
    let (o, v) = report(&[b, "--no-run", "--", "/local/bin/app"])?;
    ensure!(o.status.code() == Some(0), "{}", describe(&o));
    let deps = v["host_dependencies"]
        .as_array()
        .ok_or("no host_dependencies")?;
    let roles: BTreeSet<&str> = deps.iter().filter_map(|d| d["role"].as_str()).collect();
    ensure!(
        roles.contains("interpreter") && roles.contains("library"),
        "{deps:#?}"
    );
    ensure!(
        deps.iter().any(|d| d["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("/libc.so.6"))),
        "{deps:#?}"
    );
    ensure!(
        findings(&v, "environment", "host-dependency").len() == 1,
        "{v:#}"
    );
    let t = text(&ncc(&[b, "--no-run", "--", "/local/bin/app"]).stdout);
    ensure!(
        t.contains("  host: ") && t.contains("from this machine through chroot_env"),
        "{t}"
    );
    // With only /etc from the client, the same bundle fails.
    let (o, _) = report(&[
        b,
        "--no-run",
        "--chroot-env",
        "none",
        "--",
        "/local/bin/app",
    ])?;
    ensure!(o.status.code() == Some(1), "{}", describe(&o));
    // A chroot_env source this host lacks is said, not silently skipped.
    let (_, v) = report(&[
        b,
        "--no-run",
        "--chroot-env",
        "/nonexistent=/x",
        "--",
        "/local/bin/app",
    ])?;
    let w = findings(&v, "environment", "chroot-env-source");
    ensure!(w.len() == 1 && w[0]["path"] == "/x", "{v:#}");
    Ok(())
}

/// The example deployed right has nothing to warn about: no nsswitch warning from the
/// host's Debian nsswitch.conf, no absolute-name note, no PATH list, no "task task".
fn no_noise_on_a_good_bundle() -> R {
    let b = fixture("example-layout");
    let args = [
        b.to_str().unwrap(),
        "--client-config",
        "fixtures/example/client.hcl",
        "--destination",
        "/",
        "--no-run",
        "--",
        "/usr/local/bin/hello",
    ];
    let (o, v) = report(&args)?;
    ensure!(o.status.code() == Some(0), "{}", describe(&o));
    let kinds: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}/{} {}", f["kind"], f["cause"], f["path"]))
        .collect();
    for noise in ["nsswitch", "absolute-name", "\"path\""] {
        ensure!(
            !kinds.iter().any(|k| k.contains(noise)),
            "{noise}: {kinds:?}"
        );
    }
    let head = text(&ncc(&args).stdout);
    ensure!(
        head.lines()
            .next()
            .is_some_and(|l| !l.contains("task task")),
        "{head}"
    );
    Ok(())
}

/// `--quiet`: the verdict line only; refused with a machine format.
fn quiet() -> R {
    let b = fixture("example-layout");
    let o = ncc(&[b.to_str().unwrap(), "--quiet"]);
    let out = text(&o.stdout);
    ensure!(
        o.status.code() == Some(1) && out.lines().count() == 1,
        "{}",
        describe(&o)
    );
    ensure!(
        out.starts_with("FAIL: ") && out.contains("unpacked under /local"),
        "{out}"
    );
    let o = ncc(&[b.to_str().unwrap(), "--quiet", "--format", "json"]);
    ensure!(o.status.code() == Some(2), "{}", describe(&o));
    Ok(())
}

/// SARIF 2.1.0 as code-scanning UIs read it.
fn sarif() -> R {
    let b = fixture("example-layout-missing-store-path");
    let o = ncc(&[
        b.to_str().unwrap(),
        "--destination",
        "/",
        "--chroot-env",
        "none",
        "--no-run",
        "--format",
        "sarif",
    ]);
    ensure!(o.status.code() == Some(1), "{}", describe(&o));
    let v = json_of(&o)?;
    ensure!(v["version"] == "2.1.0", "{v}");
    ensure!(
        v["$schema"].as_str().is_some_and(|s| s.contains("sarif")),
        "{v}"
    );
    let runs = v["runs"].as_array().ok_or("no runs")?;
    ensure!(runs.len() == 1, "{v}");
    let run = &runs[0];
    ensure!(
        run["tool"]["driver"]["name"] == "nomad-chroot-check",
        "{run}"
    );
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .ok_or("no rules")?;
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    ensure!(
        ids.len() == unique.len() && !ids.is_empty(),
        "rule ids: {ids:?}"
    );
    let results = run["results"].as_array().ok_or("no results")?;
    ensure!(!results.is_empty(), "{run}");
    for r in results {
        let id = r["ruleId"].as_str().ok_or("no ruleId")?;
        let idx = r["ruleIndex"].as_u64().ok_or("no ruleIndex")? as usize;
        ensure!(ids.get(idx) == Some(&id), "ruleIndex {idx} is not {id}");
        ensure!(
            ["error", "warning", "note", "none"].contains(&r["level"].as_str().unwrap_or("")),
            "{r}"
        );
        ensure!(
            r["message"]["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{r}"
        );
        let loc = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        ensure!(
            loc.as_str().is_some_and(|u| u.ends_with("bundle.tar.gz")),
            "{r}"
        );
    }
    ensure!(run["invocations"][0]["exitCode"] == 1, "{run}");
    Ok(())
}

/// `--tree`: the whole set in one pass, past a missing interpreter.
fn tree() -> R {
    let b = fixture("nix-closure-in-local");
    let (_, v) = report(&[
        b.to_str().unwrap(),
        "--chroot-env",
        "none",
        "--no-run",
        "--tree",
        "--",
        "/nix/store/vdr56ringvjfign1h1dkcfyldzq03d0s-hello-2.10/bin/hello",
    ])?;
    let root = &v["tree"][0];
    ensure!(root["source"] == "bundle", "{root:#}");
    let kids = root["children"].as_array().ok_or("no children")?;
    let interp = kids
        .iter()
        .find(|k| k["role"] == "interpreter")
        .ok_or("no interpreter")?;
    ensure!(interp["source"] == "missing", "{interp:#}");
    let libc = kids
        .iter()
        .find(|k| k["name"] == "libc.so.6")
        .ok_or_else(|| format!("libc.so.6 not listed past the missing interpreter: {root:#}"))?;
    ensure!(libc["source"] == "missing", "{libc:#}");
    // This host has a libc.so.6: the tree says where.
    ensure!(
        libc["host_path"]
            .as_str()
            .is_some_and(|p| p.ends_with("libc.so.6")),
        "{libc:#}"
    );
    let t = text(
        &ncc(&[
            b.to_str().unwrap(),
            "--chroot-env",
            "none",
            "--no-run",
            "--tree",
            "--",
            "/nix/store/vdr56ringvjfign1h1dkcfyldzq03d0s-hello-2.10/bin/hello",
        ])
        .stdout,
    );
    ensure!(
        t.contains("dependency tree:") && t.contains("libc.so.6 => MISSING (this host has"),
        "{t}"
    );
    // The complete example: every file from the bundle.
    let b = fixture("example-layout");
    let (_, v) = report(&[
        b.to_str().unwrap(),
        "--destination",
        "/",
        "--chroot-env",
        "none",
        "--no-run",
        "--tree",
        "--",
        "/usr/local/bin/hello",
    ])?;
    fn walk(n: &Value, out: &mut Vec<String>) {
        out.push(format!("{} {}", n["name"], n["source"]));
        for c in n["children"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut all = Vec::new();
    walk(&v["tree"][0], &mut all);
    ensure!(
        all.len() >= 5 && all.iter().all(|n| n.ends_with("\"bundle\"")),
        "{all:#?}"
    );
    Ok(())
}

/// Rejected archives say what the file is and how far unpacking got.
fn rejected_archive_reports() -> R {
    let dir = tempfile::tempdir()?;
    let empty = dir.path().join("empty.tar.gz");
    fs::write(&empty, b"")?;
    let (o, v) = report(&[empty.to_str().unwrap()])?;
    ensure!(o.status.code() == Some(2), "{}", describe(&o));
    ensure!(v["bundle"]["detected_format"] == "empty", "{v:#}");
    let f = findings(&v, "unsafe-entry", "format");
    // go-getter's text, as its oracle records it: Go's gzip reader returns io.EOF on
    // empty input, wrapped by the decompressor.
    ensure!(
        f.len() == 1
            && f[0]["nomad_error"] == "Error opening a gzip reader for /tmp/getter*/archive: EOF",
        "{v:#}"
    );
    ensure!(
        f[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("empty (0 bytes)") && !m.contains("[]")),
        "{v:#}"
    );

    let textfile = dir.path().join("notes.tar.gz");
    fs::write(&textfile, b"this is not an archive\n")?;
    let (_, v) = report(&[textfile.to_str().unwrap()])?;
    ensure!(v["bundle"]["detected_format"] == "text", "{v:#}");
    let t = text(&ncc(&[textfile.to_str().unwrap()]).stdout);
    ensure!(t.contains("tar+gzip by its name, text by content"), "{t}");

    let full = fs::read(fixture("example-layout"))?;
    let cut = dir.path().join("cut.tar.gz");
    fs::write(&cut, &full[..full.len() / 3])?;
    let (o, v) = report(&[cut.to_str().unwrap()])?;
    ensure!(o.status.code() == Some(2), "{}", describe(&o));
    ensure!(v["bundle"]["unpacked_bytes"].as_u64() > Some(0), "{v:#}");
    Ok(())
}

/// Input errors still print a document with `--format json` (and SARIF).
fn error_documents() -> R {
    let cases: [(&[&str], &str); 5] = [
        (&["does-not-exist.tar.gz", "--format", "json"], "report"),
        (
            &["--format", "json", "--no-such-flag", "x.tar.gz"],
            "report",
        ),
        (&["test", "no-such-spec.toml", "--format", "json"], "test"),
        (&["job", "no-such-job.hcl", "--format", "json"], "job"),
        (&["does-not-exist.tar.gz", "--format", "sarif"], "sarif"),
    ];
    for (args, shape) in cases {
        let o = ncc(args);
        ensure!(o.status.code() == Some(2), "{args:?}: {}", describe(&o));
        let v = json_of(&o)?;
        match shape {
            "report" | "test" => contract::error_document(&v, 2).map_err(|e| format!("{args:?}: {e}"))?,
            "job" => ensure!(v["verdict"] == "reject" && v["error"].is_string() && v["tasks"] == serde_json::json!([]), "{v:#}"),
            _ => ensure!(
                v["runs"][0]["invocations"][0]["executionSuccessful"] == false
                    && v["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"].is_string(),
                "{v:#}"
            ),
        }
    }
    Ok(())
}

/// `-v` says where the time goes: one line per stage with its duration.
fn verbose_shows_stages() -> R {
    let b = fixture("example-layout");
    let o = ncc(&[
        b.to_str().unwrap(),
        "--destination",
        "/",
        "--no-run",
        "-v",
        "--",
        "/usr/local/bin/hello",
    ]);
    let err = text(&o.stderr);
    for stage in ["taskdir", "extract", "analyze"] {
        ensure!(
            err.lines()
                .any(|l| l.contains(stage) && l.contains("close") && l.contains("time.busy")),
            "no timing for {stage}:\n{err}"
        );
    }
    ensure!(
        !err.contains('\x1b'),
        "no colours when stderr is not a terminal:\n{err}"
    );
    let o = ncc(&[
        b.to_str().unwrap(),
        "--destination",
        "/",
        "--no-run",
        "-vv",
        "--",
        "/usr/local/bin/hello",
    ]);
    let err = text(&o.stderr);
    ensure!(
        err.contains("TRACE") && err.contains("library"),
        "-vv shows each resolution:\n{err}"
    );
    // No progress bar on a pipe.
    ensure!(!err.contains("unpacking "), "{err}");
    Ok(())
}

/// Every argument of `record` and `shell` is described; options they would ignore are
/// refused; the usage line tells the task's command from the mode.
fn help_and_refused_options() -> R {
    for mode in ["record", "shell"] {
        let o = ncc(&[mode, "--help"]);
        let help = text(&o.stdout);
        ensure!(o.status.success(), "{}", describe(&o));
        let mut lines = help.lines().peekable();
        while let Some(l) = lines.next() {
            let t = l.trim_start();
            let is_arg = (t.starts_with("--")
                || t.starts_with("-")
                || t.starts_with('<')
                || t.starts_with('['))
                && l.starts_with("  ")
                && !l.starts_with("          ");
            if is_arg {
                let described = t.contains("  ")
                    || lines
                        .peek()
                        .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
                ensure!(
                    described,
                    "`{mode} --help`: `{t}` has no description:\n{help}"
                );
            }
        }
    }
    let b = fixture("example-layout");
    let b = b.to_str().unwrap();
    for args in [
        vec!["record", b, "--format", "junit"],
        vec!["shell", b, "--format", "json"],
        vec!["shell", b, "--no-run"],
        vec!["shell", b, "--type", "service"],
        vec!["shell", b, "--timeout", "5s"],
    ] {
        let o = ncc(&args);
        ensure!(
            o.status.code() == Some(2),
            "{args:?} must be refused: {}",
            describe(&o)
        );
    }
    let help = text(&ncc(&["--help"]).stdout);
    ensure!(
        help.contains("[-- <TASK_COMMAND>...]") && help.contains("<MODE>"),
        "{help}"
    );
    Ok(())
}

/// A misspelt spec key gets a suggestion.
fn spec_key_suggestion() -> R {
    let o = ncc(&["test", "fixtures/specs/unknown-key.toml"]);
    let err = text(&o.stderr);
    ensure!(
        o.status.code() == Some(2) && err.contains("(did you mean `expect`?)"),
        "{}",
        describe(&o)
    );
    Ok(())
}

/// The README's Usage commands, as written, on the example the repo builds.
fn readme_usage_commands() -> R {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md"))?;
    let usage = readme.split("## Usage").nth(1).ok_or("no Usage section")?;
    let block = usage
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .ok_or("no sh block")?;
    let work = tempfile::tempdir()?;
    let mut n = 0;
    for line in block
        .lines()
        .filter(|l| l.starts_with("nomad-chroot-check "))
    {
        n += 1;
        // Outputs the commands write (junit.xml, target/example/) go to a scratch copy
        // of their paths: run in the repo, with those paths redirected.
        let line = line
            .replace(
                "--junit junit.xml",
                &format!("--junit {}/junit.xml", work.path().display()),
            )
            .replace(
                "target/example/",
                &format!("{}/example/", work.path().display()),
            );
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let o = ncc(&args);
        let code = o.status.code();
        let first = line.contains("--client-config")
            && !line.contains("--destination")
            && !line.starts_with("nomad-chroot-check job");
        let want = if first { Some(1) } else { Some(0) };
        if code == Some(3) {
            return Err(format!("`{line}` could not check here: {}", describe(&o)).into());
        }
        ensure!(
            code == want,
            "`{line}`: want exit {want:?}\n{}",
            describe(&o)
        );
    }
    ensure!(n >= 6, "only {n} commands in the Usage block");
    Ok(())
}

/// One path, one finding: the run's miss of /etc/passwd is the user lint's.
fn passwd_said_once() -> R {
    let b = fixture("static-busybox");
    let (o, v) = report(&[
        b.to_str().unwrap(),
        "--destination",
        "/",
        "--chroot-env",
        "none",
        "--",
        "/bin/busybox",
        "id",
    ])?;
    ensure!(
        o.status.code() != Some(3),
        "could not run: {}",
        describe(&o)
    );
    let n = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] == "/etc/passwd")
        .count();
    ensure!(n == 1, "/etc/passwd reported {n} times: {v:#}");
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let bundles = || -> Option<String> {
        let missing: Vec<&str> = [
            "example-layout",
            "example-layout-missing-store-path",
            "nix-closure-in-local",
            "static-busybox",
        ]
        .into_iter()
        .filter(|c| !fixture(c).is_file())
        .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "fixture bundles not built ({}): run fixtures/build.sh",
                missing.join(", ")
            )
        })
    };
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    let trial = |name: &'static str, needs_bundles: bool, f: fn() -> R| {
        Trial::ignorable_test(name, move || {
            if needs_bundles {
                if let Some(why) = WHY.get_or_init(bundles) {
                    return Ok(Completion::ignored_with(why.clone()));
                }
            }
            f().map(|()| Completion::Completed)
        })
    };
    let trials = vec![
        trial(
            "vocabulary_matches_the_code",
            false,
            vocabulary_matches_the_code,
        ),
        trial(
            "destination_root_cause_said_once",
            true,
            destination_root_cause,
        ),
        trial(
            "store_reference_chain_starts_at_the_entrypoint",
            true,
            store_reference_chain,
        ),
        trial(
            "host_dependencies_are_listed_and_warned",
            false,
            host_dependencies,
        ),
        trial("no_noise_on_a_good_bundle", true, no_noise_on_a_good_bundle),
        trial("quiet_prints_the_verdict_line", true, quiet),
        trial("sarif_2_1_0_structure", true, sarif),
        trial("tree_goes_past_gaps", true, tree),
        trial("rejected_archive_reports", true, rejected_archive_reports),
        trial("error_documents_on_stdout", false, error_documents),
        trial("verbose_shows_stage_timings", true, verbose_shows_stages),
        trial("help_and_refused_options", true, help_and_refused_options),
        trial("spec_key_suggestion", false, spec_key_suggestion),
        trial(
            "readme_usage_commands_work_as_written",
            true,
            readme_usage_commands,
        ),
        trial("passwd_said_once", true, passwd_said_once),
    ];
    libtest_mimic::run(&args, trials).exit();
}
