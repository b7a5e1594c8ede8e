//! What the bench measures: an entry is one program of one flavor (one socket count for
//! the multi-socket programs) with its figures round by round. Each measured family
//! has its own figures struct ([`Figures`]), so that a figure is a field the compiler
//! knows, never a string a typo can miss; [`AnyEntry`] holds the entries of every
//! family in the order of a round.

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;
use harness::{Family, Flavor, Program};
use serde::Serialize;
use serde_json::Value;

use super::affinity::Placement;
use super::ident::IdentFigures;
use super::multisocket::MultisocketFigures;
use super::report::{Ratio, Stat};
use super::tcp_echo::TcpEchoFigures;
use super::udp_echo::UdpEchoFigures;
use super::Settings;

/// One of the bench's own baselines, a reference server of this machine (a program
/// people deploy, such as oidentd), or a program of the catalogue of some flavor (and
/// step, on a migration ladder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    Baseline,
    Reference,
    Flavor(Flavor, Option<u32>),
}

impl Label {
    pub const LEGACY: Label = Label::Flavor(Flavor::Legacy, None);
    pub const MODERN: Label = Label::Flavor(Flavor::Modern, None);

    /// The label of a program of the catalogue.
    pub fn of(program: &Program) -> Label {
        Label::Flavor(program.flavor, program.step)
    }
}

/// `baseline`, `reference`, `legacy`, `modern`, `bridge-2`, …: as the tables and the
/// JSON name it (the same words as the conformance matrix).
impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Baseline => f.write_str("baseline"),
            Label::Reference => f.write_str("reference"),
            Label::Flavor(flavor, None) => write!(f, "{flavor}"),
            Label::Flavor(flavor, Some(step)) => write!(f, "{flavor}-{step}"),
        }
    }
}

/// What is measured, whatever the family.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The program's name (`echo-tokio`), or the baseline's (`baseline-blocking`).
    pub program: String,
    pub label: Label,
    /// What the catalogue says about the program (its declaration); `None` for the
    /// blocking baseline, which is no program of the catalogue.
    pub catalogue: Option<Program>,
    /// The package to build, and its binary to run.
    pub package: String,
    pub binary: String,
    /// The socket count of a multi-socket entry.
    pub sockets: Option<usize>,
    /// A second configuration of the same program (`--lookup proc`), measured beside
    /// its default one: its name in the tables, and the options it adds.
    pub variant: Option<Variant>,
    /// Whether the UDP echo family runs its next-era loads on this entry (one client
    /// socket, system calls per echo, GSO-sending peers): the next programs, and raw
    /// epoll-edge when some next program is measured beside it.
    pub next_era_loads: bool,
    /// The binary, once built (a reference server is found on the machine instead).
    pub exe: PathBuf,
}

/// Options a variant entry adds to the server's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// As the tables show it: `--lookup proc`.
    pub name: String,
    pub args: Vec<String>,
}

impl Variant {
    pub fn of_args(args: &[&str]) -> Variant {
        Variant {
            name: args.join(" "),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl Subject {
    pub fn of(program: &Program, sockets: Option<usize>) -> Subject {
        Subject {
            program: program.name.clone(),
            label: Label::of(program),
            catalogue: Some(program.clone()),
            package: program.package.clone(),
            // Every program's binary is named after its package.
            binary: program.package.clone(),
            sockets,
            variant: None,
            next_era_loads: false,
            exe: PathBuf::new(),
        }
    }

    /// The same subject with `variant`'s options.
    pub fn with_variant(mut self, variant: Variant) -> Subject {
        self.variant = Some(variant);
        self
    }

    pub fn title(&self) -> String {
        let mut title = format!("{} {}", self.program, self.label);
        if let Some(v) = &self.variant {
            title = format!("{title} {}", v.name);
        }
        match self.sockets {
            Some(n) => format!("{title} ×{n}"),
            None => title,
        }
    }

    /// The variant's options (none for the default configuration).
    pub fn variant_args(&self) -> Vec<&str> {
        let args = self.variant.iter().flat_map(|v| v.args.iter());
        args.map(String::as_str).collect()
    }

    /// Whether this entry's program is built from the workspace (a reference server
    /// is not: it is found on the machine).
    pub fn is_built(&self) -> bool {
        self.label != Label::Reference
    }
}

/// One thing measured, with the figures `F` of its family round by round.
#[derive(Debug, Clone)]
pub struct Entry<F> {
    pub subject: Subject,
    /// Figures of each round (`None` where that round's run failed).
    pub rounds: Vec<Option<F>>,
    pub errors: Vec<String>,
}

impl<F> Entry<F> {
    pub fn new(subject: Subject) -> Entry<F> {
        Entry {
            subject,
            rounds: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Whether this is `program` of `label` in its default configuration.
    pub fn is(&self, program: &str, label: Label) -> bool {
        self.is_variant(program, label, None)
    }

    /// Whether this is `program` of `label` in configuration `variant` (`None`: the
    /// default one).
    pub fn is_variant(&self, program: &str, label: Label, variant: Option<&str>) -> bool {
        let v = self.subject.variant.as_ref().map(|v| v.name.as_str());
        self.subject.program == program && self.subject.label == label && v == variant
    }

    /// The values of one figure in the rounds that produced it.
    pub fn values<V: Reading>(&self, figure: impl Fn(&F) -> V) -> Vec<f64> {
        let rounds = self.rounds.iter().flatten();
        rounds.filter_map(|f| figure(f).reading()).collect()
    }

    pub fn stat<V: Reading>(&self, figure: impl Fn(&F) -> V) -> Option<Stat> {
        Stat::of(&self.values(figure))
    }
}

/// A figure as read from its field: a value, or maybe none for an optional figure.
pub trait Reading {
    fn reading(self) -> Option<f64>;
}

impl Reading for f64 {
    fn reading(self) -> Option<f64> {
        Some(self)
    }
}

impl Reading for Option<f64> {
    fn reading(self) -> Option<f64> {
        self
    }
}

/// The figures of one measured family: how one run measures them, the family's
/// section of the table, and the ratios (with their targets) taken between its
/// entries. Serialised, they are the figures of `bench.json` under their field names.
pub trait Figures: Serialize + Sized {
    const FAMILY: Family;
    /// One run of `entry`: start it, load it, read its figures, stop it.
    fn run(entry: &Entry<Self>, s: &Settings, placement: &Placement) -> Result<Self>;
    /// The family's section of the table (entries: at least one, in measured order).
    fn section(entries: &[&Entry<Self>], s: &Settings) -> String;
    /// Every ratio the family's entries give, with the targets it is held to.
    fn ratios(entries: &[&Entry<Self>]) -> Vec<Ratio>;
    fn wrap(entry: Entry<Self>) -> AnyEntry;
    /// The entry, if it is of this family.
    fn unwrap(entry: &AnyEntry) -> Option<&Entry<Self>>;
}

/// An entry of any measured family.
#[derive(Debug, Clone)]
pub enum AnyEntry {
    UdpEcho(Entry<UdpEchoFigures>),
    Multisocket(Entry<MultisocketFigures>),
    TcpEcho(Entry<TcpEchoFigures>),
    Ident(Entry<IdentFigures>),
}

impl AnyEntry {
    pub fn get(&self) -> &dyn Measured {
        match self {
            AnyEntry::UdpEcho(e) => e,
            AnyEntry::Multisocket(e) => e,
            AnyEntry::TcpEcho(e) => e,
            AnyEntry::Ident(e) => e,
        }
    }

    pub fn get_mut(&mut self) -> &mut dyn Measured {
        match self {
            AnyEntry::UdpEcho(e) => e,
            AnyEntry::Multisocket(e) => e,
            AnyEntry::TcpEcho(e) => e,
            AnyEntry::Ident(e) => e,
        }
    }
}

/// What the run loop, the list of errors and the JSON need of an entry, whatever its
/// family.
pub trait Measured {
    fn subject(&self) -> &Subject;
    fn subject_mut(&mut self) -> &mut Subject;
    fn family(&self) -> Family;
    fn errors(&self) -> &[String];
    /// Runs round `round` (from 0) and records its figures, or its error (returned).
    fn run_round(&mut self, round: usize, s: &Settings, placement: &Placement) -> Result<()>;
    /// Each round's figures as JSON objects (`null` where the run failed).
    fn rounds_json(&self) -> Vec<Value>;
}

impl<F: Figures> Measured for Entry<F> {
    fn subject(&self) -> &Subject {
        &self.subject
    }

    fn subject_mut(&mut self) -> &mut Subject {
        &mut self.subject
    }

    fn family(&self) -> Family {
        F::FAMILY
    }

    fn errors(&self) -> &[String] {
        &self.errors
    }

    fn run_round(&mut self, round: usize, s: &Settings, placement: &Placement) -> Result<()> {
        match F::run(self, s, placement) {
            Ok(figures) => {
                self.rounds.push(Some(figures));
                Ok(())
            }
            Err(e) => {
                self.rounds.push(None);
                self.errors.push(format!("round {}: {e:#}", round + 1));
                Err(e)
            }
        }
    }

    fn rounds_json(&self) -> Vec<Value> {
        // Figures are plain numbers: serialising them cannot fail.
        let json = |f: &F| serde_json::to_value(f).unwrap_or(Value::Null);
        self.rounds
            .iter()
            .map(|r| r.as_ref().map_or(Value::Null, json))
            .collect()
    }
}

/// The entries of family `F` among all, in measured order.
pub fn of_family<F: Figures>(entries: &[AnyEntry]) -> Vec<&Entry<F>> {
    entries.iter().filter_map(F::unwrap).collect()
}

/// The entry of `program`, `label` (and socket count) in its default configuration,
/// among those of one family.
pub fn find<'a, F>(
    entries: &[&'a Entry<F>],
    program: &str,
    label: Label,
    sockets: Option<usize>,
) -> Option<&'a Entry<F>> {
    let found = entries.iter().copied();
    found
        .filter(|e| e.subject.sockets == sockets)
        .find(|e| e.is(program, label))
}

/// The entry of `program`, `label` in configuration `variant` (`None`: the default).
pub fn find_variant<'a, F>(
    entries: &[&'a Entry<F>],
    program: &str,
    label: Label,
    variant: Option<&str>,
) -> Option<&'a Entry<F>> {
    let mut found = entries.iter().copied();
    found.find(|e| e.subject.sockets.is_none() && e.is_variant(program, label, variant))
}

/// Puts the entries of each program together in the order of the story (legacy, the
/// steps of its ladder, modern, next), programs in the order they first appear; a
/// program's own entries (socket counts, variants) keep their order otherwise.
pub fn story_order(entries: &mut [AnyEntry]) {
    let mut first: Vec<String> = Vec::new();
    for e in entries.iter() {
        let program = &e.get().subject().program;
        if !first.contains(program) {
            first.push(program.clone());
        }
    }
    entries.sort_by_key(|e| {
        let s = e.get().subject();
        (first.iter().position(|p| *p == s.program), s.label)
    });
}

/// The programs among one family's entries, in measured order (baselines and
/// reference servers aside).
pub fn programs<'a, F>(entries: &[&'a Entry<F>]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| matches!(e.subject.label, Label::Flavor(..)))
    {
        if !out.contains(&e.subject.program.as_str()) {
            out.push(&e.subject.program);
        }
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An entry of no catalogue program, with the figures of its rounds.
    pub fn entry<F>(program: &str, label: Label, rounds: impl IntoIterator<Item = F>) -> Entry<F> {
        let mut e = Entry::new(Subject {
            program: program.into(),
            label,
            catalogue: None,
            package: String::new(),
            binary: String::new(),
            sockets: None,
            variant: None,
            next_era_loads: false,
            exe: PathBuf::new(),
        });
        e.rounds = rounds.into_iter().map(Some).collect();
        e
    }

    /// The same, in configuration `variant` (its options, as one name).
    pub fn variant_entry<F>(
        program: &str,
        label: Label,
        variant: &[&str],
        rounds: impl IntoIterator<Item = F>,
    ) -> Entry<F> {
        let mut e = entry(program, label, rounds);
        e.subject.variant = Some(Variant::of_args(variant));
        e
    }

    #[test]
    fn a_program_s_entries_come_in_the_order_of_the_story() {
        let step = Label::Flavor(Flavor::Bridge, Some(1));
        let make = |program: &str, label| AnyEntry::Ident(entry(program, label, []));
        let mut entries = vec![
            make("b", Label::MODERN),
            make("a", Label::LEGACY),
            make("b", Label::LEGACY),
            make("a", Label::MODERN),
            make("b", step),
        ];
        story_order(&mut entries);
        let order: Vec<String> = (entries.iter().map(AnyEntry::get))
            .map(|e| e.subject().title())
            .collect();
        assert_eq!(
            order,
            ["b legacy", "b bridge-1", "b modern", "a legacy", "a modern"]
        );
    }

    #[test]
    fn labels_name_every_flavor_and_step() {
        assert_eq!(Label::Baseline.to_string(), "baseline");
        assert_eq!(Label::LEGACY.to_string(), "legacy");
        assert_eq!(Label::MODERN.to_string(), "modern");
        assert_eq!(
            Label::Flavor(Flavor::Bridge, Some(2)).to_string(),
            "bridge-2"
        );
        assert_eq!(Label::Flavor(Flavor::Next, None).to_string(), "next");
        // The order of the story: baselines, then the flavors as Flavor orders them.
        let mut labels = [
            Label::Flavor(Flavor::Next, None),
            Label::MODERN,
            Label::Flavor(Flavor::Bridge, Some(1)),
            Label::Reference,
            Label::Baseline,
            Label::LEGACY,
        ];
        labels.sort();
        let names: Vec<String> = labels.iter().map(Label::to_string).collect();
        assert_eq!(
            names,
            [
                "baseline",
                "reference",
                "legacy",
                "bridge-1",
                "modern",
                "next"
            ]
        );
    }
}
