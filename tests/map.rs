//! `exprjit map` (docs/language.md §6): CSV in, CSV out, through the binary.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Runs `exprjit map ARGS` with `input` on stdin.
fn map(args: &[&str], input: &[u8]) -> common::BinRun {
    let mut all = vec!["map"];
    all.extend_from_slice(args);
    common::run_bin(&all, Some(input))
}

/// `map` succeeds and prints `want`.
#[track_caller]
fn ok(args: &[&str], input: &str, want: &str) {
    let run = map(args, input.as_bytes());
    assert_eq!(
        (run.status, run.stderr.as_str(), run.stdout.as_str()),
        (Some(0), "", want),
        "map {args:?} on {input:?}"
    );
}

/// `map` fails with exit status 1, stderr starting with `error: {error}`,
/// after printing `want`.
#[track_caller]
fn fails(args: &[&str], input: &[u8], want: &str, error: &str) {
    let run = map(args, input);
    assert_eq!(run.status, Some(1), "map {args:?}: {run:?}");
    assert_eq!(run.stdout, want, "map {args:?}: {run:?}");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("error: {error}"),
        "map {args:?}: {}",
        run.stderr
    );
}

#[test]
fn adds_a_column() {
    ok(
        &["-e", "r = sqrt(x*x + y*y)"],
        "x,y\n3,4\n5,12\n",
        "x,y,r\n3,4,5\n5,12,13\n",
    );
}

#[test]
fn fields_pass_through_exactly_and_are_quoted_where_needed() {
    ok(
        &["-e", "s = a + 1"],
        "name,a,note\n\"Smith, J\",1,\"said \"\"hi\"\"\"\nplain,2,  spaced  \n",
        "name,a,note,s\n\"Smith, J\",1,\"said \"\"hi\"\"\",2\nplain,2,  spaced  ,3\n",
    );
    // The input's spelling of a number is kept; only new values are printed.
    ok(
        &["-e", "b = a"],
        "a\n1.50\n+2\n 3e0 \n",
        "a,b\n1.50,1.5\n+2,2\n 3e0 ,3\n",
    );
}

#[test]
fn quoted_newlines_stay_in_their_field_and_count_as_lines() {
    ok(
        &["-e", "d = x * 2"],
        "note,x\n\"two\nlines\",1\none,2\n",
        "note,x,d\n\"two\nlines\",1,2\none,2,4\n",
    );
    // The field `oops` is on line 4 of the file (line 2 holds a quoted
    // newline).
    fails(
        &["-e", "d = x * 2"],
        b"note,x\n\"two\nlines\",1\none,oops\n",
        "note,x,d\n\"two\nlines\",1,2\n",
        "line 4, column 'x': \"oops\" is not a number",
    );
}

#[test]
fn crlf_input_gives_lf_output_and_a_missing_final_newline_is_fine() {
    ok(&["-e", "y = x + 1"], "x\r\n1\r\n2\r\n", "x,y\n1,2\n2,3\n");
    ok(&["-e", "y = x + 1"], "x\n1\n2", "x,y\n1,2\n2,3\n");
}

#[test]
fn header_only_input_and_a_filter_that_keeps_nothing_print_the_header() {
    ok(&["-e", "y = x + 1"], "x\n", "x,y\n");
    ok(
        &["-e", "y = x + 1", "--where", "y > 100"],
        "x\n1\n2\n",
        "x,y\n",
    );
}

#[test]
fn steps_run_in_the_order_given() {
    ok(
        &["-e", "a = x + 1", "--where", "a > 2", "-e", "b = a * 10"],
        "x\n1\n2\n3\n",
        "x,a,b\n2,3,30\n3,4,40\n",
    );
    // The same steps the other way round see different values.
    ok(
        &[
            "--where",
            "x > 1",
            "-e",
            "x = x * 100",
            "--where",
            "x < 250",
        ],
        "x\n1\n2\n3\n",
        "x\n200\n",
    );
}

#[test]
fn an_assignment_to_an_existing_column_replaces_it_in_place() {
    ok(&["-e", "x = -x"], "x,y\n1,2\n", "x,y\n-1,2\n");
}

#[test]
fn columns_named_like_built_ins_are_variables() {
    ok(
        &["-e", "r = e * 2 + min"],
        "e,min\n1,2\n",
        "e,min,r\n1,2,4\n",
    );
    // Columns that are not identifiers pass through and are not variables.
    ok(&["-e", "r = x"], "my col,x\nq,1\n", "my col,x,r\nq,1,1\n");
}

#[test]
fn number_forms() {
    ok(
        &["-e", "y = x"],
        "x\n 1 \n+2\n-inf\nInfinity\nNaN\n1e3\n.5\n5.\n-0\n",
        "x,y\n 1 ,1\n+2,2\n-inf,-inf\nInfinity,inf\nNaN,nan\n1e3,1000\n.5,0.5\n5.,5\n-0,-0\n",
    );
    fails(
        &["-e", "y = x"],
        b"x\n1\n0x1F\n",
        "x,y\n1,1\n",
        "line 3, column 'x': \"0x1F\" is not a number",
    );
}

#[test]
fn empty_fields() {
    // Only columns an expression names must hold numbers.
    ok(&["-e", "y = x"], "x,z\n1,\n", "x,z,y\n1,,1\n");
    fails(
        &["-e", "y = x"],
        b"x,z\n1,a\n,b\n2,c\n",
        "x,z,y\n1,a,1\n",
        "line 3, column 'x': \"\" is not a number (an empty field; --empty nan reads it as nan)",
    );
    ok(
        &["--empty", "nan", "-e", "y = x"],
        "x,z\n,a\n",
        "x,z,y\n,a,nan\n",
    );
}

#[test]
fn other_delimiters() {
    ok(
        &["--tsv", "-e", "c = a + b"],
        "a\tb\n1\t2\n",
        "a\tb\tc\n1\t2\t3\n",
    );
    ok(
        &["--delimiter", ";", "-e", "c = a + b"],
        "a;b\n1;2\n",
        "a;b;c\n1;2;3\n",
    );
}

#[test]
fn definitions_come_first() {
    ok(
        &[
            "--def",
            "sq(v) = v * v",
            "--def",
            "k = 3",
            "-e",
            "y = sq(x) + k",
        ],
        "x\n2\n",
        "x,y\n2,7\n",
    );
    let defs = common::TempFile::with_contents(b"cube(v) = v^3\n");
    ok(
        &["--defs", defs.path_str(), "-e", "y = cube(x)"],
        "x\n2\n",
        "x,y\n2,8\n",
    );
    fails(
        &["--def", "1 + 1", "-e", "y = x"],
        b"x\n1\n",
        "",
        "--def: a definition file holds definitions (f(x) = …) and assignments (k = …), not expressions to print",
    );
}

#[test]
fn expression_errors_are_reported_when_reached_with_the_rows_before_written() {
    // `k` is never defined: the rows where the branch is not taken pass.
    fails(
        &["-e", "r = x > 1 ? k : x"],
        b"x\n0\n1\n2\n3\n",
        "x,r\n0,0\n1,1\n",
        "line 4, column 'r': undefined variable 'k'",
    );
    fails(
        &["--def", "f(n) = f(n)", "--where", "x < 2 || f(x)"],
        b"x\n0\n1\n2\n",
        "x\n0\n1\n",
        "line 4, --where 'x < 2 || f(x)': recursion too deep",
    );
    // In row order: a later step's error in an earlier row comes first.
    fails(
        &["-e", "a = x == 3 ? k : x", "-e", "b = x == 2 ? j : 1"],
        b"x\n1\n2\n3\n",
        "x,a,b\n1,1,1\n",
        "line 3, column 'b': undefined variable 'j'",
    );
}

#[test]
fn bad_input_names_the_line() {
    fails(
        &["-e", "r = x + y"],
        b"x,y\n1,2\n3\n4,5\n",
        "x,y,r\n1,2,3\n",
        "line 3: 1 field, but the header has 2",
    );
    fails(
        &["-e", "r = x"],
        b"x,y,x\n1,2,3\n",
        "",
        "line 1: column 'x' appears twice in the header (columns 1 and 3)",
    );
    fails(
        &["-e", "r = x"],
        b"x,\xFF\xFE\n1,2\n",
        "",
        "line 1, column 2: the header is not valid UTF-8",
    );
    fails(
        &["-e", "r = x"],
        b"",
        "",
        "the input is empty: there is no header row",
    );
    fails(
        &["-e", "r x"],
        b"x\n1\n",
        "",
        "-e 'r x': expected NAME = EXPRESSION",
    );
    fails(
        &["-e", "r = x +"],
        b"x\n1\n",
        "",
        "column 'r': expected expression, found end of input",
    );
    // A field that is not UTF-8 passes through when no expression names it.
    let out = Command::new(env!("CARGO_BIN_EXE_exprjit"))
        .args(["map", "-e", "r = x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"x,raw\n1,\xFF\n")?;
            child.wait_with_output()
        })
        .expect("run exprjit");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"x,raw,r\n1,\xFF,1\n");
}

#[test]
fn at_least_one_step_is_required() {
    let run = map(&[], b"x\n1\n");
    assert_eq!(run.status, Some(2), "{run:?}");
}

#[test]
fn every_mode_gives_the_same_output() {
    let mut input = String::from("x,y\n");
    for i in 0..10_000 {
        input += &format!(
            "{},{}\n",
            f64::from(i) * 0.37 - 1000.0,
            f64::from(i % 97) - 48.5
        );
    }
    let args = |mode: &'static str| {
        vec![
            "--mode",
            mode,
            "-e",
            "r = sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)",
            "--where",
            "r > -5",
            "-e",
            "q = round(r) % 7",
        ]
    };
    let want = map(&args("interp"), input.as_bytes());
    assert_eq!(want.status, Some(0), "{want:?}");
    for mode in ["jit", "tiered"] {
        let got = map(&args(mode), input.as_bytes());
        assert_eq!(got.stdout, want.stdout, "{mode}");
    }
}

#[test]
fn trace_jit_reports_the_kernels() {
    let run = map(
        &["--mode", "jit", "--trace-jit", "-e", "r = x + 1"],
        b"x\n1\n",
    );
    assert_eq!(run.stdout, "x,r\n1,2\n");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("[jit] compiled a kernel of")
                && l.ends_with("four rows at a time")),
        "{}",
        run.stderr
    );
}

/// A gigabyte streams through in bounded memory: the peak resident size
/// of the process, read from /proc while it runs, stays far below the
/// input's size.
#[test]
fn a_gigabyte_streams_in_bounded_memory() {
    const BYTES: usize = 1 << 30;
    let mut child = Command::new(env!("CARGO_BIN_EXE_exprjit"))
        .args(["map", "-e", "r = x * 2 + y", "--where", "r < -1e300"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run exprjit");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let row = b"12345.678901234,-98765.4321098765\n";
        let block: Vec<u8> = row
            .iter()
            .copied()
            .cycle()
            .take(row.len() * 30_000)
            .collect();
        stdin.write_all(b"x,y\n")?;
        let mut sent = 0;
        while sent < BYTES {
            stdin.write_all(&block)?;
            sent += block.len();
        }
        Ok::<usize, std::io::Error>(sent)
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let mut peak_kib = 0u64;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = writer.join().expect("writer").expect("write the input");
    let out = reader.join().expect("reader").expect("read the output");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert_eq!(out, b"x,y,r\n");
    assert!(sent >= BYTES);
    assert!(peak_kib > 0, "no reading of the peak resident size");
    assert!(
        peak_kib < 64 * 1024,
        "peak resident size {peak_kib} KiB for a {} MiB stream",
        sent >> 20
    );
    eprintln!("peak resident size {peak_kib} KiB for {} MiB", sent >> 20);
}

#[test]
fn a_dash_reads_standard_input() {
    ok(&["-e", "s = x + 1", "-"], "x\n1\n", "x,s\n1,2\n");
}
