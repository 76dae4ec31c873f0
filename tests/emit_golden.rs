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
              7: cmp rsp, [r12]
              15: jb 0x34
              21: sub r13, 1
              25: jb 0x34
              31: movsd xmm0, [0x50]
              40: add rsp, 0x18
              47: add r13, 1
              51: ret
              52: mov eax, 2
              57: add rsp, 0x18
              64: stc
              65: ret
              66: add rsp, 0x18
              73: stc
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
              15: jb 0x30
              21: sub r13, 1
              25: jb 0x30
              31: xorpd xmm0, xmm0
              36: add rsp, 0x18
              43: add r13, 1
              47: ret
              48: mov eax, 2
              53: add rsp, 0x18
              60: stc
              61: ret
              62: add rsp, 0x18
              69: stc
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
              15: jb 0x35
              21: sub r13, 1
              25: jb 0x35
              31: movsd xmm0, [rsp + 0x28]
              41: add rsp, 0x18
              48: add r13, 1
              52: ret
              53: mov eax, 2
              58: add rsp, 0x18
              65: stc
              66: ret
              67: add rsp, 0x18
              74: stc
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
              15: jb 0x3f
              21: sub r13, 1
              25: jb 0x3f
              31: movsd xmm0, [rsp + 0x20]
              41: addsd xmm0, [rsp + 0x28]
              51: add rsp, 0x18
              58: add r13, 1
              62: ret
              63: mov eax, 2
              68: add rsp, 0x18
              75: stc
              76: ret
              77: add rsp, 0x18
              84: stc
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
              15: jb 0x58
              21: sub r13, 1
              25: jb 0x58
              31: movsd xmm13, [rsp + 0x30]
              41: movsd xmm12, [rsp + 0x38]
              51: movapd xmm0, xmm13
              56: subsd xmm0, xmm12
              61: movapd xmm1, xmm13
              66: divsd xmm1, xmm12
              71: mulsd xmm0, xmm1
              76: add rsp, 0x28
              83: add r13, 1
              87: ret
              88: mov eax, 2
              93: add rsp, 0x28
              100: stc
              101: ret
              102: add rsp, 0x28
              109: stc
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
              15: jb 0x43
              21: sub r13, 1
              25: jb 0x43
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm15, [0x60]
              50: xorpd xmm0, xmm15
              55: add rsp, 0x18
              62: add r13, 1
              66: ret
              67: mov eax, 2
              72: add rsp, 0x18
              79: stc
              80: ret
              81: add rsp, 0x18
              88: stc
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
              15: jb 0x4a
              21: sub r13, 1
              25: jb 0x4a
              31: movsd xmm0, [rsp + 0x20]
              41: xorpd xmm15, xmm15
              46: ucomisd xmm15, xmm0
              51: sete al
              54: movzx eax, al
              57: cvtsi2sd xmm0, eax
              62: add rsp, 0x18
              69: add r13, 1
              73: ret
              74: mov eax, 2
              79: add rsp, 0x18
              86: stc
              87: ret
              88: add rsp, 0x18
              95: stc
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
              15: jb 0x5d
              21: sub r13, 1
              25: jb 0x5d
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movapd xmm14, xmm0
              56: cmpltsd xmm14, xmm1
              62: movsd xmm15, [0x78]
              71: andpd xmm14, xmm15
              76: movapd xmm0, xmm14
              81: add rsp, 0x18
              88: add r13, 1
              92: ret
              93: mov eax, 2
              98: add rsp, 0x18
              105: stc
              106: ret
              107: add rsp, 0x18
              114: stc
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
              15: jb 0x5d
              21: sub r13, 1
              25: jb 0x5d
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movapd xmm14, xmm1
              56: cmplesd xmm14, xmm0
              62: movsd xmm15, [0x78]
              71: andpd xmm14, xmm15
              76: movapd xmm0, xmm14
              81: add rsp, 0x18
              88: add r13, 1
              92: ret
              93: mov eax, 2
              98: add rsp, 0x18
              105: stc
              106: ret
              107: add rsp, 0x18
              114: stc
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
              15: jb 0x5d
              21: sub r13, 1
              25: jb 0x5d
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: movapd xmm14, xmm0
              56: cmpeqsd xmm14, xmm1
              62: movsd xmm15, [0x78]
              71: andpd xmm14, xmm15
              76: movapd xmm0, xmm14
              81: add rsp, 0x18
              88: add r13, 1
              92: ret
              93: mov eax, 2
              98: add rsp, 0x18
              105: stc
              106: ret
              107: add rsp, 0x18
              114: stc
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
              15: jb 0x5e
              21: sub r13, 1
              25: jb 0x5e
              31: movsd xmm13, [rsp + 0x20]
              41: movsd xmm12, [rsp + 0x28]
              51: movapd xmm0, xmm12
              56: ucomisd xmm0, xmm13
              61: jbe 0x4d
              67: movapd xmm0, xmm13
              72: jmp 0x52
              77: movapd xmm0, xmm12
              82: add rsp, 0x18
              89: add r13, 1
              93: ret
              94: mov eax, 2
              99: add rsp, 0x18
              106: stc
              107: ret
              108: add rsp, 0x18
              115: stc
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
              15: jb 0x5d
              21: sub r13, 1
              25: jb 0x5d
              31: movsd xmm0, [rsp + 0x20]
              41: xorpd xmm15, xmm15
              46: ucomisd xmm15, xmm0
              51: je 0x48
              57: movsd xmm0, [rsp + 0x28]
              67: jmp 0x51
              72: movsd xmm0, [0x78]
              81: add rsp, 0x18
              88: add r13, 1
              92: ret
              93: mov eax, 2
              98: add rsp, 0x18
              105: stc
              106: ret
              107: add rsp, 0x18
              114: stc
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
              15: jb 0x63
              21: sub r13, 1
              25: jb 0x63
              31: movsd xmm13, [rsp + 0x28]
              41: movsd xmm0, [rsp + 0x20]
              51: ucomisd xmm0, xmm13
              56: jp 0x52
              62: jne 0x52
              68: movsd xmm0, [0x80]
              77: jmp 0x57
              82: movapd xmm0, xmm13
              87: add rsp, 0x18
              94: add r13, 1
              98: ret
              99: mov eax, 2
              104: add rsp, 0x18
              111: stc
              112: ret
              113: add rsp, 0x18
              120: stc
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
              15: jb 0x64
              21: sub r13, 1
              25: jb 0x64
              31: movsd xmm13, [rsp + 0x20]
              41: movsd xmm12, [rsp + 0x28]
              51: movapd xmm0, xmm13
              56: ucomisd xmm0, xmm12
              61: jp 0x49
              67: je 0x53
              73: movapd xmm0, xmm13
              78: jmp 0x58
              83: movapd xmm0, xmm12
              88: add rsp, 0x18
              95: add r13, 1
              99: ret
              100: mov eax, 2
              105: add rsp, 0x18
              112: stc
              113: ret
              114: add rsp, 0x18
              121: stc
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
              15: jb 0x78
              21: sub r13, 1
              25: jb 0x78
              31: movsd xmm13, [rsp + 0x20]
              41: movsd xmm12, [rsp + 0x28]
              51: movapd xmm0, xmm13
              56: ucomisd xmm0, xmm12
              61: jp 0x49
              67: je 0x59
              73: movapd xmm0, xmm13
              78: ucomisd xmm0, xmm12
              83: jbe 0x67
              89: movsd xmm0, [0x90]
              98: jmp 0x6c
              103: movapd xmm0, xmm12
              108: add rsp, 0x18
              115: add r13, 1
              119: ret
              120: mov eax, 2
              125: add rsp, 0x18
              132: stc
              133: ret
              134: add rsp, 0x18
              141: stc
              142: ret
              143: int3
              144: .f64 1
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
              15: jb 0x72
              21: sub r13, 1
              25: jb 0x72
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
              102: add rsp, 0x18
              109: add r13, 1
              113: ret
              114: mov eax, 2
              119: add rsp, 0x18
              126: stc
              127: ret
              128: add rsp, 0x18
              135: stc
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
              15: jb 0x72
              21: sub r13, 1
              25: jb 0x72
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
              102: add rsp, 0x18
              109: add r13, 1
              113: ret
              114: mov eax, 2
              119: add rsp, 0x18
              126: stc
              127: ret
              128: add rsp, 0x18
              135: stc
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
              15: jb 0x72
              21: sub r13, 1
              25: jb 0x72
              31: movsd xmm13, [rsp + 0x20]
              41: movsd xmm12, [rsp + 0x28]
              51: movapd xmm0, xmm13
              56: ucomisd xmm0, [0x90]
              65: jbe 0x61
              71: movapd xmm0, xmm13
              76: ucomisd xmm0, xmm12
              81: jb 0x61
              87: movapd xmm0, xmm13
              92: jmp 0x66
              97: movapd xmm0, xmm12
              102: add rsp, 0x18
              109: add r13, 1
              113: ret
              114: mov eax, 2
              119: add rsp, 0x18
              126: stc
              127: ret
              128: add rsp, 0x18
              135: stc
              136: ret
              137: int3
              138: int3
              139: int3
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
              7: cmp rsp, [r12]
              15: jb 0x41
              21: sub r13, 1
              25: jb 0x41
              31: movsd xmm0, [rsp + 0x20]
              41: mov rax, <sin>
              51: call rax
              53: add rsp, 0x18
              60: add r13, 1
              64: ret
              65: mov eax, 2
              70: add rsp, 0x18
              77: stc
              78: ret
              79: add rsp, 0x18
              86: stc
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
              15: jb 0x82
              21: sub r13, 1
              25: jb 0x82
              31: movsd xmm0, [rsp + 0x20]
              41: movsd [rsp], xmm0
              51: movsd xmm1, [rsp + 0x28]
              61: movapd xmm0, xmm1
              66: mov rax, <sin>
              76: call rax
              78: movapd xmm1, xmm0
              83: movsd xmm14, [rsp]
              93: cmpltsd xmm14, xmm1
              99: movsd xmm15, [0xa0]
              108: andpd xmm14, xmm15
              113: movapd xmm0, xmm14
              118: add rsp, 0x18
              125: add r13, 1
              129: ret
              130: mov eax, 2
              135: add rsp, 0x18
              142: stc
              143: ret
              144: add rsp, 0x18
              151: stc
              152: ret
              153: int3
              154: int3
              155: int3
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
              7: cmp rsp, [r12]
              15: jb 0x7a
              21: sub r13, 1
              25: jb 0x7a
              31: movsd xmm0, [rsp + 0x20]
              41: mov rax, <sin>
              51: call rax
              53: movsd [rsp], xmm0
              63: movsd xmm1, [rsp + 0x28]
              73: movapd xmm0, xmm1
              78: mov rax, <cos>
              88: call rax
              90: movapd xmm1, xmm0
              95: movsd xmm0, [rsp]
              105: addsd xmm0, xmm1
              110: add rsp, 0x18
              117: add r13, 1
              121: ret
              122: mov eax, 2
              127: add rsp, 0x18
              134: stc
              135: ret
              136: add rsp, 0x18
              143: stc
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
              15: jb 0x4b
              21: sub r13, 1
              25: jb 0x4b
              31: movsd xmm0, [rsp + 0x20]
              41: movsd xmm1, [rsp + 0x28]
              51: mov rax, <atan2>
              61: call rax
              63: add rsp, 0x18
              70: add r13, 1
              74: ret
              75: mov eax, 2
              80: add rsp, 0x18
              87: stc
              88: ret
              89: add rsp, 0x18
              96: stc
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
              15: jb 0x6e
              21: sub r13, 1
              25: jb 0x6e
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
              98: add rsp, 0x28
              105: add r13, 1
              109: ret
              110: mov eax, 2
              115: add rsp, 0x28
              122: stc
              123: ret
              124: add rsp, 0x28
              131: stc
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
              15: jb 0x5f
              21: sub r13, 1
              25: jb 0x5f
              31: movsd xmm0, [rsp + 0x38]
              41: movsd xmm1, [rsp + 0x30]
              51: mov rax, <atan2>
              61: call rax
              63: movsd xmm1, [rsp + 0x30]
              73: mulsd xmm1, xmm0
              78: movapd xmm0, xmm1
              83: add rsp, 0x28
              90: add r13, 1
              94: ret
              95: mov eax, 2
              100: add rsp, 0x28
              107: stc
              108: ret
              109: add rsp, 0x28
              116: stc
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
              15: jb 0x5c
              21: sub r13, 1
              25: jb 0x5c
              31: mov rdi, r12
              34: mov esi, 0
              39: mov rax, <rt_global>
              49: call rax
              51: test rax, rax
              54: jne 0x6a
              60: movsd xmm1, [rsp + 0x20]
              70: addsd xmm1, xmm0
              75: movapd xmm0, xmm1
              80: add rsp, 0x18
              87: add r13, 1
              91: ret
              92: mov eax, 2
              97: add rsp, 0x18
              104: stc
              105: ret
              106: add rsp, 0x18
              113: stc
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
              15: jb 0x53
              21: sub r13, 1
              25: jb 0x53
              31: movsd xmm0, [rsp + 0x30]
              41: addsd xmm0, [0x90]
              50: movsd [rsp], xmm0
              60: call 0x41
              65: jb 0x6a
              71: add rsp, 0x28
              78: add r13, 1
              82: ret
              83: mov eax, 2
              88: add rsp, 0x28
              95: stc
              96: ret
              97: add rsp, 0x28
              104: stc
              105: ret
              106: mov rdi, r12
              109: mov esi, 0
              114: mov edx, eax
              116: mov rax, <rt_call_failed>
              126: call rax
              128: add rsp, 0x28
              135: stc
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
        name: "user call with live value",
        params: &["x", "y"],
        body: "f(x, y) < x",
        nregs: 14,
        expected: "
              0: sub rsp, 0x38
              7: cmp rsp, [r12]
              15: jb 0x86
              21: sub r13, 1
              25: jb 0x86
              31: movsd xmm0, [rsp + 0x40]
              41: movsd xmm1, [rsp + 0x48]
              51: movsd [rsp], xmm0
              61: movsd [rsp + 8], xmm1
              71: call 0x4c
              76: jb 0x9d
              82: movsd xmm1, [rsp + 0x40]
              92: movapd xmm14, xmm0
              97: cmpltsd xmm14, xmm1
              103: movsd xmm15, [0xc0]
              112: andpd xmm14, xmm15
              117: movapd xmm0, xmm14
              122: add rsp, 0x38
              129: add r13, 1
              133: ret
              134: mov eax, 2
              139: add rsp, 0x38
              146: stc
              147: ret
              148: add rsp, 0x38
              155: stc
              156: ret
              157: mov rdi, r12
              160: mov esi, 0
              165: mov edx, eax
              167: mov rax, <rt_call_failed>
              177: call rax
              179: add rsp, 0x38
              186: stc
              187: ret
              188: int3
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
              15: jb 0xa4
              21: sub r13, 1
              25: jb 0xa4
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
              146: jb 0xbb
              152: add rsp, 0x48
              159: add r13, 1
              163: ret
              164: mov eax, 2
              169: add rsp, 0x48
              176: stc
              177: ret
              178: add rsp, 0x48
              185: stc
              186: ret
              187: mov rdi, r12
              190: mov esi, 0
              195: mov edx, eax
              197: mov rax, <rt_call_failed>
              207: call rax
              209: add rsp, 0x48
              216: stc
              217: ret
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
              15: jb 0x44
              21: sub r13, 1
              25: jb 0x44
              31: mov rdi, r12
              34: mov esi, 0
              39: mov rax, <rt_fail>
              49: call rax
              51: jmp 0x52
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
        name: "spilled with two registers",
        params: &["x", "y"],
        body: "x + (y * (x - y))",
        nregs: 2,
        expected: "
              0: sub rsp, 0x28
              7: cmp rsp, [r12]
              15: jb 0x80
              21: sub r13, 1
              25: jb 0x80
              31: movsd xmm0, [rsp + 0x30]
              41: movsd xmm1, [rsp + 0x38]
              51: movsd xmm14, [rsp + 0x30]
              61: movsd [rsp + 0x10], xmm14
              71: movsd xmm14, [rsp + 0x10]
              81: subsd xmm14, [rsp + 0x38]
              91: movsd [rsp + 0x10], xmm14
              101: mulsd xmm1, [rsp + 0x10]
              111: addsd xmm0, xmm1
              116: add rsp, 0x28
              123: add r13, 1
              127: ret
              128: mov eax, 2
              133: add rsp, 0x28
              140: stc
              141: ret
              142: add rsp, 0x28
              149: stc
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
              15: jb 0x113
              21: sub r13, 1
              25: jb 0x113
              31: movsd xmm0, [rsp + 0x30]
              41: movsd [rsp], xmm0
              51: movsd xmm1, [rsp + 0x38]
              61: movsd [rsp + 8], xmm1
              71: movsd xmm14, [rsp + 0x30]
              81: movsd [rsp + 0x10], xmm14
              91: movsd xmm14, [rsp + 0x38]
              101: movsd [rsp + 0x18], xmm14
              111: movsd xmm0, [rsp + 0x18]
              121: mov rax, <sin>
              131: call rax
              133: movsd [rsp + 0x18], xmm0
              143: movsd xmm14, [rsp + 0x10]
              153: cmpltsd xmm14, [rsp + 0x18]
              164: movsd xmm15, [0x130]
              173: andpd xmm14, xmm15
              178: movsd [rsp + 0x10], xmm14
              188: movsd xmm14, [rsp + 8]
              198: cmpltsd xmm14, [rsp + 0x10]
              209: movsd xmm15, [0x130]
              218: andpd xmm14, xmm15
              223: movapd xmm1, xmm14
              228: movsd xmm14, [rsp]
              238: cmpltsd xmm14, xmm1
              244: movsd xmm15, [0x130]
              253: andpd xmm14, xmm15
              258: movapd xmm0, xmm14
              263: add rsp, 0x28
              270: add r13, 1
              274: ret
              275: mov eax, 2
              280: add rsp, 0x28
              287: stc
              288: ret
              289: add rsp, 0x28
              296: stc
              297: ret
              298: int3
              299: int3
              300: int3
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
              7: cmp rsp, [r12]
              15: jb 0xa2
              21: sub r13, 1
              25: jb 0xa2
              31: movsd xmm0, [rsp + 0x30]
              41: mov rax, <sin>
              51: call rax
              53: movsd [rsp], xmm0
              63: movsd xmm1, [rsp + 0x38]
              73: ucomisd xmm1, [0xc0]
              82: jbe 0x87
              88: movsd xmm1, [rsp + 0x38]
              98: movapd xmm0, xmm1
              103: mov rax, <sin>
              113: call rax
              115: movapd xmm1, xmm0
              120: movsd xmm0, [rsp]
              130: jmp 0x91
              135: movsd xmm1, [rsp + 0x38]
              145: addsd xmm0, xmm1
              150: add rsp, 0x28
              157: add r13, 1
              161: ret
              162: mov eax, 2
              167: add rsp, 0x28
              174: stc
              175: ret
              176: add rsp, 0x28
              183: stc
              184: ret
              185: int3
              186: int3
              187: int3
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
              7: cmp rsp, [r12]
              15: jb 0xe5
              21: sub r13, 1
              25: jb 0xe5
              31: movsd xmm0, [rsp + 0x30]
              41: mov rax, <sin>
              51: call rax
              53: movsd [rsp], xmm0
              63: movsd xmm1, [rsp + 0x38]
              73: ucomisd xmm1, [0x100]
              82: jbe 0x87
              88: movsd xmm1, [rsp + 0x38]
              98: movapd xmm0, xmm1
              103: mov rax, <sin>
              113: call rax
              115: movapd xmm1, xmm0
              120: movsd xmm0, [rsp]
              130: jmp 0x91
              135: movsd xmm1, [rsp + 0x38]
              145: movsd [rsp + 8], xmm1
              155: movsd xmm2, [rsp + 0x30]
              165: movapd xmm0, xmm2
              170: mov rax, <sin>
              180: call rax
              182: movapd xmm2, xmm0
              187: movsd xmm1, [rsp + 8]
              197: mulsd xmm1, xmm2
              202: movsd xmm0, [rsp]
              212: addsd xmm0, xmm1
              217: add rsp, 0x28
              224: add r13, 1
              228: ret
              229: mov eax, 2
              234: add rsp, 0x28
              241: stc
              242: ret
              243: add rsp, 0x28
              250: stc
              251: ret
              252: int3
              253: int3
              254: int3
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
    let listing = got.listing.lines().take(40).collect::<Vec<_>>().join("\n");
    assert_listing(
        "self-recursion, down to the real call",
        &listing,
        "
          0: sub rsp, 0x68
          7: cmp rsp, [r12]
          15: jb 0x212
          21: sub r13, 1
          25: jb 0x212
          31: movsd xmm0, [0x2d8]
          40: ucomisd xmm0, [rsp + 0x70]
          50: jbe 0x42
          56: xorpd xmm0, xmm0
          61: jmp 0x206
          66: movsd xmm0, [rsp + 0x70]
          76: subsd xmm0, [0x2d8]
          85: sub r13, 1
          89: jb 0x229
          95: movsd xmm1, [0x2d8]
          104: ucomisd xmm1, xmm0
          109: jbe 0x7d
          115: xorpd xmm1, xmm1
          120: jmp 0x1e9
          125: movapd xmm1, xmm0
          130: subsd xmm1, [0x2d8]
          139: sub r13, 1
          143: jb 0x24d
          149: movsd xmm2, [0x2d8]
          158: ucomisd xmm2, xmm1
          163: jbe 0xb3
          169: xorpd xmm2, xmm2
          174: jmp 0x1d1
          179: movapd xmm2, xmm1
          184: subsd xmm2, [0x2d8]
          193: sub r13, 1
          197: jb 0x271
          203: movsd xmm3, [0x2d8]
          212: ucomisd xmm3, xmm2
          217: jbe 0xe9
          223: xorpd xmm3, xmm3
          228: jmp 0x1b9
          233: movapd xmm3, xmm2
          238: subsd xmm3, [0x2d8]
          247: sub r13, 1
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
