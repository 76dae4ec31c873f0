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
use exprjit::lower::{self, Globals, Link, Node, Sym};
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
        Node::Chain(_, ref links) => match links[..] {
            [(Link::Call(_, f), _)] => f as *const () as usize,
            _ => panic!("{call} lowered to {node}"),
        },
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
    compile_as(params, body, nregs, None)
}

/// [`compile`] for a function bound to `self_sym`, whose calls of that
/// name are its own (and so are inlined).
fn compile_as(params: &[&str], body: &str, nregs: u8, self_sym: Option<Sym>) -> Compiled {
    let node = lower_body(params, body);
    let helpers = Helpers {
        global: GLOBAL,
        fail: FAIL,
        call_failed: CALL_FAILED,
    };
    let mut sites = FakeSites::default();
    let emitted = emit::function(&node, params.len(), &helpers, &mut sites, nregs, self_sym)
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
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x37
              24: sub r13, 1
              28: jb 0x37
              34: movsd xmm0, [0x50]
              43: add rsp, 0x18
              50: add r13, 1
              54: ret
              55: mov eax, 2
              60: add rsp, 0x18
              67: stc
              68: ret
              69: add rsp, 0x18
              76: stc
              77: ret
              78: int3
              79: int3
              80: .f64 2.5
        ",
    },
    Case {
        name: "positive zero is xorpd",
        params: &[],
        body: "0",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x33
              24: sub r13, 1
              28: jb 0x33
              34: xorpd xmm0, xmm0
              39: add rsp, 0x18
              46: add r13, 1
              50: ret
              51: mov eax, 2
              56: add rsp, 0x18
              63: stc
              64: ret
              65: add rsp, 0x18
              72: stc
              73: ret
        ",
    },
    Case {
        name: "parameter",
        params: &["x", "y"],
        body: "y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x38
              24: sub r13, 1
              28: jb 0x38
              34: movsd xmm0, [rsp + 0x28]
              44: add rsp, 0x18
              51: add r13, 1
              55: ret
              56: mov eax, 2
              61: add rsp, 0x18
              68: stc
              69: ret
              70: add rsp, 0x18
              77: stc
              78: ret
        ",
    },
    Case {
        name: "add",
        params: &["x", "y"],
        body: "x + y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x42
              24: sub r13, 1
              28: jb 0x42
              34: movsd xmm0, [rsp + 0x20]
              44: addsd xmm0, [rsp + 0x28]
              54: add rsp, 0x18
              61: add r13, 1
              65: ret
              66: mov eax, 2
              71: add rsp, 0x18
              78: stc
              79: ret
              80: add rsp, 0x18
              87: stc
              88: ret
        ",
    },
    Case {
        name: "sub mul div",
        params: &["x", "y"],
        body: "(x - y) * (x / y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x5b
              24: sub r13, 1
              28: jb 0x5b
              34: movsd xmm13, [rsp + 0x30]
              44: movsd xmm12, [rsp + 0x38]
              54: movapd xmm0, xmm13
              59: subsd xmm0, xmm12
              64: movapd xmm1, xmm13
              69: divsd xmm1, xmm12
              74: mulsd xmm0, xmm1
              79: add rsp, 0x28
              86: add r13, 1
              90: ret
              91: mov eax, 2
              96: add rsp, 0x28
              103: stc
              104: ret
              105: add rsp, 0x28
              112: stc
              113: ret
        ",
    },
    Case {
        name: "negation flips the sign bit",
        params: &["x"],
        body: "-x",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x46
              24: sub r13, 1
              28: jb 0x46
              34: movsd xmm0, [rsp + 0x20]
              44: movsd xmm15, [0x60]
              53: xorpd xmm0, xmm15
              58: add rsp, 0x18
              65: add r13, 1
              69: ret
              70: mov eax, 2
              75: add rsp, 0x18
              82: stc
              83: ret
              84: add rsp, 0x18
              91: stc
              92: ret
              93: int3
              94: int3
              95: int3
              96: .f64 -0
        ",
    },
    Case {
        name: "not",
        params: &["x"],
        body: "!x",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x4d
              24: sub r13, 1
              28: jb 0x4d
              34: movsd xmm0, [rsp + 0x20]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: sete al
              57: movzx eax, al
              60: cvtsi2sd xmm0, eax
              65: add rsp, 0x18
              72: add r13, 1
              76: ret
              77: mov eax, 2
              82: add rsp, 0x18
              89: stc
              90: ret
              91: add rsp, 0x18
              98: stc
              99: ret
        ",
    },
    Case {
        name: "less than as a value",
        params: &["x", "y"],
        body: "x < y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x60
              24: sub r13, 1
              28: jb 0x60
              34: movsd xmm0, [rsp + 0x20]
              44: movsd xmm1, [rsp + 0x28]
              54: movapd xmm14, xmm0
              59: cmpltsd xmm14, xmm1
              65: movsd xmm15, [0x78]
              74: andpd xmm14, xmm15
              79: movapd xmm0, xmm14
              84: add rsp, 0x18
              91: add r13, 1
              95: ret
              96: mov eax, 2
              101: add rsp, 0x18
              108: stc
              109: ret
              110: add rsp, 0x18
              117: stc
              118: ret
              119: int3
              120: .f64 1
        ",
    },
    Case {
        name: "greater or equal as a value",
        params: &["x", "y"],
        body: "x >= y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x60
              24: sub r13, 1
              28: jb 0x60
              34: movsd xmm0, [rsp + 0x20]
              44: movsd xmm1, [rsp + 0x28]
              54: movapd xmm14, xmm1
              59: cmplesd xmm14, xmm0
              65: movsd xmm15, [0x78]
              74: andpd xmm14, xmm15
              79: movapd xmm0, xmm14
              84: add rsp, 0x18
              91: add r13, 1
              95: ret
              96: mov eax, 2
              101: add rsp, 0x18
              108: stc
              109: ret
              110: add rsp, 0x18
              117: stc
              118: ret
              119: int3
              120: .f64 1
        ",
    },
    Case {
        name: "equal as a value",
        params: &["x", "y"],
        body: "x == y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x60
              24: sub r13, 1
              28: jb 0x60
              34: movsd xmm0, [rsp + 0x20]
              44: movsd xmm1, [rsp + 0x28]
              54: movapd xmm14, xmm0
              59: cmpeqsd xmm14, xmm1
              65: movsd xmm15, [0x78]
              74: andpd xmm14, xmm15
              79: movapd xmm0, xmm14
              84: add rsp, 0x18
              91: add r13, 1
              95: ret
              96: mov eax, 2
              101: add rsp, 0x18
              108: stc
              109: ret
              110: add rsp, 0x18
              117: stc
              118: ret
              119: int3
              120: .f64 1
        ",
    },
    Case {
        name: "conditional with fused compare",
        params: &["x", "y"],
        body: "x < y ? x : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x61
              24: sub r13, 1
              28: jb 0x61
              34: movsd xmm13, [rsp + 0x20]
              44: movsd xmm12, [rsp + 0x28]
              54: movapd xmm0, xmm12
              59: ucomisd xmm0, xmm13
              64: jbe 0x50
              70: movapd xmm0, xmm13
              75: jmp 0x55
              80: movapd xmm0, xmm12
              85: add rsp, 0x18
              92: add r13, 1
              96: ret
              97: mov eax, 2
              102: add rsp, 0x18
              109: stc
              110: ret
              111: add rsp, 0x18
              118: stc
              119: ret
        ",
    },
    Case {
        name: "conditional on a value",
        params: &["x", "y"],
        body: "x ? y : 1",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x60
              24: sub r13, 1
              28: jb 0x60
              34: movsd xmm0, [rsp + 0x20]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: je 0x4b
              60: movsd xmm0, [rsp + 0x28]
              70: jmp 0x54
              75: movsd xmm0, [0x78]
              84: add rsp, 0x18
              91: add r13, 1
              95: ret
              96: mov eax, 2
              101: add rsp, 0x18
              108: stc
              109: ret
              110: add rsp, 0x18
              117: stc
              118: ret
              119: int3
              120: .f64 1
        ",
    },
    Case {
        name: "conditional on equality",
        params: &["x", "y"],
        body: "x == y ? 1 : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x66
              24: sub r13, 1
              28: jb 0x66
              34: movsd xmm13, [rsp + 0x28]
              44: movsd xmm0, [rsp + 0x20]
              54: ucomisd xmm0, xmm13
              59: jp 0x55
              65: jne 0x55
              71: movsd xmm0, [0x80]
              80: jmp 0x5a
              85: movapd xmm0, xmm13
              90: add rsp, 0x18
              97: add r13, 1
              101: ret
              102: mov eax, 2
              107: add rsp, 0x18
              114: stc
              115: ret
              116: add rsp, 0x18
              123: stc
              124: ret
              125: int3
              126: int3
              127: int3
              128: .f64 1
        ",
    },
    Case {
        name: "conditional on inequality",
        params: &["x", "y"],
        body: "x != y ? x : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x67
              24: sub r13, 1
              28: jb 0x67
              34: movsd xmm13, [rsp + 0x20]
              44: movsd xmm12, [rsp + 0x28]
              54: movapd xmm0, xmm13
              59: ucomisd xmm0, xmm12
              64: jp 0x4c
              70: je 0x56
              76: movapd xmm0, xmm13
              81: jmp 0x5b
              86: movapd xmm0, xmm12
              91: add rsp, 0x18
              98: add r13, 1
              102: ret
              103: mov eax, 2
              108: add rsp, 0x18
              115: stc
              116: ret
              117: add rsp, 0x18
              124: stc
              125: ret
        ",
    },
    Case {
        name: "or of equality and order",
        params: &["x", "y"],
        body: "x == y || x > y ? 1 : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x7b
              24: sub r13, 1
              28: jb 0x7b
              34: movsd xmm13, [rsp + 0x20]
              44: movsd xmm12, [rsp + 0x28]
              54: movapd xmm0, xmm13
              59: ucomisd xmm0, xmm12
              64: jp 0x4c
              70: je 0x5c
              76: movapd xmm0, xmm13
              81: ucomisd xmm0, xmm12
              86: jbe 0x6a
              92: movsd xmm0, [0x98]
              101: jmp 0x6f
              106: movapd xmm0, xmm12
              111: add rsp, 0x18
              118: add r13, 1
              122: ret
              123: mov eax, 2
              128: add rsp, 0x18
              135: stc
              136: ret
              137: add rsp, 0x18
              144: stc
              145: ret
              146: int3
              147: int3
              148: int3
              149: int3
              150: int3
              151: int3
              152: .f64 1
        ",
    },
    Case {
        name: "and",
        params: &["x", "y"],
        body: "x && y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x75
              24: sub r13, 1
              28: jb 0x75
              34: movsd xmm0, [rsp + 0x20]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: je 0x64
              60: movsd xmm0, [rsp + 0x28]
              70: xorpd xmm15, xmm15
              75: ucomisd xmm15, xmm0
              80: je 0x64
              86: movsd xmm0, [0x90]
              95: jmp 0x69
              100: xorpd xmm0, xmm0
              105: add rsp, 0x18
              112: add r13, 1
              116: ret
              117: mov eax, 2
              122: add rsp, 0x18
              129: stc
              130: ret
              131: add rsp, 0x18
              138: stc
              139: ret
              140: int3
              141: int3
              142: int3
              143: int3
              144: .f64 1
        ",
    },
    Case {
        name: "or",
        params: &["x", "y"],
        body: "x || y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x75
              24: sub r13, 1
              28: jb 0x75
              34: movsd xmm0, [rsp + 0x20]
              44: xorpd xmm15, xmm15
              49: ucomisd xmm15, xmm0
              54: jne 0x56
              60: movsd xmm0, [rsp + 0x28]
              70: xorpd xmm15, xmm15
              75: ucomisd xmm15, xmm0
              80: je 0x64
              86: movsd xmm0, [0x90]
              95: jmp 0x69
              100: xorpd xmm0, xmm0
              105: add rsp, 0x18
              112: add r13, 1
              116: ret
              117: mov eax, 2
              122: add rsp, 0x18
              129: stc
              130: ret
              131: add rsp, 0x18
              138: stc
              139: ret
              140: int3
              141: int3
              142: int3
              143: int3
              144: .f64 1
        ",
    },
    Case {
        name: "and of comparisons in a conditional",
        params: &["x", "y"],
        body: "x > 0 && y <= x ? x : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x75
              24: sub r13, 1
              28: jb 0x75
              34: movsd xmm13, [rsp + 0x20]
              44: movsd xmm12, [rsp + 0x28]
              54: movapd xmm0, xmm13
              59: ucomisd xmm0, [0x90]
              68: jbe 0x64
              74: movapd xmm0, xmm13
              79: ucomisd xmm0, xmm12
              84: jb 0x64
              90: movapd xmm0, xmm13
              95: jmp 0x69
              100: movapd xmm0, xmm12
              105: add rsp, 0x18
              112: add r13, 1
              116: ret
              117: mov eax, 2
              122: add rsp, 0x18
              129: stc
              130: ret
              131: add rsp, 0x18
              138: stc
              139: ret
              140: int3
              141: int3
              142: int3
              143: int3
              144: .f64 0
        ",
    },
    Case {
        name: "builtin call",
        params: &["x"],
        body: "sin(x)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x44
              24: sub r13, 1
              28: jb 0x44
              34: movsd xmm0, [rsp + 0x20]
              44: mov rax, <sin>
              54: call rax
              56: add rsp, 0x18
              63: add r13, 1
              67: ret
              68: mov eax, 2
              73: add rsp, 0x18
              80: stc
              81: ret
              82: add rsp, 0x18
              89: stc
              90: ret
        ",
    },
    Case {
        name: "builtin call with a live register",
        params: &["x", "y"],
        body: "x < sin(y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x85
              24: sub r13, 1
              28: jb 0x85
              34: movsd xmm0, [rsp + 0x20]
              44: movsd [rsp], xmm0
              54: movsd xmm1, [rsp + 0x28]
              64: movapd xmm0, xmm1
              69: mov rax, <sin>
              79: call rax
              81: movapd xmm1, xmm0
              86: movsd xmm14, [rsp]
              96: cmpltsd xmm14, xmm1
              102: movsd xmm15, [0xa0]
              111: andpd xmm14, xmm15
              116: movapd xmm0, xmm14
              121: add rsp, 0x18
              128: add r13, 1
              132: ret
              133: mov eax, 2
              138: add rsp, 0x18
              145: stc
              146: ret
              147: add rsp, 0x18
              154: stc
              155: ret
              156: int3
              157: int3
              158: int3
              159: int3
              160: .f64 1
        ",
    },
    Case {
        name: "two builtin calls",
        params: &["x", "y"],
        body: "sin(x) + cos(y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x7d
              24: sub r13, 1
              28: jb 0x7d
              34: movsd xmm0, [rsp + 0x20]
              44: mov rax, <sin>
              54: call rax
              56: movsd [rsp], xmm0
              66: movsd xmm1, [rsp + 0x28]
              76: movapd xmm0, xmm1
              81: mov rax, <cos>
              91: call rax
              93: movapd xmm1, xmm0
              98: movsd xmm0, [rsp]
              108: addsd xmm0, xmm1
              113: add rsp, 0x18
              120: add r13, 1
              124: ret
              125: mov eax, 2
              130: add rsp, 0x18
              137: stc
              138: ret
              139: add rsp, 0x18
              146: stc
              147: ret
        ",
    },
    Case {
        name: "two-argument builtin",
        params: &["x", "y"],
        body: "atan2(x, y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x4e
              24: sub r13, 1
              28: jb 0x4e
              34: movsd xmm0, [rsp + 0x20]
              44: movsd xmm1, [rsp + 0x28]
              54: mov rax, <atan2>
              64: call rax
              66: add rsp, 0x18
              73: add r13, 1
              77: ret
              78: mov eax, 2
              83: add rsp, 0x18
              90: stc
              91: ret
              92: add rsp, 0x18
              99: stc
              100: ret
        ",
    },
    Case {
        name: "remainder and power",
        params: &["x", "y"],
        body: "x % y ^ 2",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x71
              24: sub r13, 1
              28: jb 0x71
              34: movsd xmm0, [rsp + 0x38]
              44: movsd xmm1, [0x88]
              53: mov rax, <^>
              63: call rax
              65: movsd xmm1, [rsp + 0x30]
              75: movapd xmm14, xmm0
              80: movapd xmm0, xmm1
              84: movapd xmm1, xmm14
              89: mov rax, <%>
              99: call rax
              101: add rsp, 0x28
              108: add r13, 1
              112: ret
              113: mov eax, 2
              118: add rsp, 0x28
              125: stc
              126: ret
              127: add rsp, 0x28
              134: stc
              135: ret
              136: .f64 2
        ",
    },
    Case {
        name: "call-free left operand is computed last",
        params: &["x", "y"],
        body: "x * atan2(y, x)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x62
              24: sub r13, 1
              28: jb 0x62
              34: movsd xmm0, [rsp + 0x38]
              44: movsd xmm1, [rsp + 0x30]
              54: mov rax, <atan2>
              64: call rax
              66: movsd xmm1, [rsp + 0x30]
              76: mulsd xmm1, xmm0
              81: movapd xmm0, xmm1
              86: add rsp, 0x28
              93: add r13, 1
              97: ret
              98: mov eax, 2
              103: add rsp, 0x28
              110: stc
              111: ret
              112: add rsp, 0x28
              119: stc
              120: ret
        ",
    },
    Case {
        name: "a chain's first calling operand runs before the call-free part in front of it",
        params: &["x", "y"],
        body: "x * 2 - y + sin(x) % y - x",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x8b
              24: sub r13, 1
              28: jb 0x8b
              34: movsd xmm0, [rsp + 0x30]
              44: mov rax, <sin>
              54: call rax
              56: movsd xmm1, [rsp + 0x38]
              66: mov rax, <%>
              76: call rax
              78: movsd xmm1, [rsp + 0x30]
              88: mulsd xmm1, [0xa8]
              97: subsd xmm1, [rsp + 0x38]
              107: addsd xmm1, xmm0
              112: movapd xmm0, xmm1
              117: subsd xmm0, [rsp + 0x30]
              127: add rsp, 0x28
              134: add r13, 1
              138: ret
              139: mov eax, 2
              144: add rsp, 0x28
              151: stc
              152: ret
              153: add rsp, 0x28
              160: stc
              161: ret
              162: int3
              163: int3
              164: int3
              165: int3
              166: int3
              167: int3
              168: .f64 2
        ",
    },
    Case {
        name: "a % in a chain is a call: the operand after it keeps its place",
        params: &["x", "y"],
        body: "2 % x * sin(y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x86
              24: sub r13, 1
              28: jb 0x86
              34: movsd xmm0, [0xa0]
              43: movsd xmm1, [rsp + 0x30]
              53: mov rax, <%>
              63: call rax
              65: movsd [rsp], xmm0
              75: movsd xmm1, [rsp + 0x38]
              85: movapd xmm0, xmm1
              90: mov rax, <sin>
              100: call rax
              102: movapd xmm1, xmm0
              107: movsd xmm0, [rsp]
              117: mulsd xmm0, xmm1
              122: add rsp, 0x28
              129: add r13, 1
              133: ret
              134: mov eax, 2
              139: add rsp, 0x28
              146: stc
              147: ret
              148: add rsp, 0x28
              155: stc
              156: ret
              157: int3
              158: int3
              159: int3
              160: .f64 2
        ",
    },
    Case {
        name: "a chain of three ands as a value",
        params: &["x", "y"],
        body: "x && y < 2 && x != y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x94
              24: sub r13, 1
              28: jb 0x94
              34: movsd xmm13, [rsp + 0x20]
              44: movsd xmm12, [rsp + 0x28]
              54: movapd xmm0, xmm13
              59: xorpd xmm15, xmm15
              64: ucomisd xmm15, xmm0
              69: je 0x83
              75: movsd xmm0, [0xb0]
              84: ucomisd xmm0, xmm12
              89: jbe 0x83
              95: movapd xmm0, xmm13
              100: ucomisd xmm0, xmm12
              105: jp 0x75
              111: je 0x83
              117: movsd xmm0, [0xb8]
              126: jmp 0x88
              131: xorpd xmm0, xmm0
              136: add rsp, 0x18
              143: add r13, 1
              147: ret
              148: mov eax, 2
              153: add rsp, 0x18
              160: stc
              161: ret
              162: add rsp, 0x18
              169: stc
              170: ret
              171: int3
              172: int3
              173: int3
              174: int3
              175: int3
              176: .f64 2
              184: .f64 1
        ",
    },
    Case {
        name: "global read",
        params: &["x"],
        body: "x + k",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x5f
              24: sub r13, 1
              28: jb 0x5f
              34: mov rdi, r12
              37: mov esi, 0
              42: mov rax, <rt_global>
              52: call rax
              54: test rax, rax
              57: jne 0x6d
              63: movsd xmm1, [rsp + 0x20]
              73: addsd xmm1, xmm0
              78: movapd xmm0, xmm1
              83: add rsp, 0x18
              90: add r13, 1
              94: ret
              95: mov eax, 2
              100: add rsp, 0x18
              107: stc
              108: ret
              109: add rsp, 0x18
              116: stc
              117: ret
        ",
    },
    Case {
        name: "user call",
        params: &["x"],
        body: "f(x + 1)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x56
              24: sub r13, 1
              28: jb 0x56
              34: movsd xmm0, [rsp + 0x30]
              44: addsd xmm0, [0x90]
              53: movsd [rsp], xmm0
              63: call 0x44
              68: jb 0x6d
              74: add rsp, 0x28
              81: add r13, 1
              85: ret
              86: mov eax, 2
              91: add rsp, 0x28
              98: stc
              99: ret
              100: add rsp, 0x28
              107: stc
              108: ret
              109: mov rdi, r12
              112: mov esi, 0
              117: mov edx, eax
              119: mov rax, <rt_call_failed>
              129: call rax
              131: add rsp, 0x28
              138: stc
              139: ret
              140: int3
              141: int3
              142: int3
              143: int3
              144: .f64 1
        ",
    },
    Case {
        name: "user call with live value",
        params: &["x", "y"],
        body: "f(x, y) < x",
        nregs: 14,
        expected: "
              0: sub rsp, 0x38
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x89
              24: sub r13, 1
              28: jb 0x89
              34: movsd xmm0, [rsp + 0x40]
              44: movsd xmm1, [rsp + 0x48]
              54: movsd [rsp], xmm0
              64: movsd [rsp + 8], xmm1
              74: call 0x4f
              79: jb 0xa0
              85: movsd xmm1, [rsp + 0x40]
              95: movapd xmm14, xmm0
              100: cmpltsd xmm14, xmm1
              106: movsd xmm15, [0xc0]
              115: andpd xmm14, xmm15
              120: movapd xmm0, xmm14
              125: add rsp, 0x38
              132: add r13, 1
              136: ret
              137: mov eax, 2
              142: add rsp, 0x38
              149: stc
              150: ret
              151: add rsp, 0x38
              158: stc
              159: ret
              160: mov rdi, r12
              163: mov esi, 0
              168: mov edx, eax
              170: mov rax, <rt_call_failed>
              180: call rax
              182: add rsp, 0x38
              189: stc
              190: ret
              191: int3
              192: .f64 1
        ",
    },
    Case {
        name: "user call with spilled arguments",
        params: &["x", "y"],
        body: "f(x, y, x * y)",
        nregs: 2,
        expected: "
              0: sub rsp, 0x48
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0xa7
              24: sub r13, 1
              28: jb 0xa7
              34: movsd xmm0, [rsp + 0x50]
              44: movsd xmm1, [rsp + 0x58]
              54: movsd xmm14, [rsp + 0x50]
              64: movsd [rsp + 0x28], xmm14
              74: movsd xmm14, [rsp + 0x28]
              84: mulsd xmm14, [rsp + 0x58]
              94: movsd [rsp + 0x28], xmm14
              104: movsd [rsp], xmm0
              114: movsd [rsp + 8], xmm1
              124: movsd xmm14, [rsp + 0x28]
              134: movsd [rsp + 0x10], xmm14
              144: call 0x95
              149: jb 0xbe
              155: add rsp, 0x48
              162: add r13, 1
              166: ret
              167: mov eax, 2
              172: add rsp, 0x48
              179: stc
              180: ret
              181: add rsp, 0x48
              188: stc
              189: ret
              190: mov rdi, r12
              193: mov esi, 0
              198: mov edx, eax
              200: mov rax, <rt_call_failed>
              210: call rax
              212: add rsp, 0x48
              219: stc
              220: ret
        ",
    },
    Case {
        name: "error site",
        params: &[],
        body: "sin(1, 2)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x47
              24: sub r13, 1
              28: jb 0x47
              34: mov rdi, r12
              37: mov esi, 0
              42: mov rax, <rt_fail>
              52: call rax
              54: jmp 0x55
              59: add rsp, 0x18
              66: add r13, 1
              70: ret
              71: mov eax, 2
              76: add rsp, 0x18
              83: stc
              84: ret
              85: add rsp, 0x18
              92: stc
              93: ret
        ",
    },
    Case {
        name: "spilled with two registers",
        params: &["x", "y"],
        body: "x + (y * (x - y))",
        nregs: 2,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x83
              24: sub r13, 1
              28: jb 0x83
              34: movsd xmm0, [rsp + 0x30]
              44: movsd xmm1, [rsp + 0x38]
              54: movsd xmm14, [rsp + 0x30]
              64: movsd [rsp + 0x10], xmm14
              74: movsd xmm14, [rsp + 0x10]
              84: subsd xmm14, [rsp + 0x38]
              94: movsd [rsp + 0x10], xmm14
              104: mulsd xmm1, [rsp + 0x10]
              114: addsd xmm0, xmm1
              119: add rsp, 0x28
              126: add r13, 1
              130: ret
              131: mov eax, 2
              136: add rsp, 0x28
              143: stc
              144: ret
              145: add rsp, 0x28
              152: stc
              153: ret
        ",
    },
    Case {
        name: "spilled call and comparisons with two registers",
        params: &["x", "y"],
        body: "x < (y < (x < sin(y)))",
        nregs: 2,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0x116
              24: sub r13, 1
              28: jb 0x116
              34: movsd xmm0, [rsp + 0x30]
              44: movsd [rsp], xmm0
              54: movsd xmm1, [rsp + 0x38]
              64: movsd [rsp + 8], xmm1
              74: movsd xmm14, [rsp + 0x30]
              84: movsd [rsp + 0x10], xmm14
              94: movsd xmm14, [rsp + 0x38]
              104: movsd [rsp + 0x18], xmm14
              114: movsd xmm0, [rsp + 0x18]
              124: mov rax, <sin>
              134: call rax
              136: movsd [rsp + 0x18], xmm0
              146: movsd xmm14, [rsp + 0x10]
              156: cmpltsd xmm14, [rsp + 0x18]
              167: movsd xmm15, [0x130]
              176: andpd xmm14, xmm15
              181: movsd [rsp + 0x10], xmm14
              191: movsd xmm14, [rsp + 8]
              201: cmpltsd xmm14, [rsp + 0x10]
              212: movsd xmm15, [0x130]
              221: andpd xmm14, xmm15
              226: movapd xmm1, xmm14
              231: movsd xmm14, [rsp]
              241: cmpltsd xmm14, xmm1
              247: movsd xmm15, [0x130]
              256: andpd xmm14, xmm15
              261: movapd xmm0, xmm14
              266: add rsp, 0x28
              273: add r13, 1
              277: ret
              278: mov eax, 2
              283: add rsp, 0x28
              290: stc
              291: ret
              292: add rsp, 0x28
              299: stc
              300: ret
              301: int3
              302: int3
              303: int3
              304: .f64 1
        ",
    },
    // Lazy spilling: `sin(x)`, live across the `?:`, goes home once,
    // before the branch (the code after it may call); the arm that calls
    // finds it there and reads it in place afterwards, and where the arms
    // meet it is reloaded, so both paths agree it is in xmm0.
    Case {
        name: "a call in one arm of ?:",
        params: &["x", "y"],
        body: "sin(x) + (y > 0 ? sin(y) : y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0xa5
              24: sub r13, 1
              28: jb 0xa5
              34: movsd xmm0, [rsp + 0x30]
              44: mov rax, <sin>
              54: call rax
              56: movsd [rsp], xmm0
              66: movsd xmm1, [rsp + 0x38]
              76: ucomisd xmm1, [0xc0]
              85: jbe 0x8a
              91: movsd xmm1, [rsp + 0x38]
              101: movapd xmm0, xmm1
              106: mov rax, <sin>
              116: call rax
              118: movapd xmm1, xmm0
              123: movsd xmm0, [rsp]
              133: jmp 0x94
              138: movsd xmm1, [rsp + 0x38]
              148: addsd xmm0, xmm1
              153: add rsp, 0x28
              160: add r13, 1
              164: ret
              165: mov eax, 2
              170: add rsp, 0x28
              177: stc
              178: ret
              179: add rsp, 0x28
              186: stc
              187: ret
              188: int3
              189: int3
              190: int3
              191: int3
              192: .f64 0
        ",
    },
    // After the `?:` the home of `sin(x)` is still good, so the last call
    // stores only the value of the `?:` itself.
    Case {
        name: "spilled once before a branch that calls",
        params: &["x", "y"],
        body: "sin(x) + (y > 0 ? sin(y) : y) * sin(x)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: mov rax, [r12]
              15: cmp rsp, [rax]
              18: jb 0xe8
              24: sub r13, 1
              28: jb 0xe8
              34: movsd xmm0, [rsp + 0x30]
              44: mov rax, <sin>
              54: call rax
              56: movsd [rsp], xmm0
              66: movsd xmm1, [rsp + 0x38]
              76: ucomisd xmm1, [0x100]
              85: jbe 0x8a
              91: movsd xmm1, [rsp + 0x38]
              101: movapd xmm0, xmm1
              106: mov rax, <sin>
              116: call rax
              118: movapd xmm1, xmm0
              123: movsd xmm0, [rsp]
              133: jmp 0x94
              138: movsd xmm1, [rsp + 0x38]
              148: movsd [rsp + 8], xmm1
              158: movsd xmm2, [rsp + 0x30]
              168: movapd xmm0, xmm2
              173: mov rax, <sin>
              183: call rax
              185: movapd xmm2, xmm0
              190: movsd xmm1, [rsp + 8]
              200: mulsd xmm1, xmm2
              205: movsd xmm0, [rsp]
              215: addsd xmm0, xmm1
              220: add rsp, 0x28
              227: add r13, 1
              231: ret
              232: mov eax, 2
              237: add rsp, 0x28
              244: stc
              245: ret
              246: add rsp, 0x28
              253: stc
              254: ret
              255: int3
              256: .f64 0
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

/// A self-recursive function: its own calls are inlined four levels deep.
/// Each inlined call takes one from the budget in `r13` (failing through
/// its own site) and gives it back; the parameter of each inlined copy is
/// its argument, left in the register where it was computed (`xmm0` for
/// the first level, `xmm1` for the second, …); only the fifth level is a
/// real `call`. Before it the four live parameters are spilled once;
/// after the innermost `?:` merges, the three still needed are reloaded
/// (the fourth died with its copy).
#[test]
fn self_recursive_calls_are_inlined() {
    let body = "n < 1 ? 0 : n + f(n - 1)";
    // `f` is the first name the body mentions: Sym(0).
    let got = compile_as(&["n"], body, 14, Some(Sym(0)));
    let lines: Vec<&str> = got.listing.lines().collect();
    let count = |text: &str| lines.iter().filter(|l| l.ends_with(text)).count();
    assert_eq!(got.calls.len(), 1, "{}", got.listing);
    assert_eq!(count(": sub r13, 1"), 5, "{}", got.listing);
    assert_eq!(count(": add r13, 1"), 5, "{}", got.listing);
    // Five sites for the one call of the source: each copy has its own.
    assert_eq!(got.sites.len(), 5, "{}", got.listing);
    let listing = got.listing.lines().take(68).collect::<Vec<_>>().join("\n");
    assert_listing(
        "self-recursion, down to the real call",
        &listing,
        "
          0: sub rsp, 0x68
          7: mov rax, [r12]
          15: cmp rsp, [rax]
          18: jb 0x215
          24: sub r13, 1
          28: jb 0x215
          34: movsd xmm0, [0x2e0]
          43: ucomisd xmm0, [rsp + 0x70]
          53: jbe 0x45
          59: xorpd xmm0, xmm0
          64: jmp 0x209
          69: movsd xmm0, [rsp + 0x70]
          79: subsd xmm0, [0x2e0]
          88: sub r13, 1
          92: jb 0x22c
          98: movsd xmm1, [0x2e0]
          107: ucomisd xmm1, xmm0
          112: jbe 0x80
          118: xorpd xmm1, xmm1
          123: jmp 0x1ec
          128: movapd xmm1, xmm0
          133: subsd xmm1, [0x2e0]
          142: sub r13, 1
          146: jb 0x250
          152: movsd xmm2, [0x2e0]
          161: ucomisd xmm2, xmm1
          166: jbe 0xb6
          172: xorpd xmm2, xmm2
          177: jmp 0x1d4
          182: movapd xmm2, xmm1
          187: subsd xmm2, [0x2e0]
          196: sub r13, 1
          200: jb 0x274
          206: movsd xmm3, [0x2e0]
          215: ucomisd xmm3, xmm2
          220: jbe 0xec
          226: xorpd xmm3, xmm3
          231: jmp 0x1bc
          236: movapd xmm3, xmm2
          241: subsd xmm3, [0x2e0]
          250: sub r13, 1
          254: jb 0x298
          260: movsd xmm4, [0x2e0]
          269: ucomisd xmm4, xmm3
          274: jbe 0x122
          280: xorpd xmm4, xmm4
          285: jmp 0x1a4
          290: movapd xmm4, xmm3
          295: subsd xmm4, [0x2e0]
          304: movsd [rsp + 8], xmm0
          314: movsd [rsp + 0x10], xmm1
          324: movsd [rsp + 0x18], xmm2
          334: movsd [rsp + 0x20], xmm3
          344: movsd [rsp], xmm4
          354: call 0x167
          359: jb 0x2bc
          365: movapd xmm4, xmm0
          370: movsd xmm5, [rsp + 0x20]
          380: addsd xmm5, xmm4
          385: movapd xmm4, xmm5
          390: movsd xmm0, [rsp + 8]
          400: movsd xmm1, [rsp + 0x10]
          410: movsd xmm2, [rsp + 0x18]
          420: movapd xmm3, xmm4
          425: add r13, 1
          429: movapd xmm4, xmm2
          434: addsd xmm4, xmm3
          439: movapd xmm3, xmm4
        ",
    );
    // Not its own name (`self_sym` None): an ordinary call.
    let plain = compile(&["n"], body, 14);
    assert_eq!(plain.sites.len(), 1, "{}", plain.listing);
    assert_eq!(
        plain
            .listing
            .lines()
            .filter(|l| l.ends_with(": sub r13, 1"))
            .count(),
        1
    );
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
