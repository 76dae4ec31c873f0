//! The front end on arbitrary bytes: lexing, parsing, lowering and running
//! (in the interpreter, with a small budget) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = exprjit::internals::parse_program(text);
    // Run only programs without user functions, so the input cannot
    // recurse forever; everything else is exercised by parsing above.
    if !text.contains('(') || !text.contains('=') {
        let mut engine = exprjit::Engine::with_options(exprjit::Options {
            mode: exprjit::Mode::Interp,
            ..Default::default()
        });
        if let Err(e) = engine.eval(text) {
            let _ = e.render();
        }
    }
});
