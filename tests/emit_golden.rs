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
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x36
              21: sub r13, 1
              25: jb 0x36
              31: movsd xmm0, [0x50]
              40: add r13, 1
              44: xor eax, eax
              46: add rsp, 0x18
              53: ret
              54: mov eax, 2
              59: add rsp, 0x18
              66: ret
              67: add rsp, 0x18
              74: ret
              75: int3
              76: int3
              77: int3
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
              7: cmp rsp, [r12]
              15: jb 0x32
              21: sub r13, 1
              25: jb 0x32
              31: xorpd xmm0, xmm0
              36: add r13, 1
              40: xor eax, eax
              42: add rsp, 0x18
              49: ret
              50: mov eax, 2
              55: add rsp, 0x18
              62: ret
              63: add rsp, 0x18
              70: ret
        ",
    },
    Case {
        name: "parameter",
        params: &["x", "y"],
        body: "y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x37
              21: sub r13, 1
              25: jb 0x37
              31: movsd xmm0, [rsp + 0x28]
              41: add r13, 1
              45: xor eax, eax
              47: add rsp, 0x18
              54: ret
              55: mov eax, 2
              60: add rsp, 0x18
              67: ret
              68: add rsp, 0x18
              75: ret
        ",
    },
    Case {
        name: "add",
        params: &["x", "y"],
        body: "x + y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x41
              21: sub r13, 1
              25: jb 0x41
              31: movsd xmm0, [rsp + 0x20]
              41: addsd xmm0, [rsp + 0x28]
              51: add r13, 1
              55: xor eax, eax
              57: add rsp, 0x18
              64: ret
              65: mov eax, 2
              70: add rsp, 0x18
              77: ret
              78: add rsp, 0x18
              85: ret
        ",
    },
    Case {
        name: "sub mul div",
        params: &["x", "y"],
        body: "(x - y) * (x / y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: cmp rsp, [r12]
              15: jb 0x5a
              21: sub r13, 1
              25: jb 0x5a
              31: movsd xmm0, [rsp + 0x30]
              41: subsd xmm0, [rsp + 0x38]
              51: movsd xmm1, [rsp + 0x30]
              61: divsd xmm1, [rsp + 0x38]
              71: mulsd xmm0, xmm1
              76: add r13, 1
              80: xor eax, eax
              82: add rsp, 0x28
              89: ret
              90: mov eax, 2
              95: add rsp, 0x28
              102: ret
              103: add rsp, 0x28
              110: ret
        ",
    },
    Case {
        name: "negation flips the sign bit",
        params: &["x"],
        body: "-x",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x45
              21: sub r13, 1
              25: jb 0x45
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm15, [0x60]
              50: xorpd xmm0, xmm15
              55: add r13, 1
              59: xor eax, eax
              61: add rsp, 0x18
              68: ret
              69: mov eax, 2
              74: add rsp, 0x18
              81: ret
              82: add rsp, 0x18
              89: ret
              90: int3
              91: int3
              92: int3
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
              7: cmp rsp, [r12]
              15: jb 0x4c
              21: sub r13, 1
              25: jb 0x4c
              31: movsd xmm0, [rsp + 0x20]
              41: xorpd xmm15, xmm15
              46: ucomisd xmm15, xmm0
              51: sete al
              54: movzx eax, al
              57: cvtsi2sd xmm0, eax
              62: add r13, 1
              66: xor eax, eax
              68: add rsp, 0x18
              75: ret
              76: mov eax, 2
              81: add rsp, 0x18
              88: ret
              89: add rsp, 0x18
              96: ret
        ",
    },
    Case {
        name: "less than as a value",
        params: &["x", "y"],
        body: "x < y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x5f
              21: sub r13, 1
              25: jb 0x5f
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movapd xmm14, xmm0
              56: cmpltsd xmm14, xmm1
              62: movsd xmm15, [0x78]
              71: andpd xmm14, xmm15
              76: movapd xmm0, xmm14
              81: add r13, 1
              85: xor eax, eax
              87: add rsp, 0x18
              94: ret
              95: mov eax, 2
              100: add rsp, 0x18
              107: ret
              108: add rsp, 0x18
              115: ret
              116: int3
              117: int3
              118: int3
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
              7: cmp rsp, [r12]
              15: jb 0x5f
              21: sub r13, 1
              25: jb 0x5f
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movapd xmm14, xmm1
              56: cmplesd xmm14, xmm0
              62: movsd xmm15, [0x78]
              71: andpd xmm14, xmm15
              76: movapd xmm0, xmm14
              81: add r13, 1
              85: xor eax, eax
              87: add rsp, 0x18
              94: ret
              95: mov eax, 2
              100: add rsp, 0x18
              107: ret
              108: add rsp, 0x18
              115: ret
              116: int3
              117: int3
              118: int3
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
              7: cmp rsp, [r12]
              15: jb 0x5f
              21: sub r13, 1
              25: jb 0x5f
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movapd xmm14, xmm0
              56: cmpeqsd xmm14, xmm1
              62: movsd xmm15, [0x78]
              71: andpd xmm14, xmm15
              76: movapd xmm0, xmm14
              81: add r13, 1
              85: xor eax, eax
              87: add rsp, 0x18
              94: ret
              95: mov eax, 2
              100: add rsp, 0x18
              107: ret
              108: add rsp, 0x18
              115: ret
              116: int3
              117: int3
              118: int3
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
              7: cmp rsp, [r12]
              15: jb 0x60
              21: sub r13, 1
              25: jb 0x60
              31: movsd xmm0, [rsp + 0x28]
              41: ucomisd xmm0, [rsp + 0x20]
              51: jbe 0x48
              57: movsd xmm0, [rsp + 0x20]
              67: jmp 0x52
              72: movsd xmm0, [rsp + 0x28]
              82: add r13, 1
              86: xor eax, eax
              88: add rsp, 0x18
              95: ret
              96: mov eax, 2
              101: add rsp, 0x18
              108: ret
              109: add rsp, 0x18
              116: ret
        ",
    },
    Case {
        name: "conditional on a value",
        params: &["x", "y"],
        body: "x ? y : 1",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x5f
              21: sub r13, 1
              25: jb 0x5f
              31: movsd xmm0, [rsp + 0x20]
              41: xorpd xmm15, xmm15
              46: ucomisd xmm15, xmm0
              51: je 0x48
              57: movsd xmm0, [rsp + 0x28]
              67: jmp 0x51
              72: movsd xmm0, [0x78]
              81: add r13, 1
              85: xor eax, eax
              87: add rsp, 0x18
              94: ret
              95: mov eax, 2
              100: add rsp, 0x18
              107: ret
              108: add rsp, 0x18
              115: ret
              116: int3
              117: int3
              118: int3
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
              7: cmp rsp, [r12]
              15: jb 0x65
              21: sub r13, 1
              25: jb 0x65
              31: movsd xmm0, [rsp + 0x20]
              41: ucomisd xmm0, [rsp + 0x28]
              51: jp 0x4d
              57: jne 0x4d
              63: movsd xmm0, [0x80]
              72: jmp 0x57
              77: movsd xmm0, [rsp + 0x28]
              87: add r13, 1
              91: xor eax, eax
              93: add rsp, 0x18
              100: ret
              101: mov eax, 2
              106: add rsp, 0x18
              113: ret
              114: add rsp, 0x18
              121: ret
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
        name: "conditional on inequality",
        params: &["x", "y"],
        body: "x != y ? x : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x66
              21: sub r13, 1
              25: jb 0x66
              31: movsd xmm0, [rsp + 0x20]
              41: ucomisd xmm0, [rsp + 0x28]
              51: jp 0x3f
              57: je 0x4e
              63: movsd xmm0, [rsp + 0x20]
              73: jmp 0x58
              78: movsd xmm0, [rsp + 0x28]
              88: add r13, 1
              92: xor eax, eax
              94: add rsp, 0x18
              101: ret
              102: mov eax, 2
              107: add rsp, 0x18
              114: ret
              115: add rsp, 0x18
              122: ret
        ",
    },
    Case {
        name: "or of equality and order",
        params: &["x", "y"],
        body: "x == y || x > y ? 1 : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x7f
              21: sub r13, 1
              25: jb 0x7f
              31: movsd xmm0, [rsp + 0x20]
              41: ucomisd xmm0, [rsp + 0x28]
              51: jp 0x3f
              57: je 0x59
              63: movsd xmm0, [rsp + 0x20]
              73: ucomisd xmm0, [rsp + 0x28]
              83: jbe 0x67
              89: movsd xmm0, [0x98]
              98: jmp 0x71
              103: movsd xmm0, [rsp + 0x28]
              113: add r13, 1
              117: xor eax, eax
              119: add rsp, 0x18
              126: ret
              127: mov eax, 2
              132: add rsp, 0x18
              139: ret
              140: add rsp, 0x18
              147: ret
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
              7: cmp rsp, [r12]
              15: jb 0x74
              21: sub r13, 1
              25: jb 0x74
              31: movsd xmm0, [rsp + 0x20]
              41: xorpd xmm15, xmm15
              46: ucomisd xmm15, xmm0
              51: je 0x61
              57: movsd xmm0, [rsp + 0x28]
              67: xorpd xmm15, xmm15
              72: ucomisd xmm15, xmm0
              77: je 0x61
              83: movsd xmm0, [0x90]
              92: jmp 0x66
              97: xorpd xmm0, xmm0
              102: add r13, 1
              106: xor eax, eax
              108: add rsp, 0x18
              115: ret
              116: mov eax, 2
              121: add rsp, 0x18
              128: ret
              129: add rsp, 0x18
              136: ret
              137: int3
              138: int3
              139: int3
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
              7: cmp rsp, [r12]
              15: jb 0x74
              21: sub r13, 1
              25: jb 0x74
              31: movsd xmm0, [rsp + 0x20]
              41: xorpd xmm15, xmm15
              46: ucomisd xmm15, xmm0
              51: jne 0x53
              57: movsd xmm0, [rsp + 0x28]
              67: xorpd xmm15, xmm15
              72: ucomisd xmm15, xmm0
              77: je 0x61
              83: movsd xmm0, [0x90]
              92: jmp 0x66
              97: xorpd xmm0, xmm0
              102: add r13, 1
              106: xor eax, eax
              108: add rsp, 0x18
              115: ret
              116: mov eax, 2
              121: add rsp, 0x18
              128: ret
              129: add rsp, 0x18
              136: ret
              137: int3
              138: int3
              139: int3
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
              7: cmp rsp, [r12]
              15: jb 0x79
              21: sub r13, 1
              25: jb 0x79
              31: movsd xmm0, [rsp + 0x20]
              41: ucomisd xmm0, [0x90]
              50: jbe 0x61
              56: movsd xmm0, [rsp + 0x20]
              66: ucomisd xmm0, [rsp + 0x28]
              76: jb 0x61
              82: movsd xmm0, [rsp + 0x20]
              92: jmp 0x6b
              97: movsd xmm0, [rsp + 0x28]
              107: add r13, 1
              111: xor eax, eax
              113: add rsp, 0x18
              120: ret
              121: mov eax, 2
              126: add rsp, 0x18
              133: ret
              134: add rsp, 0x18
              141: ret
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
              7: cmp rsp, [r12]
              15: jb 0x43
              21: sub r13, 1
              25: jb 0x43
              31: movsd xmm0, [rsp + 0x20]
              41: mov rax, <sin>
              51: call rax
              53: add r13, 1
              57: xor eax, eax
              59: add rsp, 0x18
              66: ret
              67: mov eax, 2
              72: add rsp, 0x18
              79: ret
              80: add rsp, 0x18
              87: ret
        ",
    },
    Case {
        name: "builtin call with a live register",
        params: &["x", "y"],
        body: "x < sin(y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x89
              21: sub r13, 1
              25: jb 0x89
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movsd [rsp], xmm0
              61: movapd xmm0, xmm1
              66: mov rax, <sin>
              76: call rax
              78: movapd xmm1, xmm0
              83: movsd xmm0, [rsp]
              93: movapd xmm14, xmm0
              98: cmpltsd xmm14, xmm1
              104: movsd xmm15, [0xa0]
              113: andpd xmm14, xmm15
              118: movapd xmm0, xmm14
              123: add r13, 1
              127: xor eax, eax
              129: add rsp, 0x18
              136: ret
              137: mov eax, 2
              142: add rsp, 0x18
              149: ret
              150: add rsp, 0x18
              157: ret
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
              7: cmp rsp, [r12]
              15: jb 0x7c
              21: sub r13, 1
              25: jb 0x7c
              31: movsd xmm0, [rsp + 0x20]
              41: mov rax, <sin>
              51: call rax
              53: movsd xmm1, [rsp + 0x28]
              63: movsd [rsp], xmm0
              73: movapd xmm0, xmm1
              78: mov rax, <cos>
              88: call rax
              90: movapd xmm1, xmm0
              95: movsd xmm0, [rsp]
              105: addsd xmm0, xmm1
              110: add r13, 1
              114: xor eax, eax
              116: add rsp, 0x18
              123: ret
              124: mov eax, 2
              129: add rsp, 0x18
              136: ret
              137: add rsp, 0x18
              144: ret
        ",
    },
    Case {
        name: "two-argument builtin",
        params: &["x", "y"],
        body: "atan2(x, y)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x4d
              21: sub r13, 1
              25: jb 0x4d
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: mov rax, <atan2>
              61: call rax
              63: add r13, 1
              67: xor eax, eax
              69: add rsp, 0x18
              76: ret
              77: mov eax, 2
              82: add rsp, 0x18
              89: ret
              90: add rsp, 0x18
              97: ret
        ",
    },
    Case {
        name: "remainder and power",
        params: &["x", "y"],
        body: "x % y ^ 2",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: cmp rsp, [r12]
              15: jb 0x70
              21: sub r13, 1
              25: jb 0x70
              31: movsd xmm0, [rsp + 0x38]
              41: movsd xmm1, [0x88]
              50: mov rax, <^>
              60: call rax
              62: movsd xmm1, [rsp + 0x30]
              72: movapd xmm14, xmm0
              77: movapd xmm0, xmm1
              81: movapd xmm1, xmm14
              86: mov rax, <%>
              96: call rax
              98: add r13, 1
              102: xor eax, eax
              104: add rsp, 0x28
              111: ret
              112: mov eax, 2
              117: add rsp, 0x28
              124: ret
              125: add rsp, 0x28
              132: ret
              133: int3
              134: int3
              135: int3
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
              7: cmp rsp, [r12]
              15: jb 0x61
              21: sub r13, 1
              25: jb 0x61
              31: movsd xmm0, [rsp + 0x38]
              41: movsd xmm1, [rsp + 0x30]
              51: mov rax, <atan2>
              61: call rax
              63: movsd xmm1, [rsp + 0x30]
              73: mulsd xmm1, xmm0
              78: movapd xmm0, xmm1
              83: add r13, 1
              87: xor eax, eax
              89: add rsp, 0x28
              96: ret
              97: mov eax, 2
              102: add rsp, 0x28
              109: ret
              110: add rsp, 0x28
              117: ret
        ",
    },
    Case {
        name: "global read",
        params: &["x"],
        body: "x + k",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x5e
              21: sub r13, 1
              25: jb 0x5e
              31: mov rdi, r12
              34: mov esi, 0
              39: mov rax, <rt_global>
              49: call rax
              51: test rax, rax
              54: jne 0x6b
              60: movsd xmm1, [rsp + 0x20]
              70: addsd xmm1, xmm0
              75: movapd xmm0, xmm1
              80: add r13, 1
              84: xor eax, eax
              86: add rsp, 0x18
              93: ret
              94: mov eax, 2
              99: add rsp, 0x18
              106: ret
              107: add rsp, 0x18
              114: ret
        ",
    },
    Case {
        name: "user call",
        params: &["x"],
        body: "f(x + 1)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x28
              7: cmp rsp, [r12]
              15: jb 0x57
              21: sub r13, 1
              25: jb 0x57
              31: movsd xmm0, [rsp + 0x30]
              41: addsd xmm0, [0x90]
              50: movsd [rsp], xmm0
              60: call 0x41
              65: test eax, eax
              67: jne 0x6c
              73: add r13, 1
              77: xor eax, eax
              79: add rsp, 0x28
              86: ret
              87: mov eax, 2
              92: add rsp, 0x28
              99: ret
              100: add rsp, 0x28
              107: ret
              108: mov rdi, r12
              111: mov esi, 0
              116: mov edx, eax
              118: mov rax, <rt_call_failed>
              128: call rax
              130: add rsp, 0x28
              137: ret
              138: int3
              139: int3
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
              7: cmp rsp, [r12]
              15: jb 0x8a
              21: sub r13, 1
              25: jb 0x8a
              31: movsd xmm0, [rsp + 0x40]
              41: movsd xmm1, [rsp + 0x48]
              51: movsd [rsp], xmm0
              61: movsd [rsp + 8], xmm1
              71: call 0x4c
              76: test eax, eax
              78: jne 0x9f
              84: movsd xmm1, [rsp + 0x40]
              94: movapd xmm14, xmm0
              99: cmpltsd xmm14, xmm1
              105: movsd xmm15, [0xc0]
              114: andpd xmm14, xmm15
              119: movapd xmm0, xmm14
              124: add r13, 1
              128: xor eax, eax
              130: add rsp, 0x38
              137: ret
              138: mov eax, 2
              143: add rsp, 0x38
              150: ret
              151: add rsp, 0x38
              158: ret
              159: mov rdi, r12
              162: mov esi, 0
              167: mov edx, eax
              169: mov rax, <rt_call_failed>
              179: call rax
              181: add rsp, 0x38
              188: ret
              189: int3
              190: int3
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
              7: cmp rsp, [r12]
              15: jb 0xa8
              21: sub r13, 1
              25: jb 0xa8
              31: movsd xmm0, [rsp + 0x50]
              41: movsd xmm1, [rsp + 0x58]
              51: movsd xmm14, [rsp + 0x50]
              61: movsd [rsp + 0x28], xmm14
              71: movsd xmm14, [rsp + 0x28]
              81: mulsd xmm14, [rsp + 0x58]
              91: movsd [rsp + 0x28], xmm14
              101: movsd [rsp], xmm0
              111: movsd [rsp + 8], xmm1
              121: movsd xmm14, [rsp + 0x28]
              131: movsd [rsp + 0x10], xmm14
              141: call 0x92
              146: test eax, eax
              148: jne 0xbd
              154: add r13, 1
              158: xor eax, eax
              160: add rsp, 0x48
              167: ret
              168: mov eax, 2
              173: add rsp, 0x48
              180: ret
              181: add rsp, 0x48
              188: ret
              189: mov rdi, r12
              192: mov esi, 0
              197: mov edx, eax
              199: mov rax, <rt_call_failed>
              209: call rax
              211: add rsp, 0x48
              218: ret
        ",
    },
    Case {
        name: "error site",
        params: &[],
        body: "sin(1, 2)",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x46
              21: sub r13, 1
              25: jb 0x46
              31: mov rdi, r12
              34: mov esi, 0
              39: mov rax, <rt_fail>
              49: call rax
              51: jmp 0x53
              56: add r13, 1
              60: xor eax, eax
              62: add rsp, 0x18
              69: ret
              70: mov eax, 2
              75: add rsp, 0x18
              82: ret
              83: add rsp, 0x18
              90: ret
        ",
    },
    Case {
        name: "spilled with two registers",
        params: &["x", "y"],
        body: "x + (y * (x - y))",
        nregs: 2,
        expected: "
              0: sub rsp, 0x28
              7: cmp rsp, [r12]
              15: jb 0x82
              21: sub r13, 1
              25: jb 0x82
              31: movsd xmm0, [rsp + 0x30]
              41: movsd xmm1, [rsp + 0x38]
              51: movsd xmm14, [rsp + 0x30]
              61: movsd [rsp + 0x10], xmm14
              71: movsd xmm14, [rsp + 0x10]
              81: subsd xmm14, [rsp + 0x38]
              91: movsd [rsp + 0x10], xmm14
              101: mulsd xmm1, [rsp + 0x10]
              111: addsd xmm0, xmm1
              116: add r13, 1
              120: xor eax, eax
              122: add rsp, 0x28
              129: ret
              130: mov eax, 2
              135: add rsp, 0x28
              142: ret
              143: add rsp, 0x28
              150: ret
        ",
    },
    Case {
        name: "spilled call and comparisons with two registers",
        params: &["x", "y"],
        body: "x < (y < (x < sin(y)))",
        nregs: 2,
        expected: "
              0: sub rsp, 0x28
              7: cmp rsp, [r12]
              15: jb 0x11f
              21: sub r13, 1
              25: jb 0x11f
              31: movsd xmm0, [rsp + 0x30]
              41: movsd xmm1, [rsp + 0x38]
              51: movsd xmm14, [rsp + 0x30]
              61: movsd [rsp + 0x10], xmm14
              71: movsd xmm14, [rsp + 0x38]
              81: movsd [rsp + 0x18], xmm14
              91: movsd [rsp], xmm0
              101: movsd [rsp + 8], xmm1
              111: movsd xmm0, [rsp + 0x18]
              121: mov rax, <sin>
              131: call rax
              133: movsd [rsp + 0x18], xmm0
              143: movsd xmm0, [rsp]
              153: movsd xmm1, [rsp + 8]
              163: movsd xmm14, [rsp + 0x10]
              173: cmpltsd xmm14, [rsp + 0x18]
              184: movsd xmm15, [0x138]
              193: andpd xmm14, xmm15
              198: movsd [rsp + 0x10], xmm14
              208: movapd xmm14, xmm1
              213: cmpltsd xmm14, [rsp + 0x10]
              224: movsd xmm15, [0x138]
              233: andpd xmm14, xmm15
              238: movapd xmm1, xmm14
              243: movapd xmm14, xmm0
              248: cmpltsd xmm14, xmm1
              254: movsd xmm15, [0x138]
              263: andpd xmm14, xmm15
              268: movapd xmm0, xmm14
              273: add r13, 1
              277: xor eax, eax
              279: add rsp, 0x28
              286: ret
              287: mov eax, 2
              292: add rsp, 0x28
              299: ret
              300: add rsp, 0x28
              307: ret
              308: int3
              309: int3
              310: int3
              311: int3
              312: .f64 1
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
