//! Golden tests of the code generator (in the style of Cranelift's
//! `emit_tests.rs`): small lowered functions and the exact instructions
//! `emit::function` makes for them, disassembled with iced-x86.
//!
//! Nothing here runs the code: these pin down register assignment by
//! depth, operand order, spilling, the fused compare-and-branch, the
//! branch-free comparison, saving live registers around calls, and the
//! shape of a user call (its `E8 rel32` placeholder and status test).
//!
//! Helper addresses are fake (`0x1111_1111_1111`, …) and built-in
//! addresses are printed by name, so the listings do not depend on where
//! the test binary is loaded.
//!
//! To see the actual listings after an intended change of the code
//! generator: `EXPRJIT_BLESS=1 cargo test --test emit_golden -- --nocapture`,
//! check them by hand, and paste them in.

#![cfg(target_arch = "x86_64")]

use std::collections::HashMap;

use iced_x86::{Code, Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, OpKind};

use exprjit::builtins::{Kind, BUILTINS};
use exprjit::jit::emit::{self, Helpers, SiteKind, Sites};
use exprjit::lower::{self, Globals, Node, Sym};
use exprjit::Span;

const GLOBAL: usize = 0x1111_1111_1111;
const FAIL: usize = 0x2222_2222_2222;
const CALL_FAILED: usize = 0x3333_3333_3333;

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

/// The function a lowered one- or two-argument built-in call (or `%`,
/// `^`) calls. Taken from lowering itself: a small function may have
/// several copies in a release build (cross-crate inlining), so the
/// address in `BUILTINS` or of `exprjit::builtins::pow` in this crate need
/// not be the one lowering uses.
fn builtin_address(call: &str) -> usize {
    let node = lower_body(&["x", "y"], call);
    match node {
        Node::Call1(_, f, _) => f as *const () as usize,
        Node::Call2(_, f, _, _) => f as *const () as usize,
        other => panic!("{call} lowered to {other}"),
    }
}

/// Names for the 64-bit immediates that are addresses.
fn symbols() -> HashMap<u64, String> {
    let mut names = HashMap::new();
    names.insert(GLOBAL as u64, "<rt_global>".to_string());
    names.insert(FAIL as u64, "<rt_fail>".to_string());
    names.insert(CALL_FAILED as u64, "<rt_call_failed>".to_string());
    names.insert(builtin_address("x % y") as u64, "<%>".to_string());
    names.insert(builtin_address("x ^ y") as u64, "<^>".to_string());
    for b in BUILTINS {
        let call = match b.kind {
            Kind::F1(_) => format!("{}(x)", b.name),
            Kind::F2(_) => format!("{}(x, y)", b.name),
            Kind::Const(_) => continue,
        };
        names
            .entry(builtin_address(&call) as u64)
            .or_insert_with(|| format!("<{}>", b.name));
    }
    names
}

fn lower_body(params: &[&str], body: &str) -> Node {
    let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    let expr = exprjit::syntax::parse_expr(body).expect("test body parses");
    lower::lower(&expr, &params, &mut Names::default()).expect("test body lowers")
}

struct Compiled {
    listing: String,
    code: Vec<u8>,
    calls: Vec<emit::CallReloc>,
    sites: Vec<(SiteKind, Span)>,
}

/// Parses and lowers `body` as a function of `params`, compiles it with
/// `nregs` value registers, and disassembles it: one instruction a line,
/// branch targets as offsets from the start of the function, addresses by
/// name.
fn compile(params: &[&str], body: &str, nregs: u8) -> Compiled {
    let node = lower_body(params, body);
    let helpers = Helpers {
        global: GLOBAL,
        fail: FAIL,
        call_failed: CALL_FAILED,
    };
    let mut sites = FakeSites::default();
    let emitted = emit::function(&node, params.len(), &helpers, &mut sites, nregs)
        .unwrap_or_else(|e| panic!("{body}: {e:?}"));

    let symbols = symbols();
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
    let mut listing = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        assert_ne!(insn.code(), Code::INVALID, "{body}: invalid instruction");
        let mut text = String::new();
        if insn.code() == Code::Mov_r64_imm64 && insn.op1_kind() == OpKind::Immediate64 {
            let imm = insn.immediate64();
            let reg = format!("{:?}", insn.op0_register()).to_lowercase();
            match symbols.get(&imm) {
                Some(name) => text = format!("mov {reg}, {name}"),
                None => text = format!("mov {reg}, 0x{imm:016x}"),
            }
        } else {
            formatter.format(&insn, &mut text);
        }
        listing.push_str(&format!("{:>3}: {text}\n", insn.ip()));
    }
    // The constant pool after the instructions, as data.
    for (i, chunk) in emitted.code[emitted.pool_at..].chunks_exact(8).enumerate() {
        let bits = u64::from_le_bytes(chunk.try_into().unwrap());
        let at = emitted.pool_at + 8 * i;
        listing.push_str(&format!(
            "{at:>3}: .f64 {}\n",
            exprjit::format_number(f64::from_bits(bits))
        ));
    }
    Compiled {
        listing,
        code: emitted.code,
        calls: emitted.calls,
        sites: sites.0,
    }
}

/// Compares a listing with the expected one (leading indentation and
/// blank lines in `expected` are ignored).
fn assert_listing(name: &str, got: &str, expected: &str) {
    let expected: String = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let got: String = got.lines().map(|l| format!("{}\n", l.trim())).collect();
    if std::env::var_os("EXPRJIT_BLESS").is_some() {
        eprintln!("=== {name}\n{got}");
        return;
    }
    assert!(
        got == expected,
        "{name}: the code generator's output changed.\n--- expected\n{expected}--- got\n{got}"
    );
}

struct Case {
    name: &'static str,
    params: &'static [&'static str],
    body: &'static str,
    nregs: u8,
    expected: &'static str,
}

/// The golden table.
const CASES: &[Case] = &[
    Case {
        name: "constant",
        params: &[],
        body: "2.5",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x34
              25: sub r13, 1
              29: jb 0x34
              35: movsd xmm0, [0x40]
              44: add r13, 1
              48: xor eax, eax
              50: leave
              51: ret
              52: mov eax, 2
              57: leave
              58: ret
              59: leave
              60: ret
              61: int3
              62: int3
              63: int3
              64: .f64 2.5
        ",
    },
    Case {
        name: "positive zero is xorpd",
        params: &[],
        body: "0",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x30
              25: sub r13, 1
              29: jb 0x30
              35: xorpd xmm0, xmm0
              40: add r13, 1
              44: xor eax, eax
              46: leave
              47: ret
              48: mov eax, 2
              53: leave
              54: ret
              55: leave
              56: ret
        ",
    },
    Case {
        name: "parameter",
        params: &["x", "y"],
        body: "y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x34
              25: sub r13, 1
              29: jb 0x34
              35: movsd xmm0, [rbp + 0x18]
              44: add r13, 1
              48: xor eax, eax
              50: leave
              51: ret
              52: mov eax, 2
              57: leave
              58: ret
              59: leave
              60: ret
        ",
    },
    Case {
        name: "add",
        params: &["x", "y"],
        body: "x + y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x3d
              25: sub r13, 1
              29: jb 0x3d
              35: movsd xmm0, [rbp + 0x10]
              44: addsd xmm0, [rbp + 0x18]
              53: add r13, 1
              57: xor eax, eax
              59: leave
              60: ret
              61: mov eax, 2
              66: leave
              67: ret
              68: leave
              69: ret
        ",
    },
    Case {
        name: "sub mul div",
        params: &["x", "y"],
        body: "(x - y) * (x / y)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
              11: cmp rsp, [r12]
              19: jb 0x54
              25: sub r13, 1
              29: jb 0x54
              35: movsd xmm0, [rbp + 0x10]
              44: subsd xmm0, [rbp + 0x18]
              53: movsd xmm1, [rbp + 0x10]
              62: divsd xmm1, [rbp + 0x18]
              71: mulsd xmm0, xmm1
              76: add r13, 1
              80: xor eax, eax
              82: leave
              83: ret
              84: mov eax, 2
              89: leave
              90: ret
              91: leave
              92: ret
        ",
    },
    Case {
        name: "negation flips the sign bit",
        params: &["x"],
        body: "-x",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x42
              25: sub r13, 1
              29: jb 0x42
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm15, [0x50]
              53: xorpd xmm0, xmm15
              58: add r13, 1
              62: xor eax, eax
              64: leave
              65: ret
              66: mov eax, 2
              71: leave
              72: ret
              73: leave
              74: ret
              75: int3
              76: int3
              77: int3
              78: int3
              79: int3
              80: .f64 -0
        ",
    },
    Case {
        name: "not",
        params: &["x"],
        body: "!x",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x49
              25: sub r13, 1
              29: jb 0x49
              35: movsd xmm0, [rbp + 0x10]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: sete al
              57: movzx eax, al
              60: cvtsi2sd xmm0, eax
              65: add r13, 1
              69: xor eax, eax
              71: leave
              72: ret
              73: mov eax, 2
              78: leave
              79: ret
              80: leave
              81: ret
        ",
    },
    Case {
        name: "less than as a value",
        params: &["x", "y"],
        body: "x < y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x5b
              25: sub r13, 1
              29: jb 0x5b
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movapd xmm14, xmm0
              58: cmpltsd xmm14, xmm1
              64: movsd xmm15, [0x68]
              73: andpd xmm14, xmm15
              78: movapd xmm0, xmm14
              83: add r13, 1
              87: xor eax, eax
              89: leave
              90: ret
              91: mov eax, 2
              96: leave
              97: ret
              98: leave
              99: ret
              100: int3
              101: int3
              102: int3
              103: int3
              104: .f64 1
        ",
    },
    Case {
        name: "greater or equal as a value",
        params: &["x", "y"],
        body: "x >= y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x5b
              25: sub r13, 1
              29: jb 0x5b
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movapd xmm14, xmm1
              58: cmplesd xmm14, xmm0
              64: movsd xmm15, [0x68]
              73: andpd xmm14, xmm15
              78: movapd xmm0, xmm14
              83: add r13, 1
              87: xor eax, eax
              89: leave
              90: ret
              91: mov eax, 2
              96: leave
              97: ret
              98: leave
              99: ret
              100: int3
              101: int3
              102: int3
              103: int3
              104: .f64 1
        ",
    },
    Case {
        name: "equal as a value",
        params: &["x", "y"],
        body: "x == y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x5b
              25: sub r13, 1
              29: jb 0x5b
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movapd xmm14, xmm0
              58: cmpeqsd xmm14, xmm1
              64: movsd xmm15, [0x68]
              73: andpd xmm14, xmm15
              78: movapd xmm0, xmm14
              83: add r13, 1
              87: xor eax, eax
              89: leave
              90: ret
              91: mov eax, 2
              96: leave
              97: ret
              98: leave
              99: ret
              100: int3
              101: int3
              102: int3
              103: int3
              104: .f64 1
        ",
    },
    Case {
        name: "conditional with fused compare",
        params: &["x", "y"],
        body: "x < y ? x : y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x5a
              25: sub r13, 1
              29: jb 0x5a
              35: movsd xmm0, [rbp + 0x18]
              44: ucomisd xmm0, [rbp + 0x10]
              53: jbe 0x49
              59: movsd xmm0, [rbp + 0x10]
              68: jmp 0x52
              73: movsd xmm0, [rbp + 0x18]
              82: add r13, 1
              86: xor eax, eax
              88: leave
              89: ret
              90: mov eax, 2
              95: leave
              96: ret
              97: leave
              98: ret
        ",
    },
    Case {
        name: "conditional on a value",
        params: &["x", "y"],
        body: "x ? y : 1",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x5b
              25: sub r13, 1
              29: jb 0x5b
              35: movsd xmm0, [rbp + 0x10]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: je 0x4a
              60: movsd xmm0, [rbp + 0x18]
              69: jmp 0x53
              74: movsd xmm0, [0x68]
              83: add r13, 1
              87: xor eax, eax
              89: leave
              90: ret
              91: mov eax, 2
              96: leave
              97: ret
              98: leave
              99: ret
              100: int3
              101: int3
              102: int3
              103: int3
              104: .f64 1
        ",
    },
    Case {
        name: "conditional on equality",
        params: &["x", "y"],
        body: "x == y ? 1 : y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x60
              25: sub r13, 1
              29: jb 0x60
              35: movsd xmm0, [rbp + 0x10]
              44: ucomisd xmm0, [rbp + 0x18]
              53: jp 0x4f
              59: jne 0x4f
              65: movsd xmm0, [0x70]
              74: jmp 0x58
              79: movsd xmm0, [rbp + 0x18]
              88: add r13, 1
              92: xor eax, eax
              94: leave
              95: ret
              96: mov eax, 2
              101: leave
              102: ret
              103: leave
              104: ret
              105: int3
              106: int3
              107: int3
              108: int3
              109: int3
              110: int3
              111: int3
              112: .f64 1
        ",
    },
    Case {
        name: "conditional on inequality",
        params: &["x", "y"],
        body: "x != y ? x : y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x60
              25: sub r13, 1
              29: jb 0x60
              35: movsd xmm0, [rbp + 0x10]
              44: ucomisd xmm0, [rbp + 0x18]
              53: jp 0x41
              59: je 0x4f
              65: movsd xmm0, [rbp + 0x10]
              74: jmp 0x58
              79: movsd xmm0, [rbp + 0x18]
              88: add r13, 1
              92: xor eax, eax
              94: leave
              95: ret
              96: mov eax, 2
              101: leave
              102: ret
              103: leave
              104: ret
        ",
    },
    Case {
        name: "or of equality and order",
        params: &["x", "y"],
        body: "x == y || x > y ? 1 : y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x78
              25: sub r13, 1
              29: jb 0x78
              35: movsd xmm0, [rbp + 0x10]
              44: ucomisd xmm0, [rbp + 0x18]
              53: jp 0x41
              59: je 0x59
              65: movsd xmm0, [rbp + 0x10]
              74: ucomisd xmm0, [rbp + 0x18]
              83: jbe 0x67
              89: movsd xmm0, [0x88]
              98: jmp 0x70
              103: movsd xmm0, [rbp + 0x18]
              112: add r13, 1
              116: xor eax, eax
              118: leave
              119: ret
              120: mov eax, 2
              125: leave
              126: ret
              127: leave
              128: ret
              129: int3
              130: int3
              131: int3
              132: int3
              133: int3
              134: int3
              135: int3
              136: .f64 1
        ",
    },
    Case {
        name: "and",
        params: &["x", "y"],
        body: "x && y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x70
              25: sub r13, 1
              29: jb 0x70
              35: movsd xmm0, [rbp + 0x10]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: je 0x63
              60: movsd xmm0, [rbp + 0x18]
              69: xorpd xmm15, xmm15
              74: ucomisd xmm15, xmm0
              79: je 0x63
              85: movsd xmm0, [0x80]
              94: jmp 0x68
              99: xorpd xmm0, xmm0
              104: add r13, 1
              108: xor eax, eax
              110: leave
              111: ret
              112: mov eax, 2
              117: leave
              118: ret
              119: leave
              120: ret
              121: int3
              122: int3
              123: int3
              124: int3
              125: int3
              126: int3
              127: int3
              128: .f64 1
        ",
    },
    Case {
        name: "or",
        params: &["x", "y"],
        body: "x || y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x70
              25: sub r13, 1
              29: jb 0x70
              35: movsd xmm0, [rbp + 0x10]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: jne 0x55
              60: movsd xmm0, [rbp + 0x18]
              69: xorpd xmm15, xmm15
              74: ucomisd xmm15, xmm0
              79: je 0x63
              85: movsd xmm0, [0x80]
              94: jmp 0x68
              99: xorpd xmm0, xmm0
              104: add r13, 1
              108: xor eax, eax
              110: leave
              111: ret
              112: mov eax, 2
              117: leave
              118: ret
              119: leave
              120: ret
              121: int3
              122: int3
              123: int3
              124: int3
              125: int3
              126: int3
              127: int3
              128: .f64 1
        ",
    },
    Case {
        name: "and of comparisons in a conditional",
        params: &["x", "y"],
        body: "x > 0 && y <= x ? x : y",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x72
              25: sub r13, 1
              29: jb 0x72
              35: movsd xmm0, [rbp + 0x10]
              44: ucomisd xmm0, [0x80]
              53: jbe 0x61
              59: movsd xmm0, [rbp + 0x10]
              68: ucomisd xmm0, [rbp + 0x18]
              77: jb 0x61
              83: movsd xmm0, [rbp + 0x10]
              92: jmp 0x6a
              97: movsd xmm0, [rbp + 0x18]
              106: add r13, 1
              110: xor eax, eax
              112: leave
              113: ret
              114: mov eax, 2
              119: leave
              120: ret
              121: leave
              122: ret
              123: int3
              124: int3
              125: int3
              126: int3
              127: int3
              128: .f64 0
        ",
    },
    Case {
        name: "builtin call",
        params: &["x"],
        body: "sin(x)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x40
              25: sub r13, 1
              29: jb 0x40
              35: movsd xmm0, [rbp + 0x10]
              44: mov rax, <sin>
              54: call rax
              56: add r13, 1
              60: xor eax, eax
              62: leave
              63: ret
              64: mov eax, 2
              69: leave
              70: ret
              71: leave
              72: ret
        ",
    },
    Case {
        name: "builtin call with a live register",
        params: &["x", "y"],
        body: "x < sin(y)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x83
              25: sub r13, 1
              29: jb 0x83
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movsd [rbp - 8], xmm0
              62: movapd xmm0, xmm1
              67: mov rax, <sin>
              77: call rax
              79: movapd xmm1, xmm0
              84: movsd xmm0, [rbp - 8]
              93: movapd xmm14, xmm0
              98: cmpltsd xmm14, xmm1
              104: movsd xmm15, [0x90]
              113: andpd xmm14, xmm15
              118: movapd xmm0, xmm14
              123: add r13, 1
              127: xor eax, eax
              129: leave
              130: ret
              131: mov eax, 2
              136: leave
              137: ret
              138: leave
              139: ret
              140: int3
              141: int3
              142: int3
              143: int3
              144: .f64 1
        ",
    },
    Case {
        name: "two builtin calls",
        params: &["x", "y"],
        body: "sin(x) + cos(y)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x76
              25: sub r13, 1
              29: jb 0x76
              35: movsd xmm0, [rbp + 0x10]
              44: mov rax, <sin>
              54: call rax
              56: movsd xmm1, [rbp + 0x18]
              65: movsd [rbp - 8], xmm0
              74: movapd xmm0, xmm1
              79: mov rax, <cos>
              89: call rax
              91: movapd xmm1, xmm0
              96: movsd xmm0, [rbp - 8]
              105: addsd xmm0, xmm1
              110: add r13, 1
              114: xor eax, eax
              116: leave
              117: ret
              118: mov eax, 2
              123: leave
              124: ret
              125: leave
              126: ret
        ",
    },
    Case {
        name: "two-argument builtin",
        params: &["x", "y"],
        body: "atan2(x, y)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x49
              25: sub r13, 1
              29: jb 0x49
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: mov rax, <atan2>
              63: call rax
              65: add r13, 1
              69: xor eax, eax
              71: leave
              72: ret
              73: mov eax, 2
              78: leave
              79: ret
              80: leave
              81: ret
        ",
    },
    Case {
        name: "remainder and power",
        params: &["x", "y"],
        body: "x % y ^ 2",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
              11: cmp rsp, [r12]
              19: jb 0x6c
              25: sub r13, 1
              29: jb 0x6c
              35: movsd xmm0, [rbp + 0x18]
              44: movsd xmm1, [0x78]
              53: mov rax, <^>
              63: call rax
              65: movsd xmm1, [rbp + 0x10]
              74: movapd xmm14, xmm0
              79: movapd xmm0, xmm1
              83: movapd xmm1, xmm14
              88: mov rax, <%>
              98: call rax
              100: add r13, 1
              104: xor eax, eax
              106: leave
              107: ret
              108: mov eax, 2
              113: leave
              114: ret
              115: leave
              116: ret
              117: int3
              118: int3
              119: int3
              120: .f64 2
        ",
    },
    Case {
        name: "call-free left operand is computed last",
        params: &["x", "y"],
        body: "x * atan2(y, x)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
              11: cmp rsp, [r12]
              19: jb 0x5c
              25: sub r13, 1
              29: jb 0x5c
              35: movsd xmm0, [rbp + 0x18]
              44: movsd xmm1, [rbp + 0x10]
              53: mov rax, <atan2>
              63: call rax
              65: movsd xmm1, [rbp + 0x10]
              74: mulsd xmm1, xmm0
              79: movapd xmm0, xmm1
              84: add r13, 1
              88: xor eax, eax
              90: leave
              91: ret
              92: mov eax, 2
              97: leave
              98: ret
              99: leave
              100: ret
        ",
    },
    Case {
        name: "global read",
        params: &["x"],
        body: "x + k",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x5b
              25: sub r13, 1
              29: jb 0x5b
              35: mov rdi, r12
              38: mov esi, 0
              43: mov rax, <rt_global>
              53: call rax
              55: test rax, rax
              58: jne 0x62
              64: movsd xmm1, [rbp + 0x10]
              73: addsd xmm1, xmm0
              78: movapd xmm0, xmm1
              83: add r13, 1
              87: xor eax, eax
              89: leave
              90: ret
              91: mov eax, 2
              96: leave
              97: ret
              98: leave
              99: ret
        ",
    },
    Case {
        name: "user call",
        params: &["x"],
        body: "f(x + 1)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
              11: cmp rsp, [r12]
              19: jb 0x54
              25: sub r13, 1
              29: jb 0x54
              35: movsd xmm0, [rbp + 0x10]
              44: addsd xmm0, [0x78]
              53: movsd [rsp], xmm0
              63: call 0x44
              68: test eax, eax
              70: jne 0x5d
              76: add r13, 1
              80: xor eax, eax
              82: leave
              83: ret
              84: mov eax, 2
              89: leave
              90: ret
              91: leave
              92: ret
              93: mov rdi, r12
              96: mov esi, 0
              101: mov edx, eax
              103: mov rax, <rt_call_failed>
              113: call rax
              115: leave
              116: ret
              117: int3
              118: int3
              119: int3
              120: .f64 1
        ",
    },
    Case {
        name: "user call with live value",
        params: &["x", "y"],
        body: "f(x, y) < x",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x30
              11: cmp rsp, [r12]
              19: jb 0x85
              25: sub r13, 1
              29: jb 0x85
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movsd [rsp], xmm0
              63: movsd [rsp + 8], xmm1
              73: call 0x4e
              78: test eax, eax
              80: jne 0x8e
              86: movsd xmm1, [rbp + 0x10]
              95: movapd xmm14, xmm0
              100: cmpltsd xmm14, xmm1
              106: movsd xmm15, [0xa8]
              115: andpd xmm14, xmm15
              120: movapd xmm0, xmm14
              125: add r13, 1
              129: xor eax, eax
              131: leave
              132: ret
              133: mov eax, 2
              138: leave
              139: ret
              140: leave
              141: ret
              142: mov rdi, r12
              145: mov esi, 0
              150: mov edx, eax
              152: mov rax, <rt_call_failed>
              162: call rax
              164: leave
              165: ret
              166: int3
              167: int3
              168: .f64 1
        ",
    },
    Case {
        name: "user call with spilled arguments",
        params: &["x", "y"],
        body: "f(x, y, x * y)",
        nregs: 2,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x40
              11: cmp rsp, [r12]
              19: jb 0x9e
              25: sub r13, 1
              29: jb 0x9e
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movsd xmm14, [rbp + 0x10]
              62: movsd [rbp - 0x18], xmm14
              71: movsd xmm14, [rbp - 0x18]
              80: mulsd xmm14, [rbp + 0x18]
              89: movsd [rbp - 0x18], xmm14
              98: movsd [rsp], xmm0
              108: movsd [rsp + 8], xmm1
              118: movsd xmm14, [rbp - 0x18]
              127: movsd [rsp + 0x10], xmm14
              137: call 0x8e
              142: test eax, eax
              144: jne 0xa7
              150: add r13, 1
              154: xor eax, eax
              156: leave
              157: ret
              158: mov eax, 2
              163: leave
              164: ret
              165: leave
              166: ret
              167: mov rdi, r12
              170: mov esi, 0
              175: mov edx, eax
              177: mov rax, <rt_call_failed>
              187: call rax
              189: leave
              190: ret
        ",
    },
    Case {
        name: "error site",
        params: &[],
        body: "sin(1, 2)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x10
              11: cmp rsp, [r12]
              19: jb 0x44
              25: sub r13, 1
              29: jb 0x44
              35: mov rdi, r12
              38: mov esi, 0
              43: mov rax, <rt_fail>
              53: call rax
              55: jmp 0x4b
              60: add r13, 1
              64: xor eax, eax
              66: leave
              67: ret
              68: mov eax, 2
              73: leave
              74: ret
              75: leave
              76: ret
        ",
    },
    Case {
        name: "spilled with two registers",
        params: &["x", "y"],
        body: "x + (y * (x - y))",
        nregs: 2,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
              11: cmp rsp, [r12]
              19: jb 0x78
              25: sub r13, 1
              29: jb 0x78
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movsd xmm14, [rbp + 0x10]
              62: movsd [rbp - 0x18], xmm14
              71: movsd xmm14, [rbp - 0x18]
              80: subsd xmm14, [rbp + 0x18]
              89: movsd [rbp - 0x18], xmm14
              98: mulsd xmm1, [rbp - 0x18]
              107: addsd xmm0, xmm1
              112: add r13, 1
              116: xor eax, eax
              118: leave
              119: ret
              120: mov eax, 2
              125: leave
              126: ret
              127: leave
              128: ret
        ",
    },
    Case {
        name: "spilled call and comparisons with two registers",
        params: &["x", "y"],
        body: "x < (y < (x < sin(y)))",
        nregs: 2,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
              11: cmp rsp, [r12]
              19: jb 0x10d
              25: sub r13, 1
              29: jb 0x10d
              35: movsd xmm0, [rbp + 0x10]
              44: movsd xmm1, [rbp + 0x18]
              53: movsd xmm14, [rbp + 0x10]
              62: movsd [rbp - 0x18], xmm14
              71: movsd xmm14, [rbp + 0x18]
              80: movsd [rbp - 0x20], xmm14
              89: movsd [rbp - 8], xmm0
              98: movsd [rbp - 0x10], xmm1
              107: movsd xmm0, [rbp - 0x20]
              116: mov rax, <sin>
              126: call rax
              128: movsd [rbp - 0x20], xmm0
              137: movsd xmm0, [rbp - 8]
              146: movsd xmm1, [rbp - 0x10]
              155: movsd xmm14, [rbp - 0x18]
              164: cmpltsd xmm14, [rbp - 0x20]
              174: movsd xmm15, [0x118]
              183: andpd xmm14, xmm15
              188: movsd [rbp - 0x18], xmm14
              197: movapd xmm14, xmm1
              202: cmpltsd xmm14, [rbp - 0x18]
              212: movsd xmm15, [0x118]
              221: andpd xmm14, xmm15
              226: movapd xmm1, xmm14
              231: movapd xmm14, xmm0
              236: cmpltsd xmm14, xmm1
              242: movsd xmm15, [0x118]
              251: andpd xmm14, xmm15
              256: movapd xmm0, xmm14
              261: add r13, 1
              265: xor eax, eax
              267: leave
              268: ret
              269: mov eax, 2
              274: leave
              275: ret
              276: leave
              277: ret
              278: int3
              279: int3
              280: .f64 1
        ",
    },
];

#[test]
fn emitted_code_matches_the_golden_listings() {
    for case in CASES {
        let got = compile(case.params, case.body, case.nregs);
        assert_listing(case.name, &got.listing, case.expected);
    }
}

/// The structure `jit::compile` relies on, beyond the listing: each user
/// call is an `E8` with a zero `rel32` recorded as a relocation, with a
/// site naming the callee and its argument count; globals and failures
/// get sites of their own.
#[test]
fn calls_globals_and_failures_are_recorded_as_sites() {
    let got = compile(&["x"], "f(x, 1) + g(k) + sin(x, x)", 14);
    assert_eq!(got.calls.len(), 2, "{}", got.listing);
    for call in &got.calls {
        assert_eq!(got.code[call.rel32_at - 1], 0xE8, "{}", got.listing);
        assert_eq!(got.code[call.rel32_at..call.rel32_at + 4], [0, 0, 0, 0]);
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
                SiteKind::Fail(exprjit::ErrorKind::Arity {
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
        let got = compile(&["x", "y"], body, nregs);
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
