// TEMPORARY (not committed): runs the named checks of the named programs, in parallel.
use conformance::check::{self, Ctx};
use harness::{build, Catalogue, Profile};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let checks: Vec<String> = args.remove(0).split(',').map(String::from).collect();
    let catalogue = Catalogue::load()?;
    let chosen = catalogue.select(&args, None)?;
    let packages: Vec<&str> = chosen.iter().map(|p| p.package.as_str()).collect();
    let built = build(&packages, Profile::Dev)?;
    std::thread::scope(|s| {
        for program in &chosen {
            let (built, catalogue, checks) = (&built, &catalogue, &checks);
            s.spawn(move || {
                let exe = built.exe(&program.package).unwrap();
                let ctx = Ctx {
                    program,
                    exe,
                    catalogue,
                };
                for c in conformance::checks::for_family(program.family().unwrap()) {
                    if checks.iter().any(|n| n == c.name) {
                        let t0 = std::time::Instant::now();
                        let r = check::run(c, &ctx);
                        println!(
                            "{} {} {}: {:?} in {:.1?}: {}",
                            program.name,
                            program.flavor_label(),
                            c.name,
                            r.status,
                            t0.elapsed(),
                            r.detail
                        );
                    }
                }
            });
        }
    });
    Ok(())
}
