//! The jobspec reader against Nomad's own parser expectations
//! (`hashicorp/nomad:jobspec2/parse_test.go` at v2.0.5, written here as data from its
//! facts) and one test per compatibility item of issue 14.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use clap::Parser;
use nomad_chroot_check::cli::{Cli, Command};
use nomad_chroot_check::finding::{Cause, Kind};
use nomad_chroot_check::job::hcl::{Node, VarInputs, parse_job};
use nomad_chroot_check::job::{self, JobPlan};
use serde_json::{Value, json};

fn parse_with(src: &str, inputs: &VarInputs) -> Result<Node, String> {
    parse_job(Path::new("/nonexistent/input.hcl"), src, inputs).map_err(|e| e.to_string())
}

fn parse(src: &str) -> Result<Node, String> {
    parse_with(src, &VarInputs::default())
}

fn vars(v: &[(&str, &str)]) -> VarInputs {
    VarInputs {
        vars: v
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..VarInputs::default()
    }
}

fn attr(n: &Node, key: &str) -> Value {
    n.attr(key).cloned().unwrap_or(Value::Null)
}

fn child<'a>(n: &'a Node, ident: &'a str) -> &'a Node {
    n.blocks(ident)
        .next()
        .unwrap_or_else(|| panic!("no {ident} block in {}", n.ident))
}

fn map_of(n: &Node) -> Value {
    Value::Object(n.attrs.iter().cloned().collect())
}

#[track_caller]
fn refused(src: &str, needle: &str) {
    match parse(src) {
        Ok(_) => panic!("accepted, but Nomad refuses with {needle:?}:\n{src}"),
        Err(e) => assert!(e.contains(needle), "{e}"),
    }
}

fn in_task(snippet: &str) -> String {
    format!(
        "job \"example\" {{\n  group \"group\" {{\n    task \"task\" {{\n      driver = \"docker\"\n      config {{}}\n\n      {snippet}\n    }}\n  }}\n}}\n"
    )
}

// ------------------------------------------------------------ parse_test.go

/// `TestParse_VarsAndFunctions`, `TestParse_VariablesDefaultsAndSet`,
/// `TestParse_Locals`.
#[test]
fn variables_locals_and_for_expressions() {
    let src = "variables {\n  region_var = \"default\"\n}\njob \"example\" {\n  datacenters = [for s in [\"dc1\", \"dc2\"] : upper(s)]\n  region      = var.region_var\n}\n";
    let n = parse_with(src, &vars(&[("region_var", "aug")])).unwrap();
    assert_eq!(attr(&n, "datacenters"), json!(["DC1", "DC2"]));
    assert_eq!(attr(&n, "region"), "aug");

    let src = "variables {\n  region_var = \"default_region\"\n}\nvariable \"dc_var\" {\n  default = \"default_dc\"\n}\njob \"example\" {\n  datacenters = [var.dc_var]\n  region      = var.region_var\n}\n";
    let n = parse(src).unwrap();
    assert_eq!(attr(&n, "datacenters"), json!(["default_dc"]));
    assert_eq!(attr(&n, "region"), "default_region");
    let n = parse_with(
        src,
        &vars(&[("dc_var", "set_dc"), ("region_var", "set_region")]),
    )
    .unwrap();
    assert_eq!(attr(&n, "datacenters"), json!(["set_dc"]));
    assert_eq!(attr(&n, "region"), "set_region");
    let env = VarInputs {
        env: vec![
            ("dc_var".into(), "set_dc".into()),
            ("region_var".into(), "set_region".into()),
        ],
        ..VarInputs::default()
    };
    assert_eq!(
        attr(&parse_with(src, &env).unwrap(), "region"),
        "set_region"
    );
    let dir = tempfile::tempdir().unwrap();
    let vf = dir.path().join("vars.hcl");
    std::fs::write(&vf, "dc_var = \"set_dc\"\n\tregion_var = \"set_region\"").unwrap();
    let files = VarInputs {
        files: vec![vf],
        ..VarInputs::default()
    };
    assert_eq!(
        attr(&parse_with(src, &files).unwrap(), "datacenters"),
        json!(["set_dc"])
    );
    let missing = VarInputs {
        files: vec![dir.path().join("does-not-exist.hcl")],
        ..VarInputs::default()
    };
    assert!(parse_with(src, &missing).is_err());
    let bad = dir.path().join("bad.hcl");
    std::fs::write(&bad, "invalid{hcl").unwrap();
    let bad = VarInputs {
        files: vec![bad],
        ..VarInputs::default()
    };
    assert!(parse_with(src, &bad).is_err());

    let src = "variables {\n  region_var = \"default_region\"\n}\nlocals {\n  # literal local\n  dc = \"local_dc\"\n  # local that depends on a variable\n  region = \"${var.region_var}.example\"\n}\njob \"example\" {\n  datacenters = [local.dc]\n  region      = local.region\n}\n";
    let n = parse(src).unwrap();
    assert_eq!(attr(&n, "datacenters"), json!(["local_dc"]));
    assert_eq!(attr(&n, "region"), "default_region.example");
    let n = parse_with(src, &vars(&[("region_var", "set_region")])).unwrap();
    assert_eq!(attr(&n, "region"), "set_region.example");
}

/// `TestParse_UnknownVariables`, `TestParse_UndefinedVariables` (item 9: a bare
/// unknown reference becomes `${…}`; item 15: spaces are kept byte for byte).
#[test]
fn unknown_references_stay_as_written() {
    let src = "variables {\n  region_var = \"default\"\n}\njob \"example\" {\n  region = var.region_var\n  meta {\n    known_var   = \"${var.region_var}\"\n    unknown_var = \"${UNKNOWN}\"\n  }\n}\n";
    let n = parse_with(src, &vars(&[("region_var", "aug")])).unwrap();
    assert_eq!(
        map_of(child(&n, "meta")),
        json!({"known_var": "aug", "unknown_var": "${UNKNOWN}"})
    );
    for c in [
        "plain",
        "foo-${BAR}",
        "foo-${attr.network.dev-us-east1-relay-vpc.external-ip.0}",
        r#"${env["BLAH"]}"#,
        r#"${mixed-indexing.0[3]["FOO"].5}"#,
        r#"with spaces ${   root.  field[  "FOO"].5  }"#,
        "${ meta.rack }",
    ] {
        let n = parse(&format!("job \"example\" {{\n  region = \"{c}\"\n}}")).unwrap();
        assert_eq!(attr(&n, "region"), c, "{c}");
    }
    let n = parse("job \"example\" {\n  region = meta.mytest\n}").unwrap();
    assert_eq!(attr(&n, "region"), "${meta.mytest}");
}

/// `TestParse_UnsetVariables`, `TestParse_InvalidHCL`.
#[test]
fn unset_variables_and_invalid_hcl_are_refused() {
    let e = parse("variable \"region_var\" {}\njob \"example\" {\n  region = var.region_var\n}\n")
        .unwrap_err();
    assert!(e.contains("Unset variable"), "{e}");
    assert!(parse("invalid{hcl").is_err());
}

/// `TestParse_FileOperators`, and item 6: `file()` inside `"${…}"` is the same
/// function.
#[test]
fn file_functions_in_expressions_and_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cmd.txt"), "hello").unwrap();
    let path = dir.path().join("j.nomad.hcl");
    let src = "job \"example\" {\n  region    = file(\"cmd.txt\")\n  namespace = \"${file(\"cmd.txt\")}-${upper(\"x\")}\"\n}\n";
    let n = parse_job(&path, src, &VarInputs::default()).unwrap();
    assert_eq!(attr(&n, "region"), "hello");
    assert_eq!(attr(&n, "namespace"), "hello-X");
}

/// `TestParseDynamic` (item 7): three groups from one `dynamic "group"`, values
/// interpolated inside maps.
#[test]
fn dynamic_blocks_expand() {
    let src = r#"
job "example" {

  dynamic "group" {
    for_each = [
      { name = "groupA", idx = 1 },
      { name = "groupB", idx = 2 },
      { name = "groupC", idx = 3 },
    ]
    labels   = [group.value.name]

    content {
      count = group.value.idx

      service {
        port = group.value.name
      }

      task "simple" {
        driver  = "raw_exec"
        config {
          command = group.value.name
        }
        meta {
          VERSION = group.value.idx
        }
        env {
          ID = format("id:%s", group.value.idx)
        }
        resources {
          cpu = group.value.idx
        }
      }
    }
  }
}
"#;
    let n = parse(src).unwrap();
    let groups: Vec<&Node> = n.blocks("group").collect();
    assert_eq!(groups.len(), 3);
    assert_eq!(
        groups.iter().map(|g| g.label()).collect::<Vec<_>>(),
        ["groupA", "groupB", "groupC"]
    );
    let task = child(groups[0], "task");
    assert_eq!(attr(child(task, "resources"), "cpu"), 1);
    assert_eq!(attr(child(groups[0], "service"), "port"), "groupA");
    assert_eq!(attr(child(task, "config"), "command"), "groupA");
    assert_eq!(attr(child(task, "meta"), "VERSION"), "1");
    assert_eq!(attr(child(task, "env"), "ID"), "id:1");
    assert_eq!(attr(child(child(groups[1], "task"), "env"), "ID"), "id:2");
    assert_eq!(
        attr(child(child(groups[2], "task"), "meta"), "VERSION"),
        "3"
    );

    // An iterator name, a map to iterate, and a dynamic block nested in another.
    let src = r#"
job "example" {
  group "g" {
    task "t" {
      driver = "exec"
      dynamic "artifact" {
        for_each = { a = "x.tar.gz", b = "y.tar.gz" }
        iterator = art
        content {
          source      = art.value
          destination = "local/${art.key}"
          dynamic "options" {
            for_each = [art.key]
            content {
              archive = "tar.gz"
            }
          }
        }
      }
    }
  }
}
"#;
    let n = parse(src).unwrap();
    let task = child(child(&n, "group"), "task");
    let arts: Vec<&Node> = task.blocks("artifact").collect();
    assert_eq!(arts.len(), 2);
    assert_eq!(attr(arts[1], "source"), "y.tar.gz");
    assert_eq!(attr(arts[1], "destination"), "local/b");
    assert_eq!(attr(child(arts[0], "options"), "archive"), "tar.gz");
    refused(
        "job \"j\" {\n  dynamic \"nope\" {\n    for_each = [1]\n    content {}\n  }\n}\n",
        "Blocks of type \"nope\" are not expected here",
    );
}

/// `TestParse_InvalidScalingSyntax`.
#[test]
fn scaling_policies() {
    let job = |group: &str, task: &str| {
        format!(
            "job \"example\" {{\n  group \"g1\" {{\n    scaling {{\n{group}\n    }}\n\n    task \"t1\" {{\n{task}\n    }}\n  }}\n}}\n"
        )
    };
    let cpu_mem = "      scaling \"cpu\" {\n        max = 20\n      }\n      scaling \"mem\" {\n        max = 15\n      }";
    parse(&job(
        "      max  = 40\n      type = \"horizontal\"",
        cpu_mem,
    ))
    .unwrap();
    refused(
        &job("      #max  = 40\n      type = \"horizontal\"", cpu_mem),
        "argument \"max\" is required",
    );
    refused(
        &job("      max  = 40\n      type = \"invalid_type\"", cpu_mem),
        "task group scaling policy had invalid type",
    );
    let ok_group = "      max  = 40\n      type = \"horizontal\"";
    refused(
        &job(
            ok_group,
            "      scaling \"not_cpu\" {\n        max = 20\n      }",
        ),
        "scaling policy name must be \"cpu\" or \"mem\"",
    );
    refused(
        &job(
            ok_group,
            "      scaling \"cpu\" {\n        max = 20\n      }\n      scaling \"cpu\" {\n        max = 15\n      }",
        ),
        "Duplicate scaling \"cpu\" block",
    );
    refused(
        &job(
            ok_group,
            "      scaling \"cpu\" {\n        max  = 20\n        type = \"invalid\"\n      }",
        ),
        "Invalid scaling policy type",
    );
}

/// `TestParseJob_JobWithFunctionsAndLookups`.
#[test]
fn functions_and_lookups() {
    let src = r#"
variable "env" {
  description = "target environment for the job"
}

locals {
  environments = {
    prod    = { count = 20, dcs = ["prod-dc1", "prod-dc2"] },
    staging = { count = 3, dcs = ["dc1"] },
  }

  env = lookup(local.environments, var.env, { count = 0, dcs = [] })
}

job "job-webserver" {
  datacenters = local.env.dcs
  group "group-webserver" {
    count = local.env.count

    task "server" {
      driver = "docker"

      config {
        image = "hashicorp/http-echo"
        args  = ["-text", "Hello from ${var.env}"]
      }
    }
  }
}
"#;
    for (env, dcs, count) in [
        ("prod", json!(["prod-dc1", "prod-dc2"]), 20),
        ("staging", json!(["dc1"]), 3),
        ("unknown", json!([]), 0),
    ] {
        let n = parse_with(src, &vars(&[("env", env)])).unwrap();
        assert_eq!(attr(&n, "datacenters"), dcs);
        let g = child(&n, "group");
        assert_eq!(attr(g, "count"), count);
        let config = child(child(g, "task"), "config");
        assert_eq!(attr(config, "image"), "hashicorp/http-echo");
        assert_eq!(
            attr(config, "args"),
            json!(["-text", format!("Hello from {env}")])
        );
    }
}

/// `TestParse_TaskEnvs`, `TestParse_TaskEnvs_Multiple` and `Test_TaskEnvs_Invalid`
/// (item 10: the attribute and the block together are a duplicate).
#[test]
fn task_env_forms() {
    let env_of = |snippet: &str| {
        let n = parse(&in_task(snippet)).unwrap();
        let task = child(child(&n, "group"), "task");
        task.blocks("env").next().map(map_of)
    };
    assert_eq!(env_of(""), None);
    assert_eq!(
        env_of("env {\n  key = \"value\"\n}"),
        Some(json!({"key": "value"}))
    );
    let both = json!({"key.dot": "val1", "key_unquoted_without_dot": "val2"});
    assert_eq!(
        env_of(
            "env = {\n  \"key.dot\"                = \"val1\"\n  key_unquoted_without_dot = \"val2\"\n}"
        ),
        Some(both.clone())
    );
    assert_eq!(
        env_of("env = {\n  \"key.dot\" : \"val1\"\n  key_unquoted_without_dot : \"val2\"\n}"),
        Some(both)
    );
    assert_eq!(env_of("env = {}"), Some(json!({})));
    assert_eq!(
        env_of("env = {for k in [\"a\", \"b\"]: k => \"val-${k}\" }"),
        Some(json!({"a": "val-a", "b": "val-b"}))
    );
    refused(
        &in_task("env = {\"a\": \"b\"}\n      env {\n        c = \"d\"\n      }"),
        "Duplicate env block",
    );
    refused(
        &in_task("env = { key = local.undefined_local }"),
        "does not have an attribute named \"undefined_local\"",
    );
    assert!(parse(&in_task("env {\n  for k in [\"a\", \"b\"]: k => k\n}")).is_err());
    refused(
        &in_task("env = [ \"a\" ]"),
        "Unsuitable value: map of string required",
    );
}

/// `TestParse_Meta_Alternatives` (item 8): block and attribute forms give the same
/// result at job, group and task level.
#[test]
fn meta_block_and_attribute_forms_agree() {
    let block = " job \"example\" {\n  group \"group\" {\n    task \"task\" {\n      driver = \"config\"\n      config {}\n\n      meta {\n        source = \"task\"\n      }\n    }\n\n    meta {\n      source = \"group\"\n\n    }\n  }\n\n  meta {\n    source = \"job\"\n  }\n}\n";
    let attrs = block.replace("meta {", "meta = {");
    assert_eq!(attrs.matches("meta = {").count(), 3);
    let (a, b) = (parse(block).unwrap(), parse(&attrs).unwrap());
    assert_eq!(a, b);
    assert_eq!(map_of(child(&a, "meta")), json!({"source": "job"}));
    let g = child(&a, "group");
    assert_eq!(map_of(child(g, "meta")), json!({"source": "group"}));
    assert_eq!(
        map_of(child(child(g, "task"), "meta")),
        json!({"source": "task"})
    );
}

/// `TestParse_Constraint_Alternatives`, `TestParseServiceCheck`, and the duplicate
/// check of every single block (item 10) as gohcl does it.
#[test]
fn constraints_checks_and_duplicate_single_blocks() {
    parse("job \"example\" {\n  constraint {\n    distinct_hosts = true\n  }\n  constraint {\n    distinct_property = \"${meta.rack}\"\n    value     = \"1\"\n  }\n  group \"group\" {\n    constraint {\n      operator  = \"distinct_property\"\n      attribute = \"${meta.rack}\"\n      value     = \"2\"\n    }\n  }\n}\n").unwrap();
    let n = parse(" job \"group_service_check_script\" {\n  group \"group\" {\n    service {\n      name = \"foo-service\"\n      port = \"http\"\n      check {\n        name   = \"check-name\"\n        type   = \"http\"\n        method = \"POST\"\n        body   = \"{\\\"check\\\":\\\"mem\\\"}\"\n      }\n    }\n  }\n}\n").unwrap();
    let check = child(child(child(&n, "group"), "service"), "check");
    assert_eq!(attr(check, "body"), "{\"check\":\"mem\"}");
    refused(
        &in_task("resources {\n  cpu = 1\n}\n      resources {\n  cpu = 2\n}"),
        "Duplicate resources block",
    );
    refused(
        "job \"j\" {\n  update {}\n  update {}\n}\n",
        "Duplicate update block",
    );
    refused(
        &in_task("bogus = 1"),
        "An argument named \"bogus\" is not expected here",
    );
    refused(
        &in_task("bogus {}"),
        "Blocks of type \"bogus\" are not expected here",
    );
    refused(
        &in_task("lifecycle {\n  sidecar = true\n}"),
        "The argument \"hook\" is required",
    );
}

/// `TestParse_VariableValidationErrorMessage`, and item 11: conditions are evaluated.
#[test]
fn variable_validation() {
    let job_with = |msg: &str, default: &str| {
        format!(
            "variable \"build_id\" {{\n  type    = string\n  default = \"{default}\"\n  validation {{\n    condition     = var.build_id != \"\"\n    error_message = \"{msg}\"\n  }}\n}}\n\njob \"example\" {{\n  datacenters = [\"dc1\"]\n}}\n"
        )
    };
    parse(&job_with("ビルド番号を確認してください", "12345")).unwrap();
    parse(&job_with("build id is required", "12345")).unwrap();
    refused(&job_with("", "12345"), "Invalid validation error message");
    refused(
        &job_with("   ", "12345"),
        "Invalid validation error message",
    );
    let e = parse(&job_with("build id is required", "")).unwrap_err();
    assert!(
        e.contains("Invalid value for default variable") && e.contains("build id is required"),
        "{e}"
    );
    let e = parse_with(
        &job_with("build id is required", "12345"),
        &vars(&[("build_id", "")]),
    )
    .unwrap_err();
    assert!(e.contains("Invalid value for cmd variable"), "{e}");
    refused(
        "variable \"a\" {\n  default = 1\n  validation {\n    condition     = var.b > 0\n    error_message = \"no\"\n  }\n}\njob \"j\" {}\n",
        "can only refer to the variable itself",
    );
}

/// Item 4: a default converts to the declared type (cty convert), and fails only if it
/// cannot.
#[test]
fn typed_variable_defaults_convert() {
    let src = "variable \"port\" {\n  type    = number\n  default = \"7511\"\n}\njob \"j\" {\n  priority = var.port - 7461\n}\n";
    assert_eq!(attr(&parse(src).unwrap(), "priority"), 50);
    assert_eq!(
        attr(
            &parse_with(src, &vars(&[("port", "7512")])).unwrap(),
            "priority"
        ),
        51
    );
    refused(
        &src.replace("\"7511\"", "\"x\""),
        "not compatible with the variable's type constraint: a number is required",
    );
    let src = "variable \"l\" {\n  type    = list(string)\n  default = [1, true]\n}\njob \"j\" {\n  datacenters = var.l\n}\n";
    assert_eq!(
        attr(&parse(src).unwrap(), "datacenters"),
        json!(["1", "true"])
    );
}

// ------------------------------------------------------------ the planner

fn args(argv: &[&str]) -> nomad_chroot_check::cli::JobArgs {
    let mut full = vec!["nomad-chroot-check", "job"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full)
        .expect("valid command line")
        .command
    {
        Some(Command::Job(a)) => a,
        other => panic!("not a job command: {other:?}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn plan(dir: &Path, spec: &str, extra: &[&str]) -> Result<JobPlan, String> {
    let p = write(dir, "job.nomad.hcl", spec);
    let mut argv = vec![p.to_str().unwrap()];
    argv.extend_from_slice(extra);
    job::plan(&args(&argv)).map_err(|e| e.to_string())
}

const EXEC: &str = "driver = \"exec\"\n      config {\n        command = \"/bin/true\"\n      }";

/// Item 1: a task directly in `job` becomes a group of its own name
/// (`jobspec2/parse_job.go` `normalizeJob`), ahead of the written groups.
#[test]
fn job_level_tasks_become_groups() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        &format!("job \"j\" {{\n  task \"solo\" {{\n      {EXEC}\n  }}\n  group \"g\" {{\n    task \"t\" {{\n      {EXEC}\n    }}\n  }}\n}}\n"),
        &[],
    )
    .unwrap();
    let names: Vec<_> = p
        .tasks
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t.opts.task.group.as_deref().unwrap_or(""),
                t.opts.task.name
            )
        })
        .collect();
    assert_eq!(names, ["solo/solo", "g/t"]);
}

/// Items 2 and 3: `secret` in a task (Nomad 2.0), and a group's `vault`/`secret`
/// copied to its tasks (`hcl_conversions.go` `decodeTaskGroup`): accepted and
/// reported as not emulated.
#[test]
fn secrets_and_group_vault_reach_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        &format!("job \"j\" {{\n  group \"g\" {{\n    vault {{\n      role = \"app\"\n    }}\n    secret \"db\" {{\n      provider = \"vault\"\n      path     = \"kv/db\"\n    }}\n    task \"t\" {{\n      {EXEC}\n      secret \"own\" {{\n        provider = \"nomad\"\n        path     = \"x\"\n      }}\n    }}\n    task \"u\" {{\n      {EXEC}\n    }}\n  }}\n}}\n"),
        &[],
    )
    .unwrap();
    let notes = |name: &str| -> Vec<String> {
        p.tasks
            .iter()
            .find(|t| t.opts.task.name == name)
            .unwrap()
            .findings
            .iter()
            .filter(|f| f.cause == Cause::NotEmulated)
            .map(|f| f.path.clone())
            .collect()
    };
    let t = notes("t");
    assert!(t.iter().any(|n| n.starts_with("vault")), "{t:?}");
    assert!(t.iter().any(|n| n.starts_with("secret \"own\"")), "{t:?}");
    let u = notes("u");
    assert!(u.iter().any(|n| n.starts_with("vault")), "{u:?}");
    assert!(u.iter().any(|n| n.starts_with("secret \"db\"")), "{u:?}");
}

/// Item 14: `user = "root"` is refused by the client's validate hook for exec
/// (`user.denylist` defaults to `root,Administrator`) unless the client config says
/// otherwise.
#[test]
fn root_user_is_denied_unless_the_client_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      user = \"root\"\n      {EXEC}\n    }}\n  }}\n}}\n"
    );
    let p = plan(dir.path(), &spec, &[]).unwrap();
    let t = &p.tasks[0];
    assert!(t.blocked);
    let f = t
        .findings
        .iter()
        .find(|f| f.cause == Cause::StartFailure)
        .unwrap();
    assert_eq!(f.kind, Kind::Run);
    assert!(
        f.nomad_error
            .as_deref()
            .unwrap()
            .contains("running as user \"root\" is disallowed")
    );
    let cfg = write(
        dir.path(),
        "client.hcl",
        "client {\n  options {\n    \"user.denylist\" = \"Administrator\"\n  }\n}\n",
    );
    let p = plan(
        dir.path(),
        &spec,
        &["--client-config", cfg.to_str().unwrap()],
    )
    .unwrap();
    assert!(!p.tasks[0].blocked);
}

/// Item 15: `"${ meta.rack }"` keeps its spaces, so Nomad's runtime pattern never
/// matches it and `--node` does not resolve it.
#[test]
fn spaced_references_reach_the_task_literally() {
    let dir = tempfile::tempdir().unwrap();
    let node = write(dir.path(), "node.json", "{\"meta\": {\"rack\": \"r1\"}}");
    let p = plan(
        dir.path(),
        "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/true\"\n      }\n      env {\n        A = \"${ meta.rack }\"\n        B = \"${meta.rack}\"\n      }\n    }\n  }\n}\n",
        &["--node", node.to_str().unwrap()],
    )
    .unwrap();
    let env = &p.tasks[0].env;
    assert_eq!(env["A"], "${ meta.rack }");
    assert_eq!(env["B"], "r1");
}

/// Item 9: a bare unknown reference is kept as `${…}` and interpolated by the client.
#[test]
fn bare_references_are_kept_for_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let node = write(dir.path(), "node.json", "{\"meta\": {\"rack\": \"r1\"}}");
    let p = plan(
        dir.path(),
        "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/echo\"\n        args    = [meta.rack]\n      }\n    }\n  }\n}\n",
        &["--node", node.to_str().unwrap()],
    )
    .unwrap();
    assert_eq!(p.tasks[0].opts.task.args, ["r1"]);
}

/// Item 12: a plain file (no archive suffix) is saved into the destination as go-getter
/// does; and every unmapped artifact is named in one error.
#[test]
fn plain_file_artifacts_and_all_unmapped_sources() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run.sh", "#!/bin/sh\necho hi\n");
    let spec = "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/sh\"\n        args    = [\"local/run.sh\"]\n      }\n      artifact {\n        source = \"https://example.com/run.sh\"\n      }\n    }\n  }\n}\n";
    let map = format!(
        "https://example.com/run.sh={}",
        dir.path().join("run.sh").display()
    );
    let p = plan(dir.path(), spec, &["--artifact", &map]).unwrap();
    let a = &p.tasks[0].opts.artifacts[0];
    assert_eq!(a.copy.as_deref(), Some("run.sh"));
    assert_eq!(a.destination, "local/");

    let two = spec.replace(
        "      artifact {",
        "      artifact {\n        source = \"https://example.com/other.tar.gz\"\n      }\n      artifact {",
    );
    let e = plan(dir.path(), &two, &[]).unwrap_err();
    assert!(e.contains("2 artifact sources are not mapped"), "{e}");
    assert!(e.contains("other.tar.gz") && e.contains("run.sh"), "{e}");
}

/// Item 13: `--artifact git::URL=DIR` places a local checkout as go-getter's git getter
/// would (a clone, `.git` and all, into the destination).
#[test]
fn git_artifacts_map_to_a_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    write(&repo, "app.sh", "#!/bin/sh\n");
    let spec = "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/sh\"\n      }\n      artifact {\n        source      = \"git::https://example.com/app.git?ref=v1\"\n        destination = \"local/app\"\n      }\n    }\n  }\n}\n";
    let e = plan(dir.path(), spec, &[]).unwrap_err();
    assert!(e.contains("git::") && e.contains("DIR (a checkout)"), "{e}");
    let map = format!("git::https://example.com/app.git?ref=v1={}", repo.display());
    let p = plan(dir.path(), spec, &["--artifact", &map]).unwrap();
    let a = &p.tasks[0].opts.artifacts[0];
    assert_eq!(a.copy.as_deref(), Some(""));
    assert_eq!(a.file, repo);
    assert_eq!(a.destination, "local/app");
    let target = tempfile::tempdir().unwrap();
    let (entries, _) = nomad_chroot_check::archive::place_as_is(&repo, target.path(), "").unwrap();
    assert_eq!(entries, 2);
    assert!(target.path().join(".git").is_dir() && target.path().join("app.sh").is_file());
}

/// Java tasks are listed as not emulated, with the reason.
#[test]
fn java_tasks_are_listed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        &format!("job \"j\" {{\n  group \"g\" {{\n    task \"j\" {{\n      driver = \"java\"\n      config {{\n        jar_path = \"local/a.jar\"\n      }}\n    }}\n    task \"t\" {{\n      {EXEC}\n    }}\n  }}\n}}\n"),
        &[],
    )
    .unwrap();
    assert_eq!(p.skipped[0].driver, "java");
    assert!(
        p.skipped[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("not emulated")
    );
}

/// `--format json` prints one document for every outcome.
#[test]
fn json_outcomes_for_refused_specs_and_jobs_without_exec() {
    let dir = tempfile::tempdir().unwrap();
    let run = |spec: &str| {
        let p = write(dir.path(), "o.nomad.hcl", spec);
        let out = Proc::new(env!("CARGO_BIN_EXE_nomad-chroot-check"))
            .args(["job", p.to_str().unwrap(), "--format", "json"])
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (
            out.status.code(),
            doc,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, doc, err) = run("job \"j\" {\n  bogus = 1\n}\n");
    assert_eq!(code, Some(2));
    assert_eq!(doc["verdict"], "reject");
    assert!(doc["error"].as_str().unwrap().contains("bogus"), "{doc}");
    assert!(err.contains("bogus"));
    let (code, doc, _) = run(
        "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {}\n    }\n  }\n}\n",
    );
    assert_eq!(code, Some(2));
    assert_eq!(doc["verdict"], "not-applicable");
    assert_eq!(doc["schema_version"], 2);
    assert_eq!(doc["tasks"], serde_json::json!([]));
    assert!(doc["job"].is_null(), "{doc}");
}
