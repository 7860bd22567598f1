//! How long `hardening-operator render` takes for N namespaces in one manifest: writes
//! examples/bsi-strict.yaml and a file of N labelled Namespaces to a temporary directory,
//! runs the command's own code on them (reading, validating, rendering and printing the
//! YAML stream to a buffer) and prints the time, for each N given.
//!
//!   cargo run --release -p hardening-operator --example render_scaling [-- N...]

use std::fmt::Write as _;
use std::time::Instant;

use hardening_operator::cli::Exclusions;
use hardening_operator::cli::render::{RenderArgs, run};

fn namespaces(count: usize) -> String {
    let mut text = String::new();
    for i in 0..count {
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{i:05}\n  labels:\n    hardening.dev/tier: strict\n"
        );
    }
    text
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|n| n.parse().expect("N must be a number"))
        .collect();
    let counts = if counts.is_empty() {
        vec![100, 1_000, 10_000]
    } else {
        counts
    };
    let dir = std::env::temp_dir().join(format!("render-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let profile = dir.join("bsi-strict.yaml");
    std::fs::write(&profile, include_str!("../../examples/bsi-strict.yaml")).expect("profile");
    for count in counts {
        let manifest = dir.join(format!("namespaces-{count}.yaml"));
        std::fs::write(&manifest, namespaces(count)).expect("namespaces");
        let args = RenderArgs {
            profiles: vec![profile.clone()],
            namespaces: vec![manifest],
            exclusions: Exclusions::default(),
            exceptions: Default::default(),
            confinement_dir: None,
        };
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let started = Instant::now();
        run(&args, &mut out, &mut notes).expect("render succeeds");
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "render of {count} namespaces: {seconds:.3} s ({:.1} µs per namespace), {} MiB of YAML",
            seconds * 1e6 / count as f64,
            out.len() / (1024 * 1024)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
