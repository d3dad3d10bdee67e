//! The memory helper end to end: this binary runs itself as the memory child
//! for every implementation and family, as the suite does, and checks that
//! each figure is plausible.
//!
//! It has its own `main` (`harness = false`) because each figure must come
//! from a fresh process: in one process, memory freed by one limiter is
//! reused by the next, which then seems to take none.

use std::env;
use std::process::ExitCode;

use limiter_bench::{
    Command, Family, Implementation, bytes_per_key, bytes_per_key_in_child, parse_args,
};

const KEYS: usize = 200_000;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    if let Ok(Command::MemoryChild { implementation, family, keys, seed }) = parse_args(&args) {
        return match bytes_per_key(implementation, family, keys, seed) {
            Ok(bytes) => {
                println!("{bytes}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        };
    }
    let exe = env::current_exe().expect("the test knows its own path");
    let (mut passed, mut failed) = (0, 0);
    for family in Family::ALL {
        for implementation in Implementation::ALL {
            let name = format!("{} {}", implementation.name(), family.name());
            // A key, its state and a hash-table slot take more than 8 bytes;
            // no implementation should take a kilobyte.
            match bytes_per_key_in_child(&exe, implementation, family, KEYS, 1) {
                Ok(bytes) if (8.0..1024.0).contains(&bytes) => {
                    println!("test {name}: {bytes:.1} B per key ... ok");
                    passed += 1;
                }
                Ok(bytes) => {
                    println!("test {name}: {bytes:.1} B per key, not in 8..1024 ... FAILED");
                    failed += 1;
                }
                Err(err) => {
                    println!("test {name}: {err} ... FAILED");
                    failed += 1;
                }
            }
        }
    }
    println!("memory: {passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
