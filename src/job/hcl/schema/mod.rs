//! Which attributes and blocks Nomad's decoder accepts in each part of a jobspec, and
//! their types: the `hcl:"…"` tags of `hashicorp/nomad:api` that gohcl reads (see
//! `api.rs`), plus jobspec2's own additions (`hcl_conversions.go`: `meta`/`env` as
//! attributes, group and job `vault`/`secret`, job-level `task`).

mod api;

pub use api::*;

/// An attribute's Go type, as gohcl converts to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Num,
    Bool,
    /// `time.Duration`: a Go duration string or nanoseconds (`decodeDuration`).
    Dur,
    ListStr,
    ListNum,
    MapStr,
}

/// How many blocks of a type a struct takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nest {
    /// A pointer or struct field: a second block is "Duplicate … block".
    One,
    /// A slice.
    Many,
    /// A map keyed by the block's label (`volume "name"`).
    Labeled,
}

/// What a block's body decodes into.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    S(&'static Schema),
    /// `map[string]string` (`meta`, `env`, artifact `options`): attributes only.
    MapStr,
    /// `map[string][]string` (check `header`).
    MapListStr,
    /// `map[string]any` (driver `config`): attributes, nested blocks as lists of
    /// objects (`jobspec2/hclutil/blockattrs.go`).
    MapAny,
}

#[derive(Debug)]
pub struct Schema {
    /// The API struct's name.
    pub name: &'static str,
    /// How many labels its blocks carry (`hcl:",label"` fields).
    pub labels: u8,
    /// (name, type, required).
    pub attrs: &'static [(&'static str, Ty, bool)],
    pub blocks: &'static [(&'static str, Nest, Body)],
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<(Ty, bool)> {
        self.attrs.iter().find(|a| a.0 == name).map(|a| (a.1, a.2))
    }

    pub fn block(&self, name: &str) -> Option<(Nest, Body)> {
        self.blocks.iter().find(|b| b.0 == name).map(|b| (b.1, b.2))
    }
}

impl Body {
    pub fn labels(&self) -> u8 {
        match self {
            Body::S(s) => s.labels,
            _ => 0,
        }
    }
}

/// Blocks jobspec2 reads besides the API struct's own (`types.config.go`
/// `decodeJob`, `hcl_conversions.go` `decodeTaskGroup`).
pub fn extra_blocks(schema: &Schema) -> &'static [(&'static str, Nest, Body)] {
    static JOB: [(&str, Nest, Body); 3] = [
        ("vault", Nest::One, Body::S(&S_VAULT)),
        ("secret", Nest::Many, Body::S(&S_SECRET)),
        ("task", Nest::Many, Body::S(&S_TASK)),
    ];
    // The group's decoder takes every `vault` block (the last wins) and `secret`s.
    static GROUP: [(&str, Nest, Body); 2] = [
        ("vault", Nest::Many, Body::S(&S_VAULT)),
        ("secret", Nest::Many, Body::S(&S_SECRET)),
    ];
    match schema.name {
        "Job" => &JOB,
        "TaskGroup" => &GROUP,
        _ => &[],
    }
}

/// Map blocks that jobspec2 also accepts as attributes (`decodeAsAttribute`).
pub fn attr_forms(schema: &Schema) -> &'static [&'static str] {
    match schema.name {
        "Job" | "TaskGroup" => &["meta"],
        "Task" => &["env", "meta"],
        _ => &[],
    }
}
