//! Disassembly of placed code with iced-x86, for `exprjit asm` and `:asm`.

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};

/// One line per instruction: address, bytes, Intel syntax, and a note
/// from `annotate` (given the instruction's address and length).
pub(crate) fn listing(
    addr: usize,
    bytes: &[u8],
    annotate: &dyn Fn(usize, usize) -> Option<String>,
) -> String {
    let mut decoder = Decoder::with_ip(64, bytes, addr as u64, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(8);
    let mut out = String::new();
    let mut text = String::new();
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        text.clear();
        formatter.format(&insn, &mut text);
        let start = (insn.ip() as usize) - addr;
        let hex: Vec<String> = bytes[start..start + insn.len()]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let note = annotate(insn.ip() as usize, insn.len())
            .map(|n| format!("  ; {n}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:016X}  {:<30} {text}{note}\n",
            insn.ip(),
            hex.join(" ")
        ));
    }
    out
}
