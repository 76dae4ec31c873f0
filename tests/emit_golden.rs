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
              15: jb 0x45
              21: sub r13, 1
              25: jb 0x45
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x53
              48: movsd xmm0, [0x70]
              57: add rsp, 0x18
              64: add r13, 1
              68: ret
              69: mov eax, 2
              74: add rsp, 0x18
              81: stc
              82: ret
              83: mov eax, 3
              88: add rsp, 0x18
              95: stc
              96: ret
              97: add rsp, 0x18
              104: stc
              105: ret
              106: int3
              107: int3
              108: int3
              109: int3
              110: int3
              111: int3
              112: .f64 2.5
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
              15: jb 0x41
              21: sub r13, 1
              25: jb 0x41
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x4f
              48: xorpd xmm0, xmm0
              53: add rsp, 0x18
              60: add r13, 1
              64: ret
              65: mov eax, 2
              70: add rsp, 0x18
              77: stc
              78: ret
              79: mov eax, 3
              84: add rsp, 0x18
              91: stc
              92: ret
              93: add rsp, 0x18
              100: stc
              101: ret
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
              15: jb 0x46
              21: sub r13, 1
              25: jb 0x46
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x54
              48: movsd xmm0, [rsp + 0x28]
              58: add rsp, 0x18
              65: add r13, 1
              69: ret
              70: mov eax, 2
              75: add rsp, 0x18
              82: stc
              83: ret
              84: mov eax, 3
              89: add rsp, 0x18
              96: stc
              97: ret
              98: add rsp, 0x18
              105: stc
              106: ret
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
              15: jb 0x50
              21: sub r13, 1
              25: jb 0x50
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x5e
              48: movsd xmm0, [rsp + 0x20]
              58: addsd xmm0, [rsp + 0x28]
              68: add rsp, 0x18
              75: add r13, 1
              79: ret
              80: mov eax, 2
              85: add rsp, 0x18
              92: stc
              93: ret
              94: mov eax, 3
              99: add rsp, 0x18
              106: stc
              107: ret
              108: add rsp, 0x18
              115: stc
              116: ret
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
              15: jb 0x69
              21: sub r13, 1
              25: jb 0x69
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x77
              48: movsd xmm13, [rsp + 0x30]
              58: movsd xmm12, [rsp + 0x38]
              68: movapd xmm0, xmm13
              73: subsd xmm0, xmm12
              78: movapd xmm1, xmm13
              83: divsd xmm1, xmm12
              88: mulsd xmm0, xmm1
              93: add rsp, 0x28
              100: add r13, 1
              104: ret
              105: mov eax, 2
              110: add rsp, 0x28
              117: stc
              118: ret
              119: mov eax, 3
              124: add rsp, 0x28
              131: stc
              132: ret
              133: add rsp, 0x28
              140: stc
              141: ret
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
              15: jb 0x54
              21: sub r13, 1
              25: jb 0x54
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x62
              48: movsd xmm0, [rsp + 0x20]
              58: movsd xmm15, [0x80]
              67: xorpd xmm0, xmm15
              72: add rsp, 0x18
              79: add r13, 1
              83: ret
              84: mov eax, 2
              89: add rsp, 0x18
              96: stc
              97: ret
              98: mov eax, 3
              103: add rsp, 0x18
              110: stc
              111: ret
              112: add rsp, 0x18
              119: stc
              120: ret
              121: int3
              122: int3
              123: int3
              124: int3
              125: int3
              126: int3
              127: int3
              128: .f64 -0
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
              15: jb 0x5b
              21: sub r13, 1
              25: jb 0x5b
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x69
              48: movsd xmm0, [rsp + 0x20]
              58: xorpd xmm15, xmm15
              63: ucomisd xmm15, xmm0
              68: sete al
              71: movzx eax, al
              74: cvtsi2sd xmm0, eax
              79: add rsp, 0x18
              86: add r13, 1
              90: ret
              91: mov eax, 2
              96: add rsp, 0x18
              103: stc
              104: ret
              105: mov eax, 3
              110: add rsp, 0x18
              117: stc
              118: ret
              119: add rsp, 0x18
              126: stc
              127: ret
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
              15: jb 0x6e
              21: sub r13, 1
              25: jb 0x6e
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7c
              48: movsd xmm0, [rsp + 0x20]
              58: movsd xmm1, [rsp + 0x28]
              68: movapd xmm14, xmm0
              73: cmpltsd xmm14, xmm1
              79: movsd xmm15, [0x98]
              88: andpd xmm14, xmm15
              93: movapd xmm0, xmm14
              98: add rsp, 0x18
              105: add r13, 1
              109: ret
              110: mov eax, 2
              115: add rsp, 0x18
              122: stc
              123: ret
              124: mov eax, 3
              129: add rsp, 0x18
              136: stc
              137: ret
              138: add rsp, 0x18
              145: stc
              146: ret
              147: int3
              148: int3
              149: int3
              150: int3
              151: int3
              152: .f64 1
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
              15: jb 0x6e
              21: sub r13, 1
              25: jb 0x6e
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7c
              48: movsd xmm0, [rsp + 0x20]
              58: movsd xmm1, [rsp + 0x28]
              68: movapd xmm14, xmm1
              73: cmplesd xmm14, xmm0
              79: movsd xmm15, [0x98]
              88: andpd xmm14, xmm15
              93: movapd xmm0, xmm14
              98: add rsp, 0x18
              105: add r13, 1
              109: ret
              110: mov eax, 2
              115: add rsp, 0x18
              122: stc
              123: ret
              124: mov eax, 3
              129: add rsp, 0x18
              136: stc
              137: ret
              138: add rsp, 0x18
              145: stc
              146: ret
              147: int3
              148: int3
              149: int3
              150: int3
              151: int3
              152: .f64 1
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
              15: jb 0x6e
              21: sub r13, 1
              25: jb 0x6e
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7c
              48: movsd xmm0, [rsp + 0x20]
              58: movsd xmm1, [rsp + 0x28]
              68: movapd xmm14, xmm0
              73: cmpeqsd xmm14, xmm1
              79: movsd xmm15, [0x98]
              88: andpd xmm14, xmm15
              93: movapd xmm0, xmm14
              98: add rsp, 0x18
              105: add r13, 1
              109: ret
              110: mov eax, 2
              115: add rsp, 0x18
              122: stc
              123: ret
              124: mov eax, 3
              129: add rsp, 0x18
              136: stc
              137: ret
              138: add rsp, 0x18
              145: stc
              146: ret
              147: int3
              148: int3
              149: int3
              150: int3
              151: int3
              152: .f64 1
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
              15: jb 0x6f
              21: sub r13, 1
              25: jb 0x6f
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7d
              48: movsd xmm13, [rsp + 0x20]
              58: movsd xmm12, [rsp + 0x28]
              68: movapd xmm0, xmm12
              73: ucomisd xmm0, xmm13
              78: jbe 0x5e
              84: movapd xmm0, xmm13
              89: jmp 0x63
              94: movapd xmm0, xmm12
              99: add rsp, 0x18
              106: add r13, 1
              110: ret
              111: mov eax, 2
              116: add rsp, 0x18
              123: stc
              124: ret
              125: mov eax, 3
              130: add rsp, 0x18
              137: stc
              138: ret
              139: add rsp, 0x18
              146: stc
              147: ret
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
              15: jb 0x6e
              21: sub r13, 1
              25: jb 0x6e
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7c
              48: movsd xmm0, [rsp + 0x20]
              58: xorpd xmm15, xmm15
              63: ucomisd xmm15, xmm0
              68: je 0x59
              74: movsd xmm0, [rsp + 0x28]
              84: jmp 0x62
              89: movsd xmm0, [0x98]
              98: add rsp, 0x18
              105: add r13, 1
              109: ret
              110: mov eax, 2
              115: add rsp, 0x18
              122: stc
              123: ret
              124: mov eax, 3
              129: add rsp, 0x18
              136: stc
              137: ret
              138: add rsp, 0x18
              145: stc
              146: ret
              147: int3
              148: int3
              149: int3
              150: int3
              151: int3
              152: .f64 1
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
              15: jb 0x74
              21: sub r13, 1
              25: jb 0x74
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x82
              48: movsd xmm13, [rsp + 0x28]
              58: movsd xmm0, [rsp + 0x20]
              68: ucomisd xmm0, xmm13
              73: jp 0x63
              79: jne 0x63
              85: movsd xmm0, [0xa0]
              94: jmp 0x68
              99: movapd xmm0, xmm13
              104: add rsp, 0x18
              111: add r13, 1
              115: ret
              116: mov eax, 2
              121: add rsp, 0x18
              128: stc
              129: ret
              130: mov eax, 3
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
        name: "conditional on inequality",
        params: &["x", "y"],
        body: "x != y ? x : y",
        nregs: 14,
        expected: "
              0: sub rsp, 0x18
              7: cmp rsp, [r12]
              15: jb 0x75
              21: sub r13, 1
              25: jb 0x75
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x83
              48: movsd xmm13, [rsp + 0x20]
              58: movsd xmm12, [rsp + 0x28]
              68: movapd xmm0, xmm13
              73: ucomisd xmm0, xmm12
              78: jp 0x5a
              84: je 0x64
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
              131: mov eax, 3
              136: add rsp, 0x18
              143: stc
              144: ret
              145: add rsp, 0x18
              152: stc
              153: ret
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
              15: jb 0x89
              21: sub r13, 1
              25: jb 0x89
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x97
              48: movsd xmm13, [rsp + 0x20]
              58: movsd xmm12, [rsp + 0x28]
              68: movapd xmm0, xmm13
              73: ucomisd xmm0, xmm12
              78: jp 0x5a
              84: je 0x6a
              90: movapd xmm0, xmm13
              95: ucomisd xmm0, xmm12
              100: jbe 0x78
              106: movsd xmm0, [0xb0]
              115: jmp 0x7d
              120: movapd xmm0, xmm12
              125: add rsp, 0x18
              132: add r13, 1
              136: ret
              137: mov eax, 2
              142: add rsp, 0x18
              149: stc
              150: ret
              151: mov eax, 3
              156: add rsp, 0x18
              163: stc
              164: ret
              165: add rsp, 0x18
              172: stc
              173: ret
              174: int3
              175: int3
              176: .f64 1
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
              15: jb 0x83
              21: sub r13, 1
              25: jb 0x83
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x91
              48: movsd xmm0, [rsp + 0x20]
              58: xorpd xmm15, xmm15
              63: ucomisd xmm15, xmm0
              68: je 0x72
              74: movsd xmm0, [rsp + 0x28]
              84: xorpd xmm15, xmm15
              89: ucomisd xmm15, xmm0
              94: je 0x72
              100: movsd xmm0, [0xa8]
              109: jmp 0x77
              114: xorpd xmm0, xmm0
              119: add rsp, 0x18
              126: add r13, 1
              130: ret
              131: mov eax, 2
              136: add rsp, 0x18
              143: stc
              144: ret
              145: mov eax, 3
              150: add rsp, 0x18
              157: stc
              158: ret
              159: add rsp, 0x18
              166: stc
              167: ret
              168: .f64 1
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
              15: jb 0x83
              21: sub r13, 1
              25: jb 0x83
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x91
              48: movsd xmm0, [rsp + 0x20]
              58: xorpd xmm15, xmm15
              63: ucomisd xmm15, xmm0
              68: jne 0x64
              74: movsd xmm0, [rsp + 0x28]
              84: xorpd xmm15, xmm15
              89: ucomisd xmm15, xmm0
              94: je 0x72
              100: movsd xmm0, [0xa8]
              109: jmp 0x77
              114: xorpd xmm0, xmm0
              119: add rsp, 0x18
              126: add r13, 1
              130: ret
              131: mov eax, 2
              136: add rsp, 0x18
              143: stc
              144: ret
              145: mov eax, 3
              150: add rsp, 0x18
              157: stc
              158: ret
              159: add rsp, 0x18
              166: stc
              167: ret
              168: .f64 1
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
              15: jb 0x83
              21: sub r13, 1
              25: jb 0x83
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x91
              48: movsd xmm13, [rsp + 0x20]
              58: movsd xmm12, [rsp + 0x28]
              68: movapd xmm0, xmm13
              73: ucomisd xmm0, [0xa8]
              82: jbe 0x72
              88: movapd xmm0, xmm13
              93: ucomisd xmm0, xmm12
              98: jb 0x72
              104: movapd xmm0, xmm13
              109: jmp 0x77
              114: movapd xmm0, xmm12
              119: add rsp, 0x18
              126: add r13, 1
              130: ret
              131: mov eax, 2
              136: add rsp, 0x18
              143: stc
              144: ret
              145: mov eax, 3
              150: add rsp, 0x18
              157: stc
              158: ret
              159: add rsp, 0x18
              166: stc
              167: ret
              168: .f64 0
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
              15: jb 0x52
              21: sub r13, 1
              25: jb 0x52
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x60
              48: movsd xmm0, [rsp + 0x20]
              58: mov rax, <sin>
              68: call rax
              70: add rsp, 0x18
              77: add r13, 1
              81: ret
              82: mov eax, 2
              87: add rsp, 0x18
              94: stc
              95: ret
              96: mov eax, 3
              101: add rsp, 0x18
              108: stc
              109: ret
              110: add rsp, 0x18
              117: stc
              118: ret
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
              15: jb 0x93
              21: sub r13, 1
              25: jb 0x93
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0xa1
              48: movsd xmm0, [rsp + 0x20]
              58: movsd [rsp], xmm0
              68: movsd xmm1, [rsp + 0x28]
              78: movapd xmm0, xmm1
              83: mov rax, <sin>
              93: call rax
              95: movapd xmm1, xmm0
              100: movsd xmm14, [rsp]
              110: cmpltsd xmm14, xmm1
              116: movsd xmm15, [0xb8]
              125: andpd xmm14, xmm15
              130: movapd xmm0, xmm14
              135: add rsp, 0x18
              142: add r13, 1
              146: ret
              147: mov eax, 2
              152: add rsp, 0x18
              159: stc
              160: ret
              161: mov eax, 3
              166: add rsp, 0x18
              173: stc
              174: ret
              175: add rsp, 0x18
              182: stc
              183: ret
              184: .f64 1
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
              15: jb 0x8b
              21: sub r13, 1
              25: jb 0x8b
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x99
              48: movsd xmm0, [rsp + 0x20]
              58: mov rax, <sin>
              68: call rax
              70: movsd [rsp], xmm0
              80: movsd xmm1, [rsp + 0x28]
              90: movapd xmm0, xmm1
              95: mov rax, <cos>
              105: call rax
              107: movapd xmm1, xmm0
              112: movsd xmm0, [rsp]
              122: addsd xmm0, xmm1
              127: add rsp, 0x18
              134: add r13, 1
              138: ret
              139: mov eax, 2
              144: add rsp, 0x18
              151: stc
              152: ret
              153: mov eax, 3
              158: add rsp, 0x18
              165: stc
              166: ret
              167: add rsp, 0x18
              174: stc
              175: ret
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
              15: jb 0x5c
              21: sub r13, 1
              25: jb 0x5c
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x6a
              48: movsd xmm0, [rsp + 0x20]
              58: movsd xmm1, [rsp + 0x28]
              68: mov rax, <atan2>
              78: call rax
              80: add rsp, 0x18
              87: add r13, 1
              91: ret
              92: mov eax, 2
              97: add rsp, 0x18
              104: stc
              105: ret
              106: mov eax, 3
              111: add rsp, 0x18
              118: stc
              119: ret
              120: add rsp, 0x18
              127: stc
              128: ret
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
              15: jb 0x7f
              21: sub r13, 1
              25: jb 0x7f
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x8d
              48: movsd xmm0, [rsp + 0x38]
              58: movsd xmm1, [0xa8]
              67: mov rax, <^>
              77: call rax
              79: movsd xmm1, [rsp + 0x30]
              89: movapd xmm14, xmm0
              94: movapd xmm0, xmm1
              98: movapd xmm1, xmm14
              103: mov rax, <%>
              113: call rax
              115: add rsp, 0x28
              122: add r13, 1
              126: ret
              127: mov eax, 2
              132: add rsp, 0x28
              139: stc
              140: ret
              141: mov eax, 3
              146: add rsp, 0x28
              153: stc
              154: ret
              155: add rsp, 0x28
              162: stc
              163: ret
              164: int3
              165: int3
              166: int3
              167: int3
              168: .f64 2
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
              15: jb 0x70
              21: sub r13, 1
              25: jb 0x70
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7e
              48: movsd xmm0, [rsp + 0x38]
              58: movsd xmm1, [rsp + 0x30]
              68: mov rax, <atan2>
              78: call rax
              80: movsd xmm1, [rsp + 0x30]
              90: mulsd xmm1, xmm0
              95: movapd xmm0, xmm1
              100: add rsp, 0x28
              107: add r13, 1
              111: ret
              112: mov eax, 2
              117: add rsp, 0x28
              124: stc
              125: ret
              126: mov eax, 3
              131: add rsp, 0x28
              138: stc
              139: ret
              140: add rsp, 0x28
              147: stc
              148: ret
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
              15: jb 0x6d
              21: sub r13, 1
              25: jb 0x6d
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x7b
              48: mov rdi, r12
              51: mov esi, 0
              56: mov rax, <rt_global>
              66: call rax
              68: test rax, rax
              71: jne 0x89
              77: movsd xmm1, [rsp + 0x20]
              87: addsd xmm1, xmm0
              92: movapd xmm0, xmm1
              97: add rsp, 0x18
              104: add r13, 1
              108: ret
              109: mov eax, 2
              114: add rsp, 0x18
              121: stc
              122: ret
              123: mov eax, 3
              128: add rsp, 0x18
              135: stc
              136: ret
              137: add rsp, 0x18
              144: stc
              145: ret
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
              15: jb 0x64
              21: sub r13, 1
              25: jb 0x64
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x72
              48: movsd xmm0, [rsp + 0x30]
              58: addsd xmm0, [0xa8]
              67: movsd [rsp], xmm0
              77: call 0x52
              82: jb 0x89
              88: add rsp, 0x28
              95: add r13, 1
              99: ret
              100: mov eax, 2
              105: add rsp, 0x28
              112: stc
              113: ret
              114: mov eax, 3
              119: add rsp, 0x28
              126: stc
              127: ret
              128: add rsp, 0x28
              135: stc
              136: ret
              137: mov rdi, r12
              140: mov esi, 0
              145: mov edx, eax
              147: mov rax, <rt_call_failed>
              157: call rax
              159: add rsp, 0x28
              166: stc
              167: ret
              168: .f64 1
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
              15: jb 0x97
              21: sub r13, 1
              25: jb 0x97
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0xa5
              48: movsd xmm0, [rsp + 0x40]
              58: movsd xmm1, [rsp + 0x48]
              68: movsd [rsp], xmm0
              78: movsd [rsp + 8], xmm1
              88: call 0x5d
              93: jb 0xbc
              99: movsd xmm1, [rsp + 0x40]
              109: movapd xmm14, xmm0
              114: cmpltsd xmm14, xmm1
              120: movsd xmm15, [0xe0]
              129: andpd xmm14, xmm15
              134: movapd xmm0, xmm14
              139: add rsp, 0x38
              146: add r13, 1
              150: ret
              151: mov eax, 2
              156: add rsp, 0x38
              163: stc
              164: ret
              165: mov eax, 3
              170: add rsp, 0x38
              177: stc
              178: ret
              179: add rsp, 0x38
              186: stc
              187: ret
              188: mov rdi, r12
              191: mov esi, 0
              196: mov edx, eax
              198: mov rax, <rt_call_failed>
              208: call rax
              210: add rsp, 0x38
              217: stc
              218: ret
              219: int3
              220: int3
              221: int3
              222: int3
              223: int3
              224: .f64 1
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
              15: jb 0xb5
              21: sub r13, 1
              25: jb 0xb5
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0xc3
              48: movsd xmm0, [rsp + 0x50]
              58: movsd xmm1, [rsp + 0x58]
              68: movsd xmm14, [rsp + 0x50]
              78: movsd [rsp + 0x28], xmm14
              88: movsd xmm14, [rsp + 0x28]
              98: mulsd xmm14, [rsp + 0x58]
              108: movsd [rsp + 0x28], xmm14
              118: movsd [rsp], xmm0
              128: movsd [rsp + 8], xmm1
              138: movsd xmm14, [rsp + 0x28]
              148: movsd [rsp + 0x10], xmm14
              158: call 0xa3
              163: jb 0xda
              169: add rsp, 0x48
              176: add r13, 1
              180: ret
              181: mov eax, 2
              186: add rsp, 0x48
              193: stc
              194: ret
              195: mov eax, 3
              200: add rsp, 0x48
              207: stc
              208: ret
              209: add rsp, 0x48
              216: stc
              217: ret
              218: mov rdi, r12
              221: mov esi, 0
              226: mov edx, eax
              228: mov rax, <rt_call_failed>
              238: call rax
              240: add rsp, 0x48
              247: stc
              248: ret
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
              15: jb 0x55
              21: sub r13, 1
              25: jb 0x55
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x63
              48: mov rdi, r12
              51: mov esi, 0
              56: mov rax, <rt_fail>
              66: call rax
              68: jmp 0x71
              73: add rsp, 0x18
              80: add r13, 1
              84: ret
              85: mov eax, 2
              90: add rsp, 0x18
              97: stc
              98: ret
              99: mov eax, 3
              104: add rsp, 0x18
              111: stc
              112: ret
              113: add rsp, 0x18
              120: stc
              121: ret
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
              15: jb 0x91
              21: sub r13, 1
              25: jb 0x91
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x9f
              48: movsd xmm0, [rsp + 0x30]
              58: movsd xmm1, [rsp + 0x38]
              68: movsd xmm14, [rsp + 0x30]
              78: movsd [rsp + 0x10], xmm14
              88: movsd xmm14, [rsp + 0x10]
              98: subsd xmm14, [rsp + 0x38]
              108: movsd [rsp + 0x10], xmm14
              118: mulsd xmm1, [rsp + 0x10]
              128: addsd xmm0, xmm1
              133: add rsp, 0x28
              140: add r13, 1
              144: ret
              145: mov eax, 2
              150: add rsp, 0x28
              157: stc
              158: ret
              159: mov eax, 3
              164: add rsp, 0x28
              171: stc
              172: ret
              173: add rsp, 0x28
              180: stc
              181: ret
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
              15: jb 0x124
              21: sub r13, 1
              25: jb 0x124
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x132
              48: movsd xmm0, [rsp + 0x30]
              58: movsd [rsp], xmm0
              68: movsd xmm1, [rsp + 0x38]
              78: movsd [rsp + 8], xmm1
              88: movsd xmm14, [rsp + 0x30]
              98: movsd [rsp + 0x10], xmm14
              108: movsd xmm14, [rsp + 0x38]
              118: movsd [rsp + 0x18], xmm14
              128: movsd xmm0, [rsp + 0x18]
              138: mov rax, <sin>
              148: call rax
              150: movsd [rsp + 0x18], xmm0
              160: movsd xmm14, [rsp + 0x10]
              170: cmpltsd xmm14, [rsp + 0x18]
              181: movsd xmm15, [0x150]
              190: andpd xmm14, xmm15
              195: movsd [rsp + 0x10], xmm14
              205: movsd xmm14, [rsp + 8]
              215: cmpltsd xmm14, [rsp + 0x10]
              226: movsd xmm15, [0x150]
              235: andpd xmm14, xmm15
              240: movapd xmm1, xmm14
              245: movsd xmm14, [rsp]
              255: cmpltsd xmm14, xmm1
              261: movsd xmm15, [0x150]
              270: andpd xmm14, xmm15
              275: movapd xmm0, xmm14
              280: add rsp, 0x28
              287: add r13, 1
              291: ret
              292: mov eax, 2
              297: add rsp, 0x28
              304: stc
              305: ret
              306: mov eax, 3
              311: add rsp, 0x28
              318: stc
              319: ret
              320: add rsp, 0x28
              327: stc
              328: ret
              329: int3
              330: int3
              331: int3
              332: int3
              333: int3
              334: int3
              335: int3
              336: .f64 1
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
              15: jb 0xb3
              21: sub r13, 1
              25: jb 0xb3
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0xc1
              48: movsd xmm0, [rsp + 0x30]
              58: mov rax, <sin>
              68: call rax
              70: movsd [rsp], xmm0
              80: movsd xmm1, [rsp + 0x38]
              90: ucomisd xmm1, [0xd8]
              99: jbe 0x98
              105: movsd xmm1, [rsp + 0x38]
              115: movapd xmm0, xmm1
              120: mov rax, <sin>
              130: call rax
              132: movapd xmm1, xmm0
              137: movsd xmm0, [rsp]
              147: jmp 0xa2
              152: movsd xmm1, [rsp + 0x38]
              162: addsd xmm0, xmm1
              167: add rsp, 0x28
              174: add r13, 1
              178: ret
              179: mov eax, 2
              184: add rsp, 0x28
              191: stc
              192: ret
              193: mov eax, 3
              198: add rsp, 0x28
              205: stc
              206: ret
              207: add rsp, 0x28
              214: stc
              215: ret
              216: .f64 0
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
              15: jb 0xf6
              21: sub r13, 1
              25: jb 0xf6
              31: mov rax, [r12 + 0x10]
              39: cmp byte ptr [rax], 0
              42: jne 0x104
              48: movsd xmm0, [rsp + 0x30]
              58: mov rax, <sin>
              68: call rax
              70: movsd [rsp], xmm0
              80: movsd xmm1, [rsp + 0x38]
              90: ucomisd xmm1, [0x120]
              99: jbe 0x98
              105: movsd xmm1, [rsp + 0x38]
              115: movapd xmm0, xmm1
              120: mov rax, <sin>
              130: call rax
              132: movapd xmm1, xmm0
              137: movsd xmm0, [rsp]
              147: jmp 0xa2
              152: movsd xmm1, [rsp + 0x38]
              162: movsd [rsp + 8], xmm1
              172: movsd xmm2, [rsp + 0x30]
              182: movapd xmm0, xmm2
              187: mov rax, <sin>
              197: call rax
              199: movapd xmm2, xmm0
              204: movsd xmm1, [rsp + 8]
              214: mulsd xmm1, xmm2
              219: movsd xmm0, [rsp]
              229: addsd xmm0, xmm1
              234: add rsp, 0x28
              241: add r13, 1
              245: ret
              246: mov eax, 2
              251: add rsp, 0x28
              258: stc
              259: ret
              260: mov eax, 3
              265: add rsp, 0x28
              272: stc
              273: ret
              274: add rsp, 0x28
              281: stc
              282: ret
              283: int3
              284: int3
              285: int3
              286: int3
              287: int3
              288: .f64 0
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
          7: cmp rsp, [r12]
          15: jb 0x223
          21: sub r13, 1
          25: jb 0x223
          31: mov rax, [r12 + 0x10]
          39: cmp byte ptr [rax], 0
          42: jne 0x231
          48: movsd xmm0, [0x2f8]
          57: ucomisd xmm0, [rsp + 0x70]
          67: jbe 0x53
          73: xorpd xmm0, xmm0
          78: jmp 0x217
          83: movsd xmm0, [rsp + 0x70]
          93: subsd xmm0, [0x2f8]
          102: sub r13, 1
          106: jb 0x248
          112: movsd xmm1, [0x2f8]
          121: ucomisd xmm1, xmm0
          126: jbe 0x8e
          132: xorpd xmm1, xmm1
          137: jmp 0x1fa
          142: movapd xmm1, xmm0
          147: subsd xmm1, [0x2f8]
          156: sub r13, 1
          160: jb 0x26c
          166: movsd xmm2, [0x2f8]
          175: ucomisd xmm2, xmm1
          180: jbe 0xc4
          186: xorpd xmm2, xmm2
          191: jmp 0x1e2
          196: movapd xmm2, xmm1
          201: subsd xmm2, [0x2f8]
          210: sub r13, 1
          214: jb 0x290
          220: movsd xmm3, [0x2f8]
          229: ucomisd xmm3, xmm2
          234: jbe 0xfa
          240: xorpd xmm3, xmm3
          245: jmp 0x1ca
          250: movapd xmm3, xmm2
          255: subsd xmm3, [0x2f8]
          264: sub r13, 1
          268: jb 0x2b4
          274: movsd xmm4, [0x2f8]
          283: ucomisd xmm4, xmm3
          288: jbe 0x130
          294: xorpd xmm4, xmm4
          299: jmp 0x1b2
          304: movapd xmm4, xmm3
          309: subsd xmm4, [0x2f8]
          318: movsd [rsp + 8], xmm0
          328: movsd [rsp + 0x10], xmm1
          338: movsd [rsp + 0x18], xmm2
          348: movsd [rsp + 0x20], xmm3
          358: movsd [rsp], xmm4
          368: call 0x175
          373: jb 0x2d8
          379: movapd xmm4, xmm0
          384: movsd xmm5, [rsp + 0x20]
          394: addsd xmm5, xmm4
          399: movapd xmm4, xmm5
          404: movsd xmm0, [rsp + 8]
          414: movsd xmm1, [rsp + 0x10]
          424: movsd xmm2, [rsp + 0x18]
          434: movapd xmm3, xmm4
          439: add r13, 1
          443: movapd xmm4, xmm2
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
