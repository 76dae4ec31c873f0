//! Golden tests of the code generator (in the style of Cranelift's
//! `emit_tests.rs`): small lowered functions and the exact instructions
//! [`emit::function`] makes for them, disassembled with iced-x86, pinned
//! as snapshots in `snapshots/` (insta).
//!
//! Nothing here runs the code: these pin down register assignment by
//! depth, operand order, spilling, the fused compare-and-branch, the
//! branch-free comparison, saving live registers around calls, and the
//! shape of a user call (its call instruction and status test). Every
//! function has the same prologue and epilogue: they are pinned once
//! ([`prologue_and_epilogue`]) and shown as one line in the others.
//!
//! After an intended change of the code generator, review and accept the
//! new listings with `cargo insta review` (or run the tests with
//! `INSTA_UPDATE=always` and read the diff).

use std::collections::HashMap;

use iced_x86::{Code, Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, OpKind};

use super::emit;
use super::entry::helpers;
use crate::error::Span;
use crate::jit::{CallReloc, Isa, SiteKind, Sites};
use crate::lower::{self, Globals, Node, Sym};
use crate::runtime::Function;
use crate::stack::StackGuard;

/// Records the sites the code generator asks for.
#[derive(Default)]
struct FakeSites(Vec<(SiteKind, Span)>);

impl Sites for FakeSites {
    fn site(&mut self, kind: SiteKind, span: Span) -> u32 {
        self.0.push((kind, span));
        u32::try_from(self.0.len() - 1).unwrap()
    }
}

/// Global names, numbered in order of first mention.
#[derive(Default)]
struct Names(Vec<String>);

impl Globals for Names {
    fn intern(&mut self, name: &str) -> Sym {
        let i = match self.0.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.0.push(name.to_string());
                self.0.len() - 1
            }
        };
        Sym(u32::try_from(i).unwrap())
    }
}

fn lower_body(params: &[&str], body: &str) -> Node {
    let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    let expr = crate::syntax::parse_expr(body).expect("test body parses");
    lower::lower(&expr, &params, &mut Names::default()).expect("test body lowers")
}

struct Compiled {
    /// Every instruction.
    full: String,
    /// The body alone: the prologue and the epilogue each one line.
    body: String,
    code: Vec<u8>,
    calls: Vec<CallReloc>,
    sites: Vec<(SiteKind, Span)>,
}

/// Parses and lowers `body` as a function of `params`, compiles it with
/// `nregs` value registers (as a function bound to `self_sym`, whose calls
/// of that name are its own), and disassembles it: one instruction a line,
/// branch targets as offsets from the start of the function, addresses by
/// name, site pointers by index.
fn compile(params: &[&str], body: &str, nregs: u8, self_sym: Option<Sym>) -> Compiled {
    let node = lower_body(params, body);
    let cost = crate::analysis::cost(crate::analysis::shape(&node, &StackGuard::here()).unwrap());
    let mut sites = FakeSites::default();
    let emitted = emit::function(
        &node,
        params.len(),
        cost,
        &helpers(),
        &mut sites,
        nregs,
        self_sym,
    )
    .unwrap_or_else(|e| panic!("{body}: {e:?}"));

    let names: HashMap<u64, String> = super::X64::callee_names()
        .into_iter()
        .map(|(a, n)| (a as u64, format!("<{n}>")))
        .collect();
    let site_at: HashMap<usize, u32> = emitted.site_refs.iter().copied().collect();
    let mut formatter = IntelFormatter::new();
    let options = formatter.options_mut();
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_uppercase_hex(false);
    options.set_show_branch_size(false);
    options.set_branch_leading_zeros(false);
    options.set_space_between_memory_add_operators(true);
    options.set_space_after_operand_separator(true);
    let mut decoder = Decoder::with_ip(
        64,
        &emitted.code[..emitted.pool_at],
        0,
        DecoderOptions::NONE,
    );
    let mut insn = Instruction::default();
    let mut lines = Vec::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        assert_ne!(insn.code(), Code::INVALID, "{body}: invalid instruction");
        let mut text = String::new();
        if insn.code() == Code::Mov_r64_imm64 && insn.op1_kind() == OpKind::Immediate64 {
            let imm = insn.immediate64();
            let reg = format!("{:?}", insn.op0_register()).to_lowercase();
            let at = insn.ip() as usize + insn.len() - 8;
            text = match (site_at.get(&at), names.get(&imm)) {
                (Some(site), _) => format!("mov {reg}, <site #{site}>"),
                (None, Some(name)) => format!("mov {reg}, {name}"),
                (None, None) => format!("mov {reg}, 0x{imm:016x}"),
            };
        } else {
            formatter.format(&insn, &mut text);
        }
        lines.push((insn.ip(), text));
    }
    let mut pool = String::new();
    for (i, chunk) in emitted.code[emitted.pool_at..].chunks_exact(8).enumerate() {
        let bits = u64::from_le_bytes(chunk.try_into().unwrap());
        let at = emitted.pool_at + 8 * i;
        pool.push_str(&format!(
            "{at:>3}: .f64 {}\n",
            crate::number::format(f64::from_bits(bits))
        ));
    }
    let full: String = lines
        .iter()
        .map(|(ip, t)| format!("{ip:>3}: {t}\n"))
        .collect::<String>()
        + &pool;
    Compiled {
        body: body_only(&lines) + &pool,
        full,
        code: emitted.code,
        calls: emitted.calls,
        sites: sites.0,
    }
}

/// The prologue, as [`prologue_and_epilogue`] pins it, is the first six
/// instructions; the epilogue (`add rsp ; add r13 ; ret`) is the first
/// `ret` and what follows it up to the out-of-line failure paths. Each is
/// shown as one line here.
fn body_only(lines: &[(u64, String)]) -> String {
    const PROLOGUE: usize = 6;
    let mut out = String::new();
    let frame = lines[0].1.trim_start_matches("sub rsp, ");
    let cost = lines[4].1.trim_start_matches("sub r13, ");
    out.push_str(&format!("    <prologue: frame {frame}, cost {cost}>\n"));
    let ret = lines
        .iter()
        .position(|(_, t)| t == "ret")
        .expect("a function returns");
    for (ip, t) in &lines[PROLOGUE..ret - 2] {
        out.push_str(&format!("{ip:>3}: {t}\n"));
    }
    out.push_str(&format!("{:>3}: <epilogue>\n", lines[ret - 2].0));
    // The two failure exits are part of the epilogue; what comes after
    // them (a failed call's path) is the body's.
    for (ip, t) in lines.iter().skip(ret + 8) {
        out.push_str(&format!("{ip:>3}: {t}\n"));
    }
    out
}

/// Every function begins and ends the same way; pinned here once, with
/// the frame and the charge of the simplest body.
#[test]
fn prologue_and_epilogue() {
    insta::assert_snapshot!(compile(&[], "2.5", 14, None).full);
}

/// The golden table: name, parameters, body, registers.
const CASES: &[(&str, &[&str], &str, u8)] = &[
    ("constant", &[], "2.5", 14),
    ("positive zero is xorpd", &[], "0", 14),
    ("parameter", &["x", "y"], "y", 14),
    ("add", &["x", "y"], "x + y", 14),
    ("sub mul div", &["x", "y"], "(x - y) * (x / y)", 14),
    ("negation flips the sign bit", &["x"], "-x", 14),
    ("not", &["x"], "!x", 14),
    ("less than as a value", &["x", "y"], "x < y", 14),
    ("greater or equal as a value", &["x", "y"], "x >= y", 14),
    ("equal as a value", &["x", "y"], "x == y", 14),
    (
        "conditional with fused compare",
        &["x", "y"],
        "x < y ? x : y",
        14,
    ),
    ("conditional on a value", &["x", "y"], "x ? y : 1", 14),
    ("conditional on equality", &["x", "y"], "x == y ? 1 : y", 14),
    (
        "conditional on inequality",
        &["x", "y"],
        "x != y ? x : y",
        14,
    ),
    (
        "or of equality and order",
        &["x", "y"],
        "x == y || x > y ? 1 : y",
        14,
    ),
    ("and", &["x", "y"], "x && y", 14),
    ("or", &["x", "y"], "x || y", 14),
    (
        "and of comparisons in a conditional",
        &["x", "y"],
        "x > 0 && y <= x ? x : y",
        14,
    ),
    ("builtin call", &["x"], "sin(x)", 14),
    (
        "builtin call with a live register",
        &["x", "y"],
        "x < sin(y)",
        14,
    ),
    ("two builtin calls", &["x", "y"], "sin(x) + cos(y)", 14),
    ("two-argument builtin", &["x", "y"], "atan2(x, y)", 14),
    ("remainder and power", &["x", "y"], "x % y ^ 2", 14),
    (
        "a power with a variable exponent calls pow",
        &["x", "y"],
        "x ^ y",
        14,
    ),
    ("a square is one multiply", &["x"], "(x + 1) ^ 2", 14),
    (
        "a power of one half is a square root with fix-ups",
        &["x"],
        "x ^ 0.5",
        14,
    ),
    ("a power of minus one is a division", &["x"], "x ^ -1", 14),
    (
        "call-free left operand is computed last",
        &["x", "y"],
        "x * atan2(y, x)",
        14,
    ),
    (
        "a chain's first calling operand runs before the call-free part in front of it",
        &["x", "y"],
        "x * 2 - y + sin(x) % y - x",
        14,
    ),
    (
        "a % in a chain is a call: the operand after it keeps its place",
        &["x", "y"],
        "2 % x * sin(y)",
        14,
    ),
    (
        "a chain of three ands as a value",
        &["x", "y"],
        "x && y < 2 && x != y",
        14,
    ),
    ("global read", &["x"], "x + k", 14),
    ("user call", &["x"], "f(x + 1)", 14),
    ("user call with live value", &["x", "y"], "f(x, y) < x", 14),
    (
        "user call with spilled arguments",
        &["x", "y"],
        "f(x, y, x * y)",
        2,
    ),
    ("error site", &[], "sin(1, 2)", 14),
    (
        "spilled with two registers",
        &["x", "y"],
        "x + (y * (x - y))",
        2,
    ),
    (
        "spilled call and comparisons with two registers",
        &["x", "y"],
        "x < (y < (x < sin(y)))",
        2,
    ),
    (
        "a call in one arm of ?:",
        &["x", "y"],
        "sin(x) + (y > 0 ? sin(y) : y)",
        14,
    ),
    (
        "spilled once before a branch that calls",
        &["x", "y"],
        "sin(x) + (y > 0 ? sin(y) : y) * sin(x)",
        14,
    ),
];

#[test]
fn emitted_code_matches_the_golden_listings() {
    for &(name, params, body, nregs) in CASES {
        let got = compile(params, body, nregs, None);
        let header = format!("{body}  (parameters {params:?}, {nregs} registers)\n");
        let snapshot = name.replace([' ', '?', ':', '%', '\'', '-'], "_");
        insta::assert_snapshot!(snapshot, header + &got.body);
    }
}

/// A self-recursive function: its own calls are inlined four levels deep.
/// Each inlined call charges the function's cost to `r13` (failing
/// through its own site) and gives it back; the parameter of each inlined
/// copy is its argument, left in the register where it was computed
/// (`xmm0` for the first level, `xmm1` for the second, …); only the fifth
/// level is a real `call`. Before it the four live parameters are spilled
/// once; after the innermost `?:` merges, the three still needed are
/// reloaded (the fourth died with its copy).
#[test]
fn self_recursive_calls_are_inlined() {
    let body = "n < 1 ? 0 : n + f(n - 1)";
    // `f` is the first name the body mentions: Sym(0).
    let got = compile(&["n"], body, 14, Some(Sym(0)));
    let charge = got
        .full
        .lines()
        .nth(4)
        .and_then(|l| l.split(": ").nth(1))
        .unwrap()
        .to_string();
    let count = |text: &str| got.full.lines().filter(|l| l.ends_with(text)).count();
    assert_eq!(got.calls.len(), 1, "{}", got.full);
    let give_back = charge.replace("sub", "add");
    assert_eq!(count(&format!(": {charge}")), 5, "{}", got.full);
    assert_eq!(count(&format!(": {give_back}")), 5, "{}", got.full);
    // Five sites for the one call of the source: each copy has its own.
    assert_eq!(got.sites.len(), 5, "{}", got.full);
    insta::assert_snapshot!(got.body);
    // Not its own name (`self_sym` None): an ordinary call.
    let plain = compile(&["n"], body, 14, None);
    assert_eq!(plain.sites.len(), 1, "{}", plain.full);
    assert_eq!(count(&format!(": {charge}")), 5);
    assert_eq!(
        plain
            .full
            .lines()
            .filter(|l| l.ends_with(&format!(": {charge}")))
            .count(),
        1
    );
}

/// The structure the linker relies on, beyond the listing: each user call
/// is an `E8` with a zero `rel32` recorded as a relocation, with a site
/// naming the callee and its argument count; globals and failures get
/// sites of their own, referred to by 64-bit placeholders the linker
/// overwrites with their addresses.
#[test]
fn calls_globals_and_failures_are_recorded_as_sites() {
    let got = compile(&["x"], "f(x, 1) + g(k) + sin(x, x)", 14, None);
    assert_eq!(got.calls.len(), 2, "{}", got.full);
    for call in &got.calls {
        assert_eq!(got.code[call.at], 0xE8, "{}", got.full);
        assert_eq!(got.code[call.at + 1..call.at + 5], [0, 0, 0, 0]);
    }
    // Names are interned in order of first mention: f, g, k.
    let (f, g, k) = (Sym(0), Sym(1), Sym(2));
    assert_eq!((got.calls[0].sym, got.calls[0].argc), (f, 2));
    assert_eq!((got.calls[1].sym, got.calls[1].argc), (g, 1));
    let kinds: Vec<String> = got.sites.iter().map(|(k, _)| format!("{k:?}")).collect();
    assert_eq!(
        kinds,
        [
            format!("{:?}", SiteKind::Call { sym: f, argc: 2 }),
            format!("{:?}", SiteKind::Global(k)),
            format!("{:?}", SiteKind::Call { sym: g, argc: 1 }),
            format!(
                "{:?}",
                SiteKind::Fail(crate::ErrorKind::Arity {
                    name: "sin".into(),
                    expected: 1,
                    got: 2
                })
            ),
        ]
    );
    assert_eq!(got.calls[0].site, 0);
    assert_eq!(got.calls[1].site, 2);
    // The call's site points at the whole call in the source.
    assert_eq!(got.sites[0].1, Span::new(0, 7));
    assert_eq!(got.sites[1].1, Span::new(12, 13));
}

/// Every code path of the generator decodes to valid instructions, with
/// any number of registers from 2 to 14 (and out-of-range values are
/// clamped, not trusted).
#[test]
fn every_register_count_gives_valid_code() {
    let body = "x < y ? sin(x) * f(x, y - 1) + k : -(x % y) ^ atan2(y, x) && !(x >= y || y != 1)";
    let mut lens = Vec::new();
    for nregs in [0, 1, 2, 3, 4, 7, 14, 15, 255] {
        let got = compile(&["x", "y"], body, nregs, None);
        lens.push((nregs, got.code.len()));
    }
    // 0 and 1 behave as 2; 15 and 255 as 14.
    assert_eq!(lens[0].1, lens[2].1, "{lens:?}");
    assert_eq!(lens[1].1, lens[2].1, "{lens:?}");
    assert_eq!(lens[7].1, lens[6].1, "{lens:?}");
    assert_eq!(lens[8].1, lens[6].1, "{lens:?}");
    // Fewer registers mean spills: longer code.
    assert!(lens[2].1 > lens[6].1, "{lens:?}");
}

/// A native function's body: its arguments above the return address go
/// to the runtime helper by pointer.
#[test]
fn a_native_body_calls_the_runtime_with_its_arguments() {
    let native = std::sync::Arc::new(crate::native::Native::new("twice", |x: f64| 2.0 * x));
    let f = Function::new(
        "twice",
        vec!["x".into()],
        Node::Native(native),
        crate::Source::new("<native>", ""),
        None,
        false,
    )
    .unwrap();
    let emitted = emit::function(
        &f.body,
        1,
        f.cost,
        &helpers(),
        &mut FakeSites::default(),
        14,
        None,
    )
    .unwrap();
    assert!(emitted.frame as u64 <= f.cost);
    assert!(emitted.calls.is_empty() && emitted.site_refs.is_empty());
}
