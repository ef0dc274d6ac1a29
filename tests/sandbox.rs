//! The sandbox, for real: each trial runs in its own process (this binary re-executed
//! as `__trial NAME`, optionally as the unprivileged `ncc-test` user), with its own
//! TMPDIR, and is checked afterwards for leftovers: processes (by a marker in the task's
//! environment, and `__sandbox-child` monitors), host mounts, cgroups and temp dirs.
//!
//! Trials that cannot run here are reported ignored with the reason. Trials run one at
//! a time (unless `--test-threads` says otherwise) so that the leftover checks are exact.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nomad_chroot_check::cleanup;
use nomad_chroot_check::clientconfig::ClientConfig;
use nomad_chroot_check::config::{AgentEnv, JobType, Network, RunOptions, TaskSpec};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::sandbox::{self, RunRequest};
use nomad_chroot_check::taskdir::{ChrootEnv, TaskDir};
use serde_json::{Value, json};

const BUSYBOX_STORE: &str = "/nix/store/0c5lby4bj2h7z5jd5x2pbz6q3dbyqxk7-busybox-static-1.36.1";
const GLIBC_STORE: &str = "/nix/store/9wf2ff3kd7jm7vnm8b7mbd2bvxh1n8aw-glibc-2.40-66";
const PASSWD: &str = "nobody:x:65534:65534::/nonexistent:/bin/false\n";
const MARKER: &str = "NCC_TRIAL_MARKER";

/// What a trial's task is and how it runs.
#[derive(Clone)]
struct Scenario {
    name: &'static str,
    version: &'static str,
    chroot: Chroot,
    /// Files to put in the task dir: (task path, content) ; `@busybox` copies busybox,
    /// `@hello-broken` the Debian `hello` with a missing store interpreter.
    files: Vec<(&'static str, &'static str)>,
    argv0: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    tweak: fn(&mut TaskSpec, &mut RunOptions, &mut ClientConfig),
    /// Signal the checker (the trial process) once the task runs.
    kill_checker: Option<i32>,
    rootless: bool,
    /// Run the real `nomad-chroot-check` binary as `__sandbox-child` (through main.rs's
    /// dispatch) instead of this test binary.
    real_binary: bool,
    /// Leave a cgroup of a dead checker behind first: the run must sweep it.
    stale_cgroup: bool,
    /// `shell`: this text on the shell's stdin, instead of running `argv0`.
    shell_stdin: Option<&'static str>,
    check: fn(&Value) -> Result<(), String>,
}

#[derive(Clone, Copy)]
enum Chroot {
    None,
    NomadDefault,
}

fn no_tweak(_: &mut TaskSpec, _: &mut RunOptions, _: &mut ClientConfig) {}

fn sh(script: &'static str) -> Vec<&'static str> {
    vec!["-c", script]
}

fn base(
    name: &'static str,
    args: Vec<&'static str>,
    check: fn(&Value) -> Result<(), String>,
) -> Scenario {
    Scenario {
        name,
        version: "2.0",
        chroot: Chroot::None,
        files: vec![("/bin/sh", "@busybox")],
        argv0: "/bin/sh",
        args,
        env: vec![("PATH", "/bin")],
        tweak: no_tweak,
        kill_checker: None,
        rootless: false,
        real_binary: false,
        stale_cgroup: false,
        shell_stdin: None,
        check,
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

fn outcome(v: &Value) -> &Value {
    &v["outcome"]
}

fn finding<'a>(v: &'a Value, kind: &str, cause: &str) -> Option<&'a Value> {
    v["findings"]
        .as_array()?
        .iter()
        .find(|f| f["kind"] == kind && f["cause"] == cause)
}

fn no_errors(v: &Value) -> Result<(), String> {
    let errs: Vec<&Value> = v["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["severity"] == "error").collect())
        .unwrap_or_default();
    ensure!(errs.is_empty(), "unexpected error findings: {errs:?}");
    ensure!(v["error"].is_null(), "run error: {}", v["error"]);
    Ok(())
}

fn stdout(v: &Value) -> &str {
    outcome(v)["stdout_tail"].as_str().unwrap_or("")
}

fn scenarios() -> Vec<Scenario> {
    let mut s = vec![
        base("batch_exit_0", sh("echo hello; echo warn >&2"), |v| {
            no_errors(v)?;
            ensure!(
                outcome(v)["exit_code"] == 0,
                "exit code {}",
                outcome(v)["exit_code"]
            );
            ensure!(stdout(v) == "hello\n", "stdout {:?}", stdout(v));
            ensure!(
                outcome(v)["stderr_tail"] == "warn\n",
                "stderr {}",
                outcome(v)["stderr_tail"]
            );
            ensure!(v["logs_exist"] == true, "alloc/logs/web.stdout.0 missing");
            Ok(())
        }),
        base("batch_exit_3", sh("echo broken config >&2; exit 3"), |v| {
            let f = finding(v, "run", "exit-code").ok_or("no exit-code finding")?;
            ensure!(f["exit_code"] == 3, "{f}");
            ensure!(f["severity"] == "error", "{f}");
            ensure!(
                f["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("broken config"),
                "{f}"
            );
            Ok(())
        }),
        Scenario {
            files: vec![("/local/app", "@hello-broken")],
            argv0: "/local/app",
            args: vec![],
            ..base("missing_interpreter_exit_255", vec![], |v| {
                ensure!(
                    outcome(v)["exit_code"] == 255,
                    "exit {}",
                    outcome(v)["exit_code"]
                );
                let err = outcome(v)["stderr_tail"].as_str().unwrap_or("");
                ensure!(
                    err == "exec /local/app: no such file or directory\n",
                    "stderr {err:?}"
                );
                ensure!(finding(v, "run", "exit-code").is_some(), "no run finding");
                Ok(())
            })
        },
        Scenario {
            version: "1.9",
            files: vec![("/local/app", "@hello-broken"), ("/etc/passwd", PASSWD)],
            argv0: "/local/app",
            args: vec![],
            ..base("missing_interpreter_nomad_1_9_exit_1", vec![], |v| {
                ensure!(
                    outcome(v)["exit_code"] == 1,
                    "exit {}",
                    outcome(v)["exit_code"]
                );
                let err = outcome(v)["stderr_tail"].as_str().unwrap_or("");
                ensure!(
                    err.contains("exec /local/app: no such file or directory"),
                    "{err:?}"
                );
                Ok(())
            })
        },
        Scenario {
            files: vec![("/local/app", "")],
            argv0: "/local/app",
            args: vec![],
            ..base("empty_file_exec_format_error", vec![], |v| {
                ensure!(
                    outcome(v)["exit_code"] == 255,
                    "exit {}",
                    outcome(v)["exit_code"]
                );
                let err = outcome(v)["stderr_tail"].as_str().unwrap_or("");
                ensure!(err == "exec /local/app: exec format error\n", "{err:?}");
                Ok(())
            })
        },
        Scenario {
            version: "1.11.0",
            ..base("no_passwd_nomad_1_11_0_start_failure", sh("true"), |v| {
                let f = finding(v, "run", "start-failure").ok_or("no start failure")?;
                ensure!(
                    f["nomad_error"]
                        == "failed to launch command with executor: rpc error: code = Unknown desc = unable to start container process: error during container init: unable to find user nobody: no matching entries in passwd file",
                    "{f}"
                );
                ensure!(f["exit_code"].is_null(), "{f}");
                ensure!(outcome(v)["exit_code"].is_null(), "{}", outcome(v));
                Ok(())
            })
        },
        Scenario {
            version: "1.11.0",
            files: vec![
                ("/bin/sh", "@busybox"),
                (
                    "/etc/passwd",
                    "nobody:x:65534:65534::/nonexistent:/bin/false\napp:x:1234:4321::/:/bin/sh\n",
                ),
                ("/etc/group", "app:x:4321:\nextra:x:777:nobody\n"),
            ],
            ..base(
                "passwd_in_chroot_nomad_1_11_0",
                sh("id -u; id -g; id -G"),
                |v| {
                    no_errors(v)?;
                    ensure!(stdout(v) == "65534\n65534\n65534 777\n", "{:?}", stdout(v));
                    Ok(())
                },
            )
        },
        base("host_uid_gid_0_nomad_2_0", sh("id -u; id -g; id -G"), |v| {
            no_errors(v)?;
            ensure!(stdout(v) == "65534\n0\n0\n", "{:?}", stdout(v));
            Ok(())
        }),
        Scenario {
            argv0: "/x",
            ..base("stat_failure_is_start_failure", vec![], |v| {
                let f = finding(v, "run", "start-failure").ok_or("no start failure")?;
                ensure!(
                    f["nomad_error"].as_str().unwrap_or("").ends_with(
                        "error during container init: exec: \"/x\": stat /x: no such file or directory"
                    ),
                    "{f}"
                );
                Ok(())
            })
        },
        Scenario {
            tweak: |t, _, _| t.work_dir = Some("/nope".into()),
            ..base("bad_work_dir", sh("true"), |v| {
                let f = finding(v, "run", "start-failure").ok_or("no start failure")?;
                ensure!(
                    f["message"]
                        == "chdir to cwd (\"/nope\") set in config.json failed: no such file or directory",
                    "{f}"
                );
                Ok(())
            })
        },
        // As under Nomad, whose executor and runc init (Go) ignore no signal: not
        // SIGPIPE (ignored by the Rust runtime), nor glibc's 32 and 33 (ignored by
        // posix_spawn), nor what the checker's own shell ignores.
        Scenario {
            argv0: "/bin/busybox",
            files: vec![("/bin/busybox", "@busybox")],
            ..base(
                "task_ignores_no_signal",
                vec!["grep", "SigIgn", "/proc/self/status"],
                |v| {
                    no_errors(v)?;
                    ensure!(
                        stdout(v) == "SigIgn:\t0000000000000000\n",
                        "{:?}",
                        stdout(v)
                    );
                    Ok(())
                },
            )
        },
        Scenario {
            tweak: |t, _, _| t.work_dir = Some("/local".into()),
            ..base("work_dir_and_default_cwd", sh("pwd"), |v| {
                no_errors(v)?;
                ensure!(stdout(v) == "/local\n", "{:?}", stdout(v));
                Ok(())
            })
        },
        Scenario {
            version: "2.0.1",
            ..base(
                "runc_layout",
                sh("echo pid=$$; \
                for d in null zero full random urandom tty; do test -c /dev/$d || echo nodev=$d; done; \
                test -L /dev/ptmx && echo ptmx; test -L /dev/fd && echo fd; \
                grep -E ' /(dev|dev/pts|dev/shm|dev/mqueue|proc|sys|secrets|private|alloc|alloc/logs) ' /proc/self/mounts | cut -d' ' -f2,3,4 | sed 's/,.*//' | sort; \
                touch /alloc/data/x && echo alloc-rw; touch /alloc/logs/x 2>/dev/null || echo logs-ro; \
                test -f /secrets/.nomad-mount && echo marker; \
                echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo procsys-ro; \
                test -s /proc/kcore && echo kcore-visible; pwd"),
                |v| {
                    no_errors(v)?;
                    let out = stdout(v);
                    for want in [
                        "pid=1\n",
                        "ptmx\n",
                        "fd\n",
                        "/alloc ",
                        "/alloc/logs ",
                        "/dev tmpfs rw",
                        "/dev/mqueue mqueue",
                        "/dev/pts devpts",
                        "/dev/shm tmpfs",
                        "/proc proc",
                        "/secrets tmpfs",
                        "/private tmpfs",
                        "/sys sysfs ro",
                        "alloc-rw\n",
                        "logs-ro\n",
                        "marker\n",
                        "procsys-ro\n",
                    ] {
                        ensure!(out.contains(want), "missing {want:?} in\n{out}");
                    }
                    ensure!(!out.contains("nodev="), "{out}");
                    ensure!(!out.contains("kcore-visible"), "{out}");
                    ensure!(out.ends_with("\n/\n"), "cwd is not /: {out}");
                    Ok(())
                },
            )
        },
        Scenario {
            chroot: Chroot::NomadDefault,
            files: vec![
                ("/bin/sh", "@busybox"),
                (
                    "/etc/passwd",
                    "nobody:x:65534:65534::/:/bin/false\nartifact-user:x:1:1::/:/bin/sh\n",
                ),
            ],
            ..base(
                "chroot_env_read_only_artifact_wins",
                sh(
                    "grep -c artifact-user /etc/passwd; test -s /etc/hosts && echo host-hosts; \
                    test -e /usr/bin/env && echo usr; touch /usr/x 2>/dev/null || echo usr-ro; \
                    touch /etc/x 2>/dev/null || echo etc-ro",
                ),
                |v| {
                    no_errors(v)?;
                    let out = stdout(v);
                    ensure!(out == "1\nhost-hosts\nusr\nusr-ro\netc-ro\n", "{out:?}");
                    Ok(())
                },
            )
        },
        base("env_is_exactly_the_request", sh("env | sort"), |v| {
            no_errors(v)?;
            let out = stdout(v);
            let keys: Vec<&str> = out
                .lines()
                .map(|l| l.split('=').next().unwrap_or(""))
                .collect();
            ensure!(
                keys == ["NCC_TRIAL_MARKER", "PATH", "PWD", "SHLVL"],
                "{out:?}"
            );
            Ok(())
        }),
        base(
            "capabilities_default_ambient",
            sh("grep -E '^Cap(Amb|Bnd|Eff)' /proc/self/status"),
            |v| {
                no_errors(v)?;
                // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
                // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP = 0xa80405fb (Docker's default minus NET_RAW)
                let out = stdout(v);
                ensure!(out.contains("CapBnd:\t00000000a80405fb"), "{out}");
                ensure!(out.contains("CapAmb:\t00000000a80405fb"), "{out}");
                ensure!(out.contains("CapEff:\t00000000a80405fb"), "{out}");
                Ok(())
            },
        ),
        Scenario {
            version: "1.5.5",
            files: vec![("/bin/sh", "@busybox"), ("/etc/passwd", PASSWD)],
            ..base(
                "capabilities_bounding_only_before_1_5_6",
                sh("grep -E '^Cap(Amb|Eff)' /proc/self/status"),
                |v| {
                    no_errors(v)?;
                    let out = stdout(v);
                    ensure!(out.contains("CapEff:\t0000000000000000"), "{out}");
                    ensure!(out.contains("CapAmb:\t0000000000000000"), "{out}");
                    Ok(())
                },
            )
        },
        Scenario {
            tweak: |t, _, _| t.cap_add = vec!["NET_RAW".into()],
            ..base("cap_add_beyond_allow_caps", sh("true"), |v| {
                let f = finding(v, "run", "start-failure").ok_or("no start failure")?;
                ensure!(
                    f["nomad_error"] == "driver does not allow the following capabilities: net_raw",
                    "{f}"
                );
                Ok(())
            })
        },
        Scenario {
            tweak: |t, _, _| t.network = Network::None,
            ..base(
                "network_none",
                sh("ls /sys/class/net; cat /sys/class/net/lo/flags"),
                |v| {
                    no_errors(v)?;
                    ensure!(stdout(v) == "lo\n0x8\n", "{:?}", stdout(v));
                    Ok(())
                },
            )
        },
        Scenario {
            tweak: |t, _, _| t.network = Network::Bridge,
            ..base(
                "network_bridge",
                sh("ls /sys/class/net; cat /sys/class/net/lo/flags"),
                |v| {
                    no_errors(v)?;
                    ensure!(stdout(v).starts_with("lo\n0x"), "{:?}", stdout(v));
                    ensure!(stdout(v) != "lo\n0x8\n", "loopback down: {:?}", stdout(v));
                    Ok(())
                },
            )
        },
        Scenario {
            env: vec![("PATH", "/bin"), ("NAME", "web")],
            files: vec![
                ("/bin/sh", "@busybox"),
                ("/etc/app/README", "configs go here"),
            ],
            ..base(
                "runtime_misses_are_findings",
                sh("read l < /etc/app/$NAME.conf; read h < /etc/hostname; echo done"),
                |v| {
                    let f = v["findings"].as_array().ok_or("no findings")?;
                    let conf = f
                        .iter()
                        .find(|f| f["path"] == "/etc/app/web.conf")
                        .ok_or(format!("no /etc/app/web.conf in {f:?}"))?;
                    ensure!(
                        conf["kind"] == "missing" && conf["cause"] == "runtime",
                        "{conf}"
                    );
                    ensure!(conf["on_host"] == false, "{conf}");
                    let host = f
                        .iter()
                        .find(|f| f["path"] == "/etc/hostname")
                        .ok_or("no /etc/hostname")?;
                    ensure!(host["on_host"] == true, "{host}");
                    Ok(())
                },
            )
        },
        Scenario {
            tweak: |_, r, _| r.timeout = Duration::from_millis(800),
            ..base("timeout_stops_the_task", sh("sleep 100"), |v| {
                ensure!(outcome(v)["timed_out"] == true, "{}", outcome(v));
                ensure!(finding(v, "run", "timeout").is_some(), "no timeout finding");
                Ok(())
            })
        },
        Scenario {
            tweak: |_, r, _| {
                r.job_type = JobType::Service;
                r.healthy_after = Duration::from_millis(500);
                r.kill_timeout = Duration::from_millis(700);
            },
            ..base(
                "service_ignoring_sigint_is_sigkilled",
                sh("trap '' INT; while true; do sleep 1; done"),
                |v| {
                    no_errors(v)?;
                    ensure!(outcome(v)["still_running"] == true, "{}", outcome(v));
                    ensure!(outcome(v)["signal"] == "SIGKILL", "{}", outcome(v));
                    let ms = outcome(v)["duration_ms"].as_u64().unwrap_or(0);
                    ensure!(ms >= 1200, "stopped after {ms} ms, before kill_timeout");
                    Ok(())
                },
            )
        },
        Scenario {
            tweak: |_, r, _| r.job_type = JobType::Service,
            ..base("service_that_exits_fails", sh("exit 0"), |v| {
                ensure!(
                    finding(v, "run", "exit-code").is_some(),
                    "no finding: {}",
                    v["findings"]
                );
                Ok(())
            })
        },
        base(
            "double_forking_daemon_dies_with_the_task",
            sh("(sh -c 'sleep 1000' &) ; echo started"),
            |v| {
                no_errors(v)?;
                ensure!(stdout(v) == "started\n", "{:?}", stdout(v));
                Ok(())
            },
        ),
        base(
            "cannot_see_the_host",
            sh("ls /proc/1/root/; cd ../../../..; pwd; ls; ls /proc | grep -c '^[0-9]'"),
            |v| {
                no_errors(v)?;
                let out = stdout(v);
                ensure!(
                    !out.contains("work\n") && !out.contains("root\n") && !out.contains("home\n"),
                    "host visible: {out}"
                );
                ensure!(out.contains("local\n"), "{out}");
                ensure!(
                    out.trim_end().ends_with("\n2") || out.trim_end().ends_with("\n3"),
                    "host pids visible: {out}"
                );
                Ok(())
            },
        ),
        Scenario {
            tweak: |t, _, _| t.memory_mb = 32,
            ..base(
                "memory_hog_is_oom_killed",
                sh("exec dd if=/dev/zero of=/dev/null bs=128M count=1"),
                |v| {
                    if v["cgroup_memory"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("skipped"))
                    {
                        return Err(format!("memory limit not applied: {}", v["cgroup_memory"]));
                    }
                    ensure!(outcome(v)["oom_killed"] == true, "{}", outcome(v));
                    ensure!(outcome(v)["exit_code"] == 137, "{}", outcome(v));
                    ensure!(outcome(v)["signal"] == "SIGKILL", "{}", outcome(v));
                    ensure!(finding(v, "run", "oom").is_some(), "no oom finding");
                    Ok(())
                },
            )
        },
        Scenario {
            tweak: |_, r, _| {
                r.pids_limit = 40;
                r.timeout = Duration::from_secs(3);
            },
            ..base(
                "fork_bomb_is_contained",
                sh("f() { f | f & }; f; sleep 2; echo survived"),
                |v| {
                    ensure!(v["error"].is_null(), "{}", v["error"]);
                    let err = outcome(v)["stderr_tail"].as_str().unwrap_or("");
                    ensure!(
                        err.contains("can't fork: Resource temporarily unavailable"),
                        "pids.max did not bite: {err:?}"
                    );
                    ensure!(
                        v["cgroup_pids"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("applied")),
                        "{}",
                        v["cgroup_pids"]
                    );
                    Ok(())
                },
            )
        },
    ];
    s.push(Scenario {
        files: vec![("/local/app", "@hello-nix")],
        argv0: "/local/app",
        ..base("debian_dynamic_binary_in_store_paths", vec![], |v| {
            no_errors(v)?;
            ensure!(stdout(v) == "Hello, world!\n", "{:?}", stdout(v));
            let runtime: Vec<&Value> = v["findings"]
                .as_array()
                .map(|a| a.iter().filter(|f| f["cause"] == "runtime").collect())
                .unwrap_or_default();
            ensure!(
                runtime.is_empty(),
                "the loader's satisfied probes leaked: {runtime:?}"
            );
            Ok(())
        })
    });
    s.push(Scenario {
        chroot: Chroot::NomadDefault,
        files: vec![("/local/app", "@hello")],
        argv0: "/local/app",
        ..base("debian_dynamic_binary_with_chroot_env", vec![], |v| {
            no_errors(v)?;
            ensure!(stdout(v) == "Hello, world!\n", "{:?}", stdout(v));
            Ok(())
        })
    });
    s.push(Scenario {
        tweak: |_, r, _| r.harden = true,
        ..base(
            "harden_sets_no_new_privs_and_seccomp",
            sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"),
            |v| {
                no_errors(v)?;
                ensure!(
                    stdout(v) == "NoNewPrivs:\t1\nSeccomp:\t2\n",
                    "{:?}",
                    stdout(v)
                );
                Ok(())
            },
        )
    });
    s.push(base(
        "no_seccomp_no_new_privs_by_default",
        sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"),
        |v| {
            no_errors(v)?;
            // The trace's filter only hands lookups to the tracer; Nomad installs none.
            ensure!(stdout(v).starts_with("NoNewPrivs:\t0\n"), "{:?}", stdout(v));
            Ok(())
        },
    ));
    s.push(Scenario {
        tweak: |t, _, _| t.pid_mode_host = true,
        ..base(
            "pid_mode_host_daemon_is_killed_with_the_cgroup",
            sh("(sleep 1000 &); test $$ != 1 && echo not-pid-1"),
            |v| {
                no_errors(v)?;
                ensure!(stdout(v) == "not-pid-1\n", "{:?}", stdout(v));
                Ok(())
            },
        )
    });
    s.push(Scenario {
        files: vec![("/local/readme", "hi")],
        shell_stdin: Some(
            "echo in-shell; id -u; ls /local; test -e /bin/sh || echo no-bin-sh; exit 7\n",
        ),
        ..base("shell_falls_back_to_host_busybox", vec![], |v| {
            let out = v["shell_output"].as_str().unwrap_or("");
            ensure!(out == "in-shell\n65534\nreadme\nno-bin-sh\n", "{out:?}");
            ensure!(outcome(v)["exit_code"] == 7, "{}", outcome(v));
            Ok(())
        })
    });
    s.push(Scenario {
        shell_stdin: Some("echo $0; exit 0\n"),
        ..base("shell_uses_the_bundles_sh", vec![], |v| {
            let out = v["shell_output"].as_str().unwrap_or("");
            ensure!(out == "/bin/sh\n", "{out:?}");
            ensure!(outcome(v)["exit_code"] == 0, "{}", outcome(v));
            Ok(())
        })
    });
    s.push(Scenario {
        real_binary: true,
        ..base("real_binary_as_sandbox_child", sh("echo via-main"), |v| {
            no_errors(v)?;
            ensure!(stdout(v) == "via-main\n", "{:?}", stdout(v));
            Ok(())
        })
    });
    s.push(Scenario {
        stale_cgroup: true,
        ..base("stale_cgroup_of_a_dead_checker_is_swept", sh("true"), |v| {
            no_errors(v)?;
            Ok(())
        })
    });
    for (name, sig) in [
        ("checker_sigkill_mid_run_leaves_nothing", libc::SIGKILL),
        ("checker_sigterm_mid_run_leaves_nothing", libc::SIGTERM),
        ("checker_ctrl_c_mid_run_leaves_nothing", libc::SIGINT),
    ] {
        s.push(Scenario {
            kill_checker: Some(sig),
            ..base(name, sh("echo running; sleep 60"), |_| Ok(()))
        });
    }
    for n in [
        "checker_sigkill_mid_run_leaves_nothing",
        "checker_ctrl_c_mid_run_leaves_nothing",
        "batch_exit_0",
        "missing_interpreter_exit_255",
        "runtime_misses_are_findings",
        "host_uid_gid_0_nomad_2_0",
        "runc_layout",
    ] {
        let mut r = s.iter().find(|x| x.name == n).cloned().expect("scenario");
        r.name = Box::leak(format!("rootless::{n}").into_boxed_str());
        r.rootless = true;
        if n == "host_uid_gid_0_nomad_2_0" {
            r.check = |v| {
                no_errors(v)?;
                ensure!(stdout(v).starts_with("65534\n0\n"), "{:?}", stdout(v));
                Ok(())
            };
        }
        if n == "runc_layout" {
            // A rootless task on the host network sees the host's /sys, read-only.
            r.check = |v| {
                no_errors(v)?;
                let out = stdout(v);
                for want in [
                    "pid=1\n",
                    "/dev tmpfs rw",
                    "/proc proc",
                    "/secrets tmpfs",
                    "alloc-rw\n",
                    "logs-ro\n",
                    "procsys-ro\n",
                ] {
                    ensure!(out.contains(want), "missing {want:?} in\n{out}");
                }
                ensure!(!out.contains("nodev="), "{out}");
                Ok(())
            };
        }
        s.push(r);
    }
    s
}

// ---------------------------------------------------------------------------------
// Inside the trial process.

fn copy_busybox(dst: &Path) {
    fs::copy("/bin/busybox", dst).expect("copy busybox");
}

fn install(root: &Path, task_path: &str, content: &str) {
    let host = root.join(task_path.trim_start_matches('/'));
    fs::create_dir_all(host.parent().unwrap()).unwrap();
    match content {
        "@busybox" => {
            // The real file lives in a store path; the task path links to it, as a Nix
            // bundle's wrappers do.
            let store = root.join(BUSYBOX_STORE.trim_start_matches('/')).join("bin");
            fs::create_dir_all(&store).unwrap();
            let bb = store.join("busybox");
            if !bb.exists() {
                copy_busybox(&bb);
            }
            std::os::unix::fs::symlink(format!("{BUSYBOX_STORE}/bin/busybox"), &host).unwrap();
            // busybox picks the applet from argv[0]'s name: give each applet a link.
            for applet in [
                "env", "sort", "grep", "cut", "sed", "ls", "id", "touch", "sleep", "dd", "cat",
                "test", "pwd",
            ] {
                let l = store.join(applet);
                if !l.exists() {
                    std::os::unix::fs::symlink("busybox", &l).unwrap();
                }
                let bin = root.join("bin").join(applet);
                if !bin.exists() && fs::symlink_metadata(&bin).is_err() {
                    fs::create_dir_all(root.join("bin")).unwrap();
                    std::os::unix::fs::symlink(format!("{BUSYBOX_STORE}/bin/{applet}"), &bin)
                        .unwrap();
                }
            }
        }
        "@hello" => {
            fs::copy("/usr/bin/hello", &host).unwrap();
        }
        "@hello-nix" => {
            // Debian's hello and glibc moved into store paths, as a Nix closure has them.
            let glibc = root.join(GLIBC_STORE.trim_start_matches('/')).join("lib");
            fs::create_dir_all(&glibc).unwrap();
            fs::copy(
                "/lib64/ld-linux-x86-64.so.2",
                glibc.join("ld-linux-x86-64.so.2"),
            )
            .unwrap();
            fs::copy("/lib/x86_64-linux-gnu/libc.so.6", glibc.join("libc.so.6")).unwrap();
            fs::copy("/usr/bin/hello", &host).unwrap();
            let st = Command::new("patchelf")
                .arg("--set-interpreter")
                .arg(format!("{GLIBC_STORE}/lib/ld-linux-x86-64.so.2"))
                .arg("--set-rpath")
                .arg(format!("{GLIBC_STORE}/lib"))
                .arg(&host)
                .status()
                .expect("patchelf");
            assert!(st.success());
        }
        "@hello-broken" => {
            fs::copy("/usr/bin/hello", &host).unwrap();
            let st = Command::new("patchelf")
                .arg("--set-interpreter")
                .arg(format!("{GLIBC_STORE}/lib/ld-linux-x86-64.so.2"))
                .arg(&host)
                .status()
                .expect("patchelf");
            assert!(st.success());
        }
        text => {
            fs::write(&host, text).unwrap();
            if task_path.starts_with("/local/") {
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }
}

fn trial_main(name: &str) -> ! {
    nomad_chroot_check::cleanup::install();
    let sc = scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .expect("scenario");
    let version: NomadVersion = sc.version.parse().unwrap();
    let chroot = match sc.chroot {
        Chroot::None => ChrootEnv::none(),
        Chroot::NomadDefault => ChrootEnv::nomad_default(version),
    };
    let bench = std::env::var_os("NCC_BENCH_RUNS").is_some();
    let td = TaskDir::build("web", version, chroot).expect("task dir");
    for (p, c) in &sc.files {
        install(&td.root, p, c);
    }
    let mut task = TaskSpec {
        command: Some(sc.argv0.into()),
        args: sc.args.iter().map(|s| s.to_string()).collect(),
        ..TaskSpec::new("web")
    };
    let mut run = RunOptions {
        agent_env: AgentEnv::Default,
        harden: false,
        pids_limit: 1024,
        timeout: Duration::from_secs(20),
        job_type: JobType::Batch,
        healthy_after: Duration::from_secs(3),
        kill_signal: "SIGINT".into(),
        kill_timeout: Duration::from_secs(5),
        trace: true,
    };
    let mut client = ClientConfig::default();
    (sc.tweak)(&mut task, &mut run, &mut client);
    // The child and the cgroup started ahead, as `check::run` does.
    let launch = (sc.shell_stdin.is_none() && !bench)
        .then(|| sandbox::Prelaunch::start(&td, &task, &run, &client, version));
    let mut env: BTreeMap<String, String> = sc
        .env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert(MARKER.into(), std::env::var(MARKER).unwrap_or_default());
    if sc.shell_stdin.is_some() {
        let r = sandbox::open_shell(&td, &task, &run, version, &client, env);
        let v = match r {
            Ok(r) => json!({ "outcome": r.outcome, "findings": r.findings, "error": null }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        println!("\n{v}");
        drop(td);
        cleanup::finish();
        std::process::exit(0);
    }
    if bench {
        run.trace = std::env::var_os("NCC_BENCH_TRACE").is_some();
    }
    let req = RunRequest {
        taskdir: &td,
        task: &task,
        env: &env,
        run: &run,
        version,
        client: &client,
        argv0: sc.argv0.into(),
    };
    if let Ok(n) = std::env::var("NCC_BENCH_RUNS") {
        // Set-up plus teardown of the sandbox, averaged (`NCC_BENCH_RUNS=50 … __trial batch_exit_0`).
        let n: u32 = n.parse().unwrap_or(20);
        let t = Instant::now();
        for _ in 0..n {
            sandbox::run(&req, None).expect("run");
        }
        println!(
            "{{\"mean_ms\": {:.2}}}",
            t.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
        );
        drop(td);
        cleanup::finish();
        std::process::exit(0);
    }
    let r = sandbox::run(&req, launch.and_then(sandbox::Prelaunch::take));
    let logs_exist = td.shared_alloc().join("logs/web.stdout.0").exists();
    let v = match r {
        Ok(r) => json!({
            "outcome": r.outcome,
            "findings": r.findings,
            "logs_exist": logs_exist,
            "cgroup_memory": r.outcome.enforced.get("cgroup.memory"),
            "cgroup_pids": r.outcome.enforced.get("cgroup.pids"),
            "error": null,
        }),
        Err(e) => {
            json!({ "error": e.to_string(), "unavailable": matches!(e, sandbox::SandboxError::Unavailable(_)) })
        }
    };
    println!("{v}");
    drop(td);
    cleanup::finish();
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------
// Outside: spawn the trial, check it and what it left.

fn rootless_user() -> Option<String> {
    let name = std::env::var("NCC_ROOTLESS_USER").unwrap_or_else(|_| "ncc-test".into());
    nix::unistd::User::from_name(&name)
        .ok()
        .flatten()
        .map(|_| name)
}

/// A copy of this binary the unprivileged user can run: the build tree may sit under
/// a directory only root may enter (e.g. `/root`).
fn rootless_exe() -> Result<PathBuf, String> {
    static COPY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ncc-sandbox-test-bin.{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        let exe = dir.join("sandbox-trials");
        fs::copy(std::env::current_exe().map_err(|e| e.to_string())?, &exe)
            .map_err(|e| format!("cannot copy the test binary for the rootless user: {e}"))?;
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        Ok(exe)
    })
    .clone()
}

/// What a trial left: its task's processes (marker in their environment), the
/// checker's `__sandbox-child`, host mounts under its TMPDIR, cgroups of the checker
/// (any of ours when the checker's pid is unknown), and entries of its TMPDIR.
fn leftovers(marker: &str, tmp: &Path, checker: Option<u32>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let env = fs::read(e.path().join("environ")).unwrap_or_default();
            let needle = format!("{MARKER}={marker}");
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                let cmd = fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
                out.push(format!("process {pid} ({})", cmd.replace('\0', " ")));
            }
            if let Some(checker) = checker {
                let tag = format!("NOMAD_CHROOT_CHECK_PARENT={checker}");
                if env.split(|b| *b == 0).any(|v| v == tag.as_bytes()) {
                    out.push(format!("monitor process {pid}"));
                }
            }
        }
    }
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in mi.lines() {
        if l.contains(&*tmp.to_string_lossy()) {
            out.push(format!("host mount: {l}"));
        }
    }
    for cg in sandbox::cgroup::existing() {
        let name = cg
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if checker.is_none_or(|c| name.starts_with(&format!("nomad-chroot-check-{c}-"))) {
            out.push(format!("cgroup {}", cg.display()));
        }
    }
    if let Ok(rd) = fs::read_dir(tmp) {
        for e in rd.flatten() {
            out.push(format!("temp dir {}", e.path().display()));
        }
    }
    out
}

fn wait_clean(marker: &str, tmp: &Path, checker: Option<u32>, within: Duration) -> Vec<String> {
    let until = Instant::now() + within;
    loop {
        let l = leftovers(marker, tmp, checker);
        if l.is_empty() || Instant::now() > until {
            return l;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_trial(sc: &Scenario) -> Result<Completion, Failed> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let marker = format!("{}-{}", sc.name.replace("::", "-"), std::process::id());
    let tmp = tempfile::Builder::new()
        .prefix("ncc-sandbox-test.")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let tmp_path = tmp.path().to_path_buf();
    // A pid that cannot be alive: above the kernel's pid_max.
    let pid_max: u64 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4_194_304);
    let stale: Vec<PathBuf> = ["memory", "cpu", "pids"]
        .iter()
        .map(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(format!("nomad-chroot-check-{}-0", pid_max + 1))
        })
        .collect();
    if sc.stale_cgroup {
        for d in &stale {
            fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
    }
    let mut cmd = if sc.rootless {
        let user = rootless_user().ok_or("no rootless user")?;
        nix::unistd::chown(
            &tmp_path,
            nix::unistd::User::from_name(&user)
                .ok()
                .flatten()
                .map(|u| u.uid),
            None,
        )
        .map_err(|e| e.to_string())?;
        // setpriv execs the trial itself, so a signal to the child reaches the checker.
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={user}"))
            .arg(format!("--regid={user}"))
            .arg("--clear-groups")
            .arg(rootless_exe()?);
        c
    } else {
        Command::new(&exe)
    };
    if sc.real_binary {
        cmd.env(
            "NOMAD_CHROOT_CHECK_EXE",
            env!("CARGO_BIN_EXE_nomad-chroot-check"),
        );
    }
    cmd.args(["__trial", sc.name])
        .env("TMPDIR", &tmp_path)
        .env(MARKER, &marker)
        .stdin(if sc.shell_stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let (Some(text), Some(mut stdin)) = (sc.shell_stdin, child.stdin.take()) {
        use std::io::Write as _;
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    if let Some(sig) = sc.kill_checker {
        let pid = child.id() as i32;
        // Wait until the task runs, then signal the checker.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            // The trial itself carries the marker too; the task is another process.
            let me = format!("process {pid} ");
            let running = leftovers(&marker, &tmp_path, None)
                .iter()
                .any(|l| l.starts_with("process") && !l.starts_with(&me));
            if running {
                break;
            }
            if Instant::now() > until {
                return Err("the task never started".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The trial runs under runuser for rootless ones; signal the real checker.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig).unwrap(),
        );
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if sig != libc::SIGKILL {
            ensure_failed(
                out.status.code() == Some(128 + sig),
                format!("checker exit {:?}", out.status),
            )?;
        }
        let left = wait_clean(&marker, &tmp_path, Some(pid as u32), Duration::from_secs(5));
        if !left.is_empty() {
            return Err(format!("left behind after signal {sig}: {left:#?}").into());
        }
        return Ok(Completion::Completed);
    }
    let checker_pid = child.id();
    let out = wait_timeout(child, Duration::from_secs(60))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The result is the last line; a shell trial's output comes before it.
    let trimmed = stdout.trim_end();
    let (before, last) = trimmed.rsplit_once('\n').unwrap_or(("", trimmed));
    let mut v: Value = serde_json::from_str(last)
        .map_err(|e| format!("trial printed no result ({e}); stdout {stdout:?} stderr {stderr}"))?;
    v["shell_output"] = Value::String(if before.is_empty() {
        String::new()
    } else {
        format!("{}\n", before.trim_end_matches('\n'))
    });
    if sc.rootless && v["error"].is_null() {
        let userns = v["outcome"]["enforced"]["userns"].as_str().unwrap_or("");
        if !userns.starts_with("applied") {
            return Err(format!("not run in a user namespace: {userns:?}").into());
        }
    }
    let left = wait_clean(
        &marker,
        &tmp_path,
        Some(checker_pid),
        Duration::from_secs(3),
    );
    if v["unavailable"] == true {
        return Ok(Completion::ignored_with(format!(
            "sandbox unavailable here: {}",
            v["error"]
        )));
    }
    (sc.check)(&v).map_err(|e| format!("{e}\nresult: {v:#}"))?;
    if !left.is_empty() {
        return Err(format!("left behind: {left:#?}").into());
    }
    let unswept: Vec<&PathBuf> = stale.iter().filter(|d| d.exists()).collect();
    if !unswept.is_empty() {
        return Err(format!("stale cgroups not swept: {unswept:?}").into());
    }
    Ok(Completion::Completed)
}

fn ensure_failed(cond: bool, msg: String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg.into()) }
}

fn wait_timeout(
    mut child: std::process::Child,
    t: Duration,
) -> Result<std::process::Output, Failed> {
    let until = Instant::now() + t;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return child.wait_with_output().map_err(|e| e.to_string().into());
        }
        if Instant::now() > until {
            let _ = child.kill();
            return Err("trial did not finish within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const CLONE3_TRIAL: &str = "clone_into_cgroup_places_the_child_in_a_v2_group";

/// Where a cgroup2 filesystem is mounted (the whole tree on v2 hosts, `unified` on
/// hybrid ones like this machine's).
fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let point = pre.split(' ').nth(4)?;
        (post.split(' ').next() == Some("cgroup2")).then(|| PathBuf::from(point))
    })
}

/// The sandbox child's fork on cgroup v2 (`sys::fork_with`): its child starts in the
/// group (by its own /proc/self/cgroup) and in a mount namespace of its own, and the
/// group is empty once it is reaped.
fn clone_into_cgroup(mnt: &Path) -> Result<Completion, Failed> {
    let dir = mnt.join(format!("ncc-clone3-test-{}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .arg("__clone3_probe")
        .arg(&dir)
        .output();
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    let removed = fs::remove_dir(&dir);
    let out = out.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure_failed(
        out.status.success(),
        format!(
            "probe failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    ensure_failed(text.trim() == "placed", format!("probe said {text:?}"))?;
    ensure_failed(
        procs.trim().is_empty(),
        format!("left in the group: {procs}"),
    )?;
    removed.map_err(|e| format!("rmdir {}: {e}", dir.display()))?;
    Ok(Completion::Completed)
}

/// In a fresh (single-threaded) copy of this binary: fork into `dir` and say where the
/// child found itself.
fn clone3_probe(dir: &Path) -> ! {
    let want = format!(
        "0::/{}",
        dir.strip_prefix(cgroup2_mount().unwrap_or_default())
            .unwrap_or(dir)
            .display()
    );
    let fd = fs::File::open(dir).expect("open the cgroup dir");
    let mnt = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    let parent_ns = mnt("self");
    match nomad_chroot_check::sys::fork_with(
        nix::sched::CloneFlags::CLONE_NEWNS,
        Some(std::os::fd::AsFd::as_fd(&fd)),
    ) {
        Ok((nix::unistd::ForkResult::Child, placed)) => {
            let me = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let ok = placed && me.lines().any(|l| l == want) && mnt("self") != parent_ns;
            std::process::exit(if ok { 0 } else { 1 });
        }
        Ok((nix::unistd::ForkResult::Parent { child }, _)) => {
            let st = nix::sys::wait::waitpid(child, None);
            let ok = matches!(st, Ok(nix::sys::wait::WaitStatus::Exited(_, 0)));
            println!("{}", if ok { "placed" } else { "not placed" });
            std::process::exit(0);
        }
        Err(e) => {
            println!("clone3 failed: {e}");
            std::process::exit(1);
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__sandbox-child") {
        let num = |flag: &str| {
            argv.iter()
                .position(|a| a == flag)
                .and_then(|i| argv.get(i + 1))
                .and_then(|n| n.parse().ok())
                .unwrap_or(-1)
        };
        std::process::exit(sandbox::child_main(num("--plan-fd"), num("--result-fd")));
    }
    if argv.get(1).map(String::as_str) == Some("__trial") {
        trial_main(&argv[2]);
    }
    if argv.get(1).map(String::as_str) == Some("__clone3_probe") {
        clone3_probe(Path::new(&argv[2]));
    }
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let root = nix::unistd::geteuid().is_root();
    let rootless_user = rootless_user();
    let trials = scenarios()
        .into_iter()
        .map(|sc| {
            let needs_cgroup = matches!(
                sc.name,
                "memory_hog_is_oom_killed" | "fork_bomb_is_contained" | "stale_cgroup_of_a_dead_checker_is_swept"
            );
            let ignore = if !root {
                Some("needs root (run as root; rootless trials switch to NCC_ROOTLESS_USER)".to_owned())
            } else if needs_cgroup && sandbox::cgroup::detect().is_none() {
                Some("no cgroup filesystem on this machine".to_owned())
            } else if sc.rootless && rootless_user.is_none() {
                Some("no unprivileged user `ncc-test` (set NCC_ROOTLESS_USER or create it: useradd ncc-test)".to_owned())
            } else {
                None
            };
            let name = sc.name;
            match ignore {
                Some(why) => Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))),
                None => Trial::ignorable_test(name, move || run_trial(&sc)),
            }
        })
        .collect();
    let mut trials: Vec<Trial> = trials;
    trials.push(match (root, cgroup2_mount()) {
        (false, _) => Trial::ignorable_test(CLONE3_TRIAL, || {
            Ok(Completion::ignored_with("needs root".to_owned()))
        }),
        (true, None) => Trial::ignorable_test(CLONE3_TRIAL, || {
            Ok(Completion::ignored_with(
                "no cgroup2 filesystem mounted".to_owned(),
            ))
        }),
        (true, Some(mnt)) => Trial::ignorable_test(CLONE3_TRIAL, move || clone_into_cgroup(&mnt)),
    });
    let conclusion = libtest_mimic::run(&args, trials);
    let _ = fs::remove_dir_all(
        std::env::temp_dir().join(format!("ncc-sandbox-test-bin.{}", std::process::id())),
    );
    conclusion.exit();
}
