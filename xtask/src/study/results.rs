//! The results the book is made from: the typed records under `target/results/` (or
//! `--results DIR`), read as the producers wrote them. Nothing here measures.

use std::path::{Path, PathBuf};

use harness::results::bench::{BenchRecord, Entry, FamilyFigures, Ratio};
use harness::results::conformance::Row;
use harness::results::profile::ProfileEntry;
use harness::results::run::{self, Run};
use harness::results::scaling::ScalingEntry;
use harness::results::soak::SoakEntry;
use harness::results::stat::Stat;
use harness::results::trace::TraceSide;
use harness::results::{File, Kind, Record};

/// One kind of result: its records, or why there are none.
pub struct Loaded<R> {
    pub file: File<R>,
    /// Why the file could not be read (another format version, say).
    pub error: Option<String>,
}

impl<R: Kind> Loaded<R> {
    fn load(dir: &Path) -> Loaded<R> {
        match File::load(dir) {
            Ok(file) => Loaded { file, error: None },
            Err(e) => Loaded {
                file: File::default(),
                error: Some(format!("{e:#}")),
            },
        }
    }

    pub fn records(&self) -> &[Record<R>] {
        &self.file.records
    }
}

/// Every result the book uses.
pub struct Results {
    pub dir: PathBuf,
    pub conformance: Loaded<Row>,
    pub trace: Loaded<TraceSide>,
    pub bench: Loaded<BenchRecord>,
    pub soak: Loaded<SoakEntry>,
    pub scaling: Loaded<ScalingEntry>,
    pub profile: Loaded<ProfileEntry>,
    /// When the book is made (seconds since the epoch).
    pub now: u64,
}

impl Results {
    pub fn load(dir: &Path) -> Results {
        Results {
            dir: dir.to_path_buf(),
            conformance: Loaded::load(dir),
            trace: Loaded::load(dir),
            bench: Loaded::load(dir),
            soak: Loaded::load(dir),
            scaling: Loaded::load(dir),
            profile: Loaded::load(dir),
            now: run::unix_now(),
        }
    }

    /// The conformance row of a program and flavor label.
    pub fn row(&self, program: &str, flavor: &str) -> Option<&Record<Row>> {
        let rows = self.conformance.records().iter();
        rows.into_iter()
            .find(|r| r.data.program == program && r.data.flavor == flavor)
    }

    /// The traced side of a program and flavor label.
    pub fn side(&self, program: &str, flavor: &str) -> Option<&Record<TraceSide>> {
        let sides = self.trace.records().iter();
        sides
            .into_iter()
            .find(|r| r.data.program == program && r.data.flavor == flavor)
    }

    /// Every bench entry, with its run.
    pub fn entries(&self) -> impl Iterator<Item = (&Entry, &Run)> {
        self.bench.records().iter().filter_map(|r| match &r.data {
            BenchRecord::Entry(e) => Some((e, &r.run)),
            BenchRecord::Ratio(_) => None,
        })
    }

    /// Every ratio of the bench, with its run.
    pub fn ratios(&self) -> impl Iterator<Item = (&Ratio, &Run)> {
        self.bench.records().iter().filter_map(|r| match &r.data {
            BenchRecord::Ratio(x) => Some((x, &r.run)),
            BenchRecord::Entry(_) => None,
        })
    }

    /// The bench entry of `program`, flavor label `flavor`, in its default
    /// configuration, at `sockets` (for the multi-socket programs).
    pub fn entry(
        &self,
        program: &str,
        flavor: &str,
        sockets: Option<usize>,
    ) -> Option<(&Entry, &Run)> {
        self.entries()
            .find(|(e, _)| e.is(program, flavor) && e.sockets == sockets)
    }

    /// One figure of an entry over its rounds.
    pub fn stat<F: FamilyFigures>(
        &self,
        program: &str,
        flavor: &str,
        figure: impl Fn(&F) -> Option<f64>,
    ) -> Option<Stat> {
        self.entry(program, flavor, None)?.0.stat(figure)
    }
}

/// Which run a figure comes from, in a few words: the command and when; a warning
/// when the machine was busy. The rest (build, machine, load) is in *Where the
/// figures come from*, once.
pub fn brief(run: &Run, now: u64) -> String {
    let busy = match run.was_busy() {
        true => " — on a busy machine: read with care",
        false => "",
    };
    let command = crate::doc::escape(&run.command);
    format!("<code>{command}</code>, {}{busy}", run.when(now))
}

/// Which run a figure comes from, in full: the command, when, the build, the machine
/// and its load.
pub fn provenance(run: &Run, now: u64) -> String {
    let command = crate::doc::escape(&run.command);
    let mut parts = vec![format!("<code>{command}</code>"), run.when(now)];
    parts.push(format!("{} build", run.profile));
    parts.push(run.machine.describe());
    if let Some(peak) = run.peak_load() {
        let busy = if run.was_busy() {
            " — a busy machine: read with care"
        } else {
            ""
        };
        parts.push(format!("load average up to {peak:.1}{busy}"));
    }
    parts.join(", ")
}
