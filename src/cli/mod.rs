//! The command line's subcommands, on top of the library's API.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use exprjit::{Error, ErrorKind, Source, MAX_SOURCE};

pub mod bench;
#[cfg(target_arch = "x86_64")]
pub mod demo;
pub mod map;
pub mod repl;
pub mod warmup;

/// Reads a program from `input` (its source called `name`; `what` it is in
/// messages, like `'prog.ej'` or `standard input`): at most
/// [`MAX_SOURCE`] bytes — one byte more is refused without reading on —
/// in valid UTF-8. Reading stops early, with `interrupted`, once `stop` is
/// set (Ctrl-C during a long `:load`).
pub fn read_source(
    mut input: impl Read,
    name: &str,
    what: &str,
    stop: Option<&AtomicBool>,
) -> Result<Arc<Source>, Error> {
    const CHUNK: usize = 1 << 20;
    let mut bytes = Vec::new();
    let mut chunk = vec![0; CHUNK];
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(ErrorKind::Interrupted.into());
        }
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ErrorKind::Input(format!("cannot read {what}: {e}")).into()),
        };
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() > MAX_SOURCE {
            let too_large = format!(
                "{what}: program too large ({} MiB at most)",
                MAX_SOURCE >> 20
            );
            return Err(ErrorKind::Input(too_large).into());
        }
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => Err(ErrorKind::Input(format!(
            "{name} is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
        .into()),
    }
}

/// Opens `path` for [`read_source`], or says why it cannot be.
pub fn open(path: &std::path::Path) -> Result<std::fs::File, Error> {
    std::fs::File::open(path)
        .map_err(|e| ErrorKind::Input(format!("cannot read '{}': {e}", path.display())).into())
}
