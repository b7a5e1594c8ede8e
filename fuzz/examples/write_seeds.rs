//! Writes each target's seeds (built from `shared`'s test vectors, see
//! `fuzz::seeds`) into `fuzz/corpus/TARGET/seed-NAME`, where `cargo fuzz run`
//! starts from. Run it after changing the vectors:
//! `cargo run -p fuzz --example write_seeds`.

use std::fs;

fn main() -> std::io::Result<()> {
    for target in fuzz::TARGETS {
        let dir = fuzz::fuzz_dir().join("corpus").join(target.name);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in (target.seeds)() {
            fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
        println!("{}: {} seeds", target.name, (target.seeds)().len());
    }
    Ok(())
}
