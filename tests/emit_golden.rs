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
    let mut decoder = Decoder::with_ip(64, &emitted.code, 0, DecoderOptions::NONE);
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
             19: jb 0x2c
             25: mov rax, 0x4004000000000000
             35: movq xmm0, rax
             40: xor eax, eax
             42: leave
             43: ret
             44: mov eax, 2
             49: leave
             50: ret
             51: leave
             52: ret
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
             19: jb 0x22
             25: xorpd xmm0, xmm0
             30: xor eax, eax
             32: leave
             33: ret
             34: mov eax, 2
             39: leave
             40: ret
             41: leave
             42: ret
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
             19: jb 0x26
             25: movsd xmm0, [rbp + 0x18]
             34: xor eax, eax
             36: leave
             37: ret
             38: mov eax, 2
             43: leave
             44: ret
             45: leave
             46: ret
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
             19: jb 0x34
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: addsd xmm0, xmm1
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
        name: "sub mul div",
        params: &["x", "y"],
        body: "(x - y) * (x / y)",
        nregs: 14,
        expected: "
              0: push rbp
              1: mov rbp, rsp
              4: sub rsp, 0x20
             11: cmp rsp, [r12]
             19: jb 0x50
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: subsd xmm0, xmm1
             48: movsd xmm1, [rbp + 0x10]
             57: movsd xmm2, [rbp + 0x18]
             66: divsd xmm1, xmm2
             71: mulsd xmm0, xmm1
             76: xor eax, eax
             78: leave
             79: ret
             80: mov eax, 2
             85: leave
             86: ret
             87: leave
             88: ret
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
             19: jb 0x3a
             25: movsd xmm0, [rbp + 0x10]
             34: mov rax, 0x8000000000000000
             44: movq xmm15, rax
             49: xorpd xmm0, xmm15
             54: xor eax, eax
             56: leave
             57: ret
             58: mov eax, 2
             63: leave
             64: ret
             65: leave
             66: ret
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
             19: jb 0x3b
             25: movsd xmm0, [rbp + 0x10]
             34: xorpd xmm15, xmm15
             39: ucomisd xmm15, xmm0
             44: sete al
             47: movzx eax, al
             50: cvtsi2sd xmm0, eax
             55: xor eax, eax
             57: leave
             58: ret
             59: mov eax, 2
             64: leave
             65: ret
             66: leave
             67: ret
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
             19: jb 0x53
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movapd xmm14, xmm0
             48: cmpltsd xmm14, xmm1
             54: mov rax, 0x3ff0000000000000
             64: movq xmm15, rax
             69: andpd xmm14, xmm15
             74: movapd xmm0, xmm14
             79: xor eax, eax
             81: leave
             82: ret
             83: mov eax, 2
             88: leave
             89: ret
             90: leave
             91: ret
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
             19: jb 0x53
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movapd xmm14, xmm1
             48: cmplesd xmm14, xmm0
             54: mov rax, 0x3ff0000000000000
             64: movq xmm15, rax
             69: andpd xmm14, xmm15
             74: movapd xmm0, xmm14
             79: xor eax, eax
             81: leave
             82: ret
             83: mov eax, 2
             88: leave
             89: ret
             90: leave
             91: ret
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
             19: jb 0x53
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movapd xmm14, xmm0
             48: cmpeqsd xmm14, xmm1
             54: mov rax, 0x3ff0000000000000
             64: movq xmm15, rax
             69: andpd xmm14, xmm15
             74: movapd xmm0, xmm14
             79: xor eax, eax
             81: leave
             82: ret
             83: mov eax, 2
             88: leave
             89: ret
             90: leave
             91: ret
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
             19: jb 0x51
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: ucomisd xmm1, xmm0
             48: jbe 0x44
             54: movsd xmm0, [rbp + 0x10]
             63: jmp 0x4d
             68: movsd xmm0, [rbp + 0x18]
             77: xor eax, eax
             79: leave
             80: ret
             81: mov eax, 2
             86: leave
             87: ret
             88: leave
             89: ret
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
             19: jb 0x53
             25: movsd xmm0, [rbp + 0x10]
             34: xorpd xmm15, xmm15
             39: ucomisd xmm15, xmm0
             44: je 0x40
             50: movsd xmm0, [rbp + 0x18]
             59: jmp 0x4f
             64: mov rax, 0x3ff0000000000000
             74: movq xmm0, rax
             79: xor eax, eax
             81: leave
             82: ret
             83: mov eax, 2
             88: leave
             89: ret
             90: leave
             91: ret
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
             19: jb 0x5d
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: ucomisd xmm0, xmm1
             48: jp 0x50
             54: jne 0x50
             60: mov rax, 0x3ff0000000000000
             70: movq xmm0, rax
             75: jmp 0x59
             80: movsd xmm0, [rbp + 0x18]
             89: xor eax, eax
             91: leave
             92: ret
             93: mov eax, 2
             98: leave
             99: ret
            100: leave
            101: ret
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
             19: jb 0x57
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: ucomisd xmm0, xmm1
             48: jp 0x3c
             54: je 0x4a
             60: movsd xmm0, [rbp + 0x10]
             69: jmp 0x53
             74: movsd xmm0, [rbp + 0x18]
             83: xor eax, eax
             85: leave
             86: ret
             87: mov eax, 2
             92: leave
             93: ret
             94: leave
             95: ret
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
             19: jb 0x7a
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: ucomisd xmm0, xmm1
             48: jp 0x3c
             54: je 0x59
             60: movsd xmm0, [rbp + 0x10]
             69: movsd xmm1, [rbp + 0x18]
             78: ucomisd xmm0, xmm1
             83: jbe 0x6d
             89: mov rax, 0x3ff0000000000000
             99: movq xmm0, rax
            104: jmp 0x76
            109: movsd xmm0, [rbp + 0x18]
            118: xor eax, eax
            120: leave
            121: ret
            122: mov eax, 2
            127: leave
            128: ret
            129: leave
            130: ret
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
             19: jb 0x68
             25: movsd xmm0, [rbp + 0x10]
             34: xorpd xmm15, xmm15
             39: ucomisd xmm15, xmm0
             44: je 0x5f
             50: movsd xmm0, [rbp + 0x18]
             59: xorpd xmm15, xmm15
             64: ucomisd xmm15, xmm0
             69: je 0x5f
             75: mov rax, 0x3ff0000000000000
             85: movq xmm0, rax
             90: jmp 0x64
             95: xorpd xmm0, xmm0
            100: xor eax, eax
            102: leave
            103: ret
            104: mov eax, 2
            109: leave
            110: ret
            111: leave
            112: ret
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
             19: jb 0x68
             25: movsd xmm0, [rbp + 0x10]
             34: xorpd xmm15, xmm15
             39: ucomisd xmm15, xmm0
             44: jne 0x4b
             50: movsd xmm0, [rbp + 0x18]
             59: xorpd xmm15, xmm15
             64: ucomisd xmm15, xmm0
             69: je 0x5f
             75: mov rax, 0x3ff0000000000000
             85: movq xmm0, rax
             90: jmp 0x64
             95: xorpd xmm0, xmm0
            100: xor eax, eax
            102: leave
            103: ret
            104: mov eax, 2
            109: leave
            110: ret
            111: leave
            112: ret
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
             19: jb 0x6a
             25: movsd xmm0, [rbp + 0x10]
             34: xorpd xmm1, xmm1
             39: ucomisd xmm0, xmm1
             44: jbe 0x5d
             50: movsd xmm0, [rbp + 0x18]
             59: movsd xmm1, [rbp + 0x10]
             68: ucomisd xmm1, xmm0
             73: jb 0x5d
             79: movsd xmm0, [rbp + 0x10]
             88: jmp 0x66
             93: movsd xmm0, [rbp + 0x18]
            102: xor eax, eax
            104: leave
            105: ret
            106: mov eax, 2
            111: leave
            112: ret
            113: leave
            114: ret
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
             19: jb 0x32
             25: movsd xmm0, [rbp + 0x10]
             34: mov rax, <sin>
             44: call rax
             46: xor eax, eax
             48: leave
             49: ret
             50: mov eax, 2
             55: leave
             56: ret
             57: leave
             58: ret
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
             19: jb 0x7b
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movsd [rbp - 8], xmm0
             52: movapd xmm0, xmm1
             57: mov rax, <sin>
             67: call rax
             69: movapd xmm1, xmm0
             74: movsd xmm0, [rbp - 8]
             83: movapd xmm14, xmm0
             88: cmpltsd xmm14, xmm1
             94: mov rax, 0x3ff0000000000000
            104: movq xmm15, rax
            109: andpd xmm14, xmm15
            114: movapd xmm0, xmm14
            119: xor eax, eax
            121: leave
            122: ret
            123: mov eax, 2
            128: leave
            129: ret
            130: leave
            131: ret
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
             19: jb 0x68
             25: movsd xmm0, [rbp + 0x10]
             34: mov rax, <sin>
             44: call rax
             46: movsd xmm1, [rbp + 0x18]
             55: movsd [rbp - 8], xmm0
             64: movapd xmm0, xmm1
             69: mov rax, <cos>
             79: call rax
             81: movapd xmm1, xmm0
             86: movsd xmm0, [rbp - 8]
             95: addsd xmm0, xmm1
            100: xor eax, eax
            102: leave
            103: ret
            104: mov eax, 2
            109: leave
            110: ret
            111: leave
            112: ret
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
             19: jb 0x3b
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: mov rax, <atan2>
             53: call rax
             55: xor eax, eax
             57: leave
             58: ret
             59: mov eax, 2
             64: leave
             65: ret
             66: leave
             67: ret
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
             19: jb 0x64
             25: movsd xmm0, [rbp + 0x18]
             34: mov rax, 0x4000000000000000
             44: movq xmm1, rax
             49: mov rax, <^>
             59: call rax
             61: movsd xmm1, [rbp + 0x10]
             70: movapd xmm14, xmm0
             75: movapd xmm0, xmm1
             79: movapd xmm1, xmm14
             84: mov rax, <%>
             94: call rax
             96: xor eax, eax
             98: leave
             99: ret
            100: mov eax, 2
            105: leave
            106: ret
            107: leave
            108: ret
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
             19: jb 0x4e
             25: movsd xmm0, [rbp + 0x18]
             34: movsd xmm1, [rbp + 0x10]
             43: mov rax, <atan2>
             53: call rax
             55: movsd xmm1, [rbp + 0x10]
             64: mulsd xmm1, xmm0
             69: movapd xmm0, xmm1
             74: xor eax, eax
             76: leave
             77: ret
             78: mov eax, 2
             83: leave
             84: ret
             85: leave
             86: ret
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
             19: jb 0x4d
             25: mov rdi, r12
             28: mov esi, 0
             33: mov rax, <rt_global>
             43: call rax
             45: test rax, rax
             48: jne 0x54
             54: movsd xmm1, [rbp + 0x10]
             63: addsd xmm1, xmm0
             68: movapd xmm0, xmm1
             73: xor eax, eax
             75: leave
             76: ret
             77: mov eax, 2
             82: leave
             83: ret
             84: leave
             85: ret
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
             19: jb 0x51
             25: movsd xmm0, [rbp + 0x10]
             34: mov rax, 0x3ff0000000000000
             44: movq xmm1, rax
             49: addsd xmm0, xmm1
             54: movsd [rsp], xmm0
             64: call 0x45
             69: test eax, eax
             71: jne 0x5a
             77: xor eax, eax
             79: leave
             80: ret
             81: mov eax, 2
             86: leave
             87: ret
             88: leave
             89: ret
             90: mov rdi, r12
             93: mov esi, 0
             98: mov edx, eax
            100: mov rax, <rt_call_failed>
            110: call rax
            112: leave
            113: ret
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
             19: jb 0x7d
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movsd [rsp], xmm0
             53: movsd [rsp + 8], xmm1
             63: call 0x44
             68: test eax, eax
             70: jne 0x86
             76: movsd xmm1, [rbp + 0x10]
             85: movapd xmm14, xmm0
             90: cmpltsd xmm14, xmm1
             96: mov rax, 0x3ff0000000000000
            106: movq xmm15, rax
            111: andpd xmm14, xmm15
            116: movapd xmm0, xmm14
            121: xor eax, eax
            123: leave
            124: ret
            125: mov eax, 2
            130: leave
            131: ret
            132: leave
            133: ret
            134: mov rdi, r12
            137: mov esi, 0
            142: mov edx, eax
            144: mov rax, <rt_call_failed>
            154: call rax
            156: leave
            157: ret
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
             19: jb 0xa2
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movsd xmm14, [rbp + 0x10]
             52: movsd [rbp - 0x18], xmm14
             61: movsd xmm14, [rbp + 0x18]
             70: movsd [rbp - 0x20], xmm14
             79: movsd xmm14, [rbp - 0x18]
             88: mulsd xmm14, [rbp - 0x20]
             97: movsd [rbp - 0x18], xmm14
            106: movsd [rsp], xmm0
            116: movsd [rsp + 8], xmm1
            126: movsd xmm14, [rbp - 0x18]
            135: movsd [rsp + 0x10], xmm14
            145: call 0x96
            150: test eax, eax
            152: jne 0xab
            158: xor eax, eax
            160: leave
            161: ret
            162: mov eax, 2
            167: leave
            168: ret
            169: leave
            170: ret
            171: mov rdi, r12
            174: mov esi, 0
            179: mov edx, eax
            181: mov rax, <rt_call_failed>
            191: call rax
            193: leave
            194: ret
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
             19: jb 0x36
             25: mov rdi, r12
             28: mov esi, 0
             33: mov rax, <rt_fail>
             43: call rax
             45: jmp 0x3d
             50: xor eax, eax
             52: leave
             53: ret
             54: mov eax, 2
             59: leave
             60: ret
             61: leave
             62: ret
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
             19: jb 0x7c
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movsd xmm14, [rbp + 0x10]
             52: movsd [rbp - 0x18], xmm14
             61: movsd xmm14, [rbp + 0x18]
             70: movsd [rbp - 0x20], xmm14
             79: movsd xmm14, [rbp - 0x18]
             88: subsd xmm14, [rbp - 0x20]
             97: movsd [rbp - 0x18], xmm14
            106: mulsd xmm1, [rbp - 0x18]
            115: addsd xmm0, xmm1
            120: xor eax, eax
            122: leave
            123: ret
            124: mov eax, 2
            129: leave
            130: ret
            131: leave
            132: ret
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
             19: jb 0x111
             25: movsd xmm0, [rbp + 0x10]
             34: movsd xmm1, [rbp + 0x18]
             43: movsd xmm14, [rbp + 0x10]
             52: movsd [rbp - 0x18], xmm14
             61: movsd xmm14, [rbp + 0x18]
             70: movsd [rbp - 0x20], xmm14
             79: movsd [rbp - 8], xmm0
             88: movsd [rbp - 0x10], xmm1
             97: movsd xmm0, [rbp - 0x20]
            106: mov rax, <sin>
            116: call rax
            118: movsd [rbp - 0x20], xmm0
            127: movsd xmm0, [rbp - 8]
            136: movsd xmm1, [rbp - 0x10]
            145: movsd xmm14, [rbp - 0x18]
            154: cmpltsd xmm14, [rbp - 0x20]
            164: mov rax, 0x3ff0000000000000
            174: movq xmm15, rax
            179: andpd xmm14, xmm15
            184: movsd [rbp - 0x18], xmm14
            193: movapd xmm14, xmm1
            198: cmpltsd xmm14, [rbp - 0x18]
            208: mov rax, 0x3ff0000000000000
            218: movq xmm15, rax
            223: andpd xmm14, xmm15
            228: movapd xmm1, xmm14
            233: movapd xmm14, xmm0
            238: cmpltsd xmm14, xmm1
            244: mov rax, 0x3ff0000000000000
            254: movq xmm15, rax
            259: andpd xmm14, xmm15
            264: movapd xmm0, xmm14
            269: xor eax, eax
            271: leave
            272: ret
            273: mov eax, 2
            278: leave
            279: ret
            280: leave
            281: ret
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
