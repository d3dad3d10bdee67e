//! Runs the real `limiter-stress` binary on tiny bounded runs.

use std::path::PathBuf;
use std::process::{Command, Output};

fn stress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_limiter-stress")).args(args).output().unwrap()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("limiter-stress-{}-{name}", std::process::id()))
}

#[test]
fn bounded_run_prints_the_table_and_writes_every_output() {
    let json = temp_path("out.json");
    let hgrm = temp_path("hgrm");
    let svg = temp_path("plot.svg");
    let output = stress(&[
        "--workload=hot,churn",
        "--ops=4000",
        "--threads=2",
        "--capacity=10",
        "--rate=1/h",
        "--against=governor",
        &format!("--json={}", json.display()),
        &format!("--hgrm={}", hgrm.display()),
        &format!("--svg={}", svg.display()),
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains(" 4000 ")).take(4).collect();
    assert_eq!(rows.len(), 4, "hot and churn on both limiters:\n{stdout}");
    assert!(rows.iter().all(|row| row.ends_with("  ok")), "{stdout}");
    assert!(rows[0].starts_with("hot      10@1/h     limiter "), "{stdout}");
    assert!(rows[0].contains("        10        3990 "), "10 allowed, 3990 denied:\n{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["runs"].as_array().unwrap().len(), 4);
    assert_eq!(report["comparisons"].as_array().unwrap().len(), 2);
    let mut files: Vec<String> = std::fs::read_dir(&hgrm)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "churn-c10-r1perh-governor.hgrm",
            "churn-c10-r1perh-limiter.hgrm",
            "hot-c10-r1perh-governor.hgrm",
            "hot-c10-r1perh-limiter.hgrm"
        ]
    );
    assert_eq!(std::fs::read_to_string(&svg).unwrap().matches("<polyline").count(), 4);
    std::fs::remove_dir_all(&hgrm).unwrap();
    std::fs::remove_file(&svg).unwrap();
    std::fs::remove_file(&json).unwrap();
}

#[test]
fn bad_arguments_exit_2_naming_the_value() {
    let output = stress(&["--rate=fast"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("limiter-stress: invalid rate \"fast\""), "{stderr}");
    assert_eq!(stress(&["--workload=cold"]).status.code(), Some(2));
}

#[test]
fn unwritable_output_exits_1_naming_the_file() {
    let output = stress(&["--workload=hot", "--ops=100", "--json=/nonexistent/dir/out.json"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot write \"/nonexistent/dir/out.json\""), "{stderr}");
}

#[test]
fn bad_soak_times_exit_2_naming_the_value() {
    for bad in ["0", "ten", "-3"] {
        let output = stress(&[&format!("--soak={bad}")]);
        assert_eq!(output.status.code(), Some(2), "--soak={bad}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!("limiter-stress: invalid soak time \"{bad}\"")),
            "{stderr}"
        );
    }
}
