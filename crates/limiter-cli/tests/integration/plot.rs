//! `--plot`: the SVG the binary writes renders, at its size, with the lines
//! and cells it should have.

use std::path::Path;

use resvg::{tiny_skia, usvg};

use crate::util::Dir;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/trace.csv").display().to_string()
}

/// Renders an SVG (its text leaves no pixels: resvg is built without fonts).
fn render(svg: &str) -> tiny_skia::Pixmap {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).expect("a valid SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
}

/// How many pixels satisfy `test` on their (r, g, b).
fn count(pixmap: &tiny_skia::Pixmap, test: impl Fn(u8, u8, u8) -> bool) -> usize {
    pixmap.pixels().iter().filter(|p| test(p.red(), p.green(), p.blue())).count()
}

#[test]
fn one_limit_draws_requests_and_denials_over_time() {
    let dir = Dir::new();
    let out = dir.run(&["replay", &example(), "--plot", "one.svg"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert!(out.stdout.starts_with("limit            capacity 10, rate 5/s\n"));
    let svg = dir.read("one.svg");
    for label in ["requests", "denied", "denied: 203.0.113.66", "seconds after 2024-03-01T12:00:00"]
    {
        assert!(svg.contains(label), "{label:?} missing");
    }
    let pixmap = render(&svg);
    assert_eq!((pixmap.width(), pixmap.height()), (960, 540));
    let white = count(&pixmap, |r, g, b| (r, g, b) == (255, 255, 255));
    assert!(white > 960 * 540 / 2, "a white background: {white}");
    let blue = count(&pixmap, |r, g, b| b > 150 && r < 100 && g < 160);
    let red = count(&pixmap, |r, g, b| r > 180 && g < 80 && b < 80);
    assert!(blue > 1000, "the requests line: {blue} blue pixels");
    assert!(red > 300, "the denials line: {red} red pixels");
}

#[test]
fn a_sweep_draws_the_denied_share_as_a_heatmap() {
    let dir = Dir::new();
    let out = dir.run(&[
        "replay",
        &example(),
        "--capacity",
        "5,10,20",
        "--rate",
        "1,5,10",
        "--plot",
        "sweep.svg",
    ]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    let svg = dir.read("sweep.svg");
    // The README's sweep: every cell's share, and the axes' values.
    for label in ["35.80%", "11.10%", "2.10%", "1/s", "10/s", "capacity", "rate"] {
        assert!(svg.contains(label), "{label:?} missing");
    }
    let pixmap = render(&svg);
    assert_eq!((pixmap.width(), pixmap.height()), (960, 540));
    // Nine cells, each a shade of red by its share: darker means more denied.
    let mut shades: Vec<u8> = pixmap
        .pixels()
        .iter()
        .filter(|p| p.red() == 255 && p.green() == p.blue() && p.green() < 250)
        .map(|p| p.green())
        .collect();
    shades.sort_unstable();
    shades.dedup();
    assert!(shades.len() >= 6, "cell shades: {shades:?}");
    let darkest = (255.0 * (1.0 - 0.358f64)).round() as u8;
    assert!(shades.contains(&darkest), "the 35.80% cell: {shades:?}");
}

#[test]
fn a_sweep_of_one_capacity_fills_the_chart_with_its_row() {
    let dir = Dir::new();
    let args = ["replay", &example(), "--capacity", "5", "--rate", "1,2", "--plot", "row.svg"];
    let out = dir.run(&args);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    let svg = dir.read("row.svg");
    assert!(svg.contains("35.80%") && svg.contains("24.93%"), "{svg}");
    let pixmap = render(&svg);
    // Two cells share the plot area, at least 800 x 400 pixels.
    let cells = count(&pixmap, |r, g, b| r == 255 && g == b && g < 250);
    assert!(cells > 800 * 400, "{cells} pixels of cells");
}

#[test]
fn an_unwritable_plot_is_an_error_naming_it() {
    let dir = Dir::new();
    let out = dir.run(&["replay", &example(), "--plot", "no/such/dir/p.svg"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "limiter-cli: cannot write no/such/dir/p.svg: no such file or directory\n"
    );
}

#[test]
fn the_documented_plots_are_what_the_binary_draws() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    std::fs::copy(example(), dir.path().join("examples/trace.csv")).unwrap();
    let sweep = ["--capacity", "5,10,20", "--rate", "1,5,10"];
    for (name, args) in [("trace-timeline.svg", &[][..]), ("trace-sweep.svg", &sweep[..])] {
        let out = dir.run(&[&["replay", "examples/trace.csv", "--plot", name], args].concat());
        assert_eq!(out.code, 0, "{}", out.stderr);
        let documented = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(name);
        let documented = std::fs::read_to_string(&documented).unwrap();
        assert!(
            dir.read(name) == documented,
            "crates/limiter-cli/docs/{name} is stale: regenerate it as FORMATS.md says"
        );
    }
}
