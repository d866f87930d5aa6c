//! The bench's options: their defaults, full and `--quick`, and their parsing.

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub(crate) struct Options {
    quick: bool,
    pub(crate) spawns: usize,
    pub(crate) cold_runs: usize,
    pub(crate) calls: usize,
    pub(crate) warmup: usize,
    pub(crate) sizes: Vec<usize>,
    pub(crate) size_calls: usize,
    pub(crate) senders: usize,
    pub(crate) per_sender: usize,
    /// Room sizes for `search_messages`.
    pub(crate) search_sizes: Vec<usize>,
    /// The small and the large 100-topic room.
    pub(crate) topic_sizes: [usize; 2],
    /// The sections to run (all when `None`).
    only: Option<Vec<Section>>,
}

/// The bench's sections, as `--only` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Start,
    Latency,
    Rooms,
    Throughput,
    Search,
    Topics,
    Hooks,
    Wait,
    Claims,
}

impl Section {
    const ALL: [(Section, &'static str); 9] = [
        (Section::Start, "start"),
        (Section::Latency, "latency"),
        (Section::Rooms, "rooms"),
        (Section::Throughput, "throughput"),
        (Section::Search, "search"),
        (Section::Topics, "topics"),
        (Section::Hooks, "hooks"),
        (Section::Wait, "wait"),
        (Section::Claims, "claims"),
    ];

    fn parse(text: &str) -> anyhow::Result<Self> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == text.trim())
            .map(|(section, _)| *section)
            .with_context(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, name)| *name).collect();
                format!("unknown section {text:?} (one of {})", names.join(", "))
            })
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(section, _)| *section == self)
            .map_or("?", |(_, name)| *name)
    }
}

impl Options {
    /// `Ok(None)` asks for the usage text.
    pub(crate) fn parse(args: &[String]) -> anyhow::Result<Option<Self>> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut options = if quick {
            Self {
                quick,
                spawns: 10,
                cold_runs: 3,
                calls: 200,
                warmup: 20,
                sizes: vec![1_000, 10_000],
                size_calls: 100,
                senders: 8,
                per_sender: 200,
                search_sizes: vec![1_000, 10_000],
                topic_sizes: [1_000, 10_000],
                only: None,
            }
        } else {
            Self {
                quick,
                spawns: 50,
                cold_runs: 10,
                calls: 2000,
                warmup: 200,
                sizes: vec![1_000, 10_000, 100_000, 1_000_000],
                size_calls: 500,
                senders: 8,
                per_sender: 2000,
                search_sizes: vec![1_000, 100_000, 1_000_000],
                topic_sizes: [1_000, 1_000_000],
                only: None,
            }
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .with_context(|| format!("{flag} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--quick" => {}
                "-h" | "--help" => return Ok(None),
                "--spawns" => options.spawns = parse_count(&value(arg)?)?,
                "--cold-runs" => options.cold_runs = parse_count(&value(arg)?)?,
                "--calls" => options.calls = parse_count(&value(arg)?)?,
                "--warmup" => options.warmup = parse_count(&value(arg)?)?,
                "--size-calls" => options.size_calls = parse_count(&value(arg)?)?,
                "--senders" => options.senders = parse_count(&value(arg)?)?,
                "--per-sender" => options.per_sender = parse_count(&value(arg)?)?,
                "--sizes" => options.sizes = parse_counts(&value(arg)?)?,
                "--search-sizes" => options.search_sizes = parse_counts(&value(arg)?)?,
                "--topic-sizes" => match parse_counts(&value(arg)?)?.as_slice() {
                    [small, large] => options.topic_sizes = [*small, *large],
                    _ => bail!("--topic-sizes takes two sizes, e.g. 1k,1m"),
                },
                "--only" => {
                    options.only = Some(
                        value(arg)?
                            .split(',')
                            .map(Section::parse)
                            .collect::<anyhow::Result<_>>()?,
                    );
                }
                other => bail!("unknown argument {other:?}"),
            }
        }
        for (name, count) in [
            ("--spawns", options.spawns),
            ("--cold-runs", options.cold_runs),
            ("--calls", options.calls),
            ("--size-calls", options.size_calls),
            ("--senders", options.senders),
            ("--per-sender", options.per_sender),
        ] {
            ensure!(count > 0, "{name} must be at least 1");
        }
        ensure!(
            options.sizes.iter().all(|size| *size >= 100),
            "room sizes must be at least 100"
        );
        ensure!(
            options.search_sizes.iter().all(|size| *size >= 1_000),
            "search room sizes must be at least 1k (the selective query needs that many)"
        );
        ensure!(
            options.topic_sizes.iter().all(|size| *size >= 1_000),
            "topic room sizes must be at least 1k (every topic needs a few messages)"
        );
        Ok(Some(options))
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "quick": self.quick,
            "spawns": self.spawns,
            "cold_runs": self.cold_runs,
            "calls": self.calls,
            "warmup": self.warmup,
            "sizes": self.sizes,
            "size_calls": self.size_calls,
            "senders": self.senders,
            "per_sender": self.per_sender,
            "search_sizes": self.search_sizes,
            "topic_sizes": self.topic_sizes,
            "only": self.only.as_ref().map(|sections| sections.iter().map(|section| section.name()).collect::<Vec<_>>()),
        })
    }

    /// Whether `section` runs in this run.
    pub(crate) fn runs(&self, section: Section) -> bool {
        self.only
            .as_ref()
            .is_none_or(|sections| sections.contains(&section))
    }
}

/// `1k,100k,1m`.
fn parse_counts(text: &str) -> anyhow::Result<Vec<usize>> {
    text.split(',').map(parse_count).collect()
}

/// `2000`, `10k`, `1m`.
fn parse_count(text: &str) -> anyhow::Result<usize> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, scale) = match text.strip_suffix('k') {
        Some(digits) => (digits, 1_000),
        None => match text.strip_suffix('m') {
            Some(digits) => (digits, 1_000_000),
            None => (text.as_str(), 1),
        },
    };
    let count: usize = digits
        .parse()
        .with_context(|| format!("{text:?} is not a count"))?;
    Ok(count * scale)
}
