//! A kernel's machine code: every function of its frozen program compiled
//! into one block of the kernel arena, with every call linked once and
//! for all. Nothing is patched afterwards, so the code may run on any
//! number of threads at once.

use std::collections::HashMap;
use std::sync::Arc;

use super::memory::{arena, Block};
use super::{write_site_pointers, Isa, Registrar, Site, Target};

use crate::error::{Error, ErrorKind};
use crate::runtime::{self, Function, Machine, Namespace, Runtime};

/// Code blocks start on this boundary within the kernel's block.
const ALIGN: usize = 16;

/// The machine code of one kernel.
#[derive(Debug)]
pub(crate) struct KernelCode {
    block: Block,
    /// The sites generated code points to: kept, never read from Rust.
    #[allow(dead_code)]
    sites: Box<[Site]>,
    /// Call sites whose callee is an error in the frozen namespace (an
    /// unknown function, a variable, a wrong arity), by return address:
    /// they go to the stub, which raises it.
    stubs: HashMap<usize, (usize, Site)>,
    /// The direct entry of the kernel's expression, if it is pure (else 0).
    direct: usize,
    /// Its batch loop, if it is pure and fits (else 0).
    batch: usize,
    /// The expression's number of parameters.
    arity: usize,
}

impl KernelCode {
    /// The expression's value for `args`, when it has a direct entry and
    /// `args` has one value per variable.
    #[inline]
    pub fn run_direct(&self, args: &[f64]) -> Option<f64> {
        if self.direct == 0 || args.len() != self.arity {
            return None;
        }
        // SAFETY: `direct` is the direct entry `compile` placed in `block`
        // for the expression, a pure body of `arity` parameters; this code
        // owns the block, so it stays placed for the call.
        Some(unsafe { Target::call_direct(self.direct, args) })
    }

    /// Where the code is placed and how many bytes it takes.
    pub fn placed(&self) -> (usize, usize) {
        (self.block.addr(), self.block.len())
    }

    /// Whether there is a batch loop.
    pub fn has_batch(&self) -> bool {
        self.batch != 0
    }

    /// Computes every row of `out` from `columns` (one per variable, each
    /// as long as `out`) with the batch loop, if there is one; `false`
    /// (nothing written) if not. A last group of fewer rows than the loop
    /// takes at once is padded: every lane is computed alike, so its rows
    /// get the same bits as any other.
    pub fn run_batch(&self, columns: &[&[f64]], out: &mut [f64]) -> bool {
        if self.batch == 0
            || columns.len() != self.arity
            || columns.iter().any(|c| c.len() != out.len())
        {
            return false;
        }
        let lanes = Target::LANES;
        let whole = out.len() - out.len() % lanes;
        if whole > 0 {
            // SAFETY: `batch` is the batch loop `compile` placed in `block`
            // for the expression, of `arity` parameters; this code owns
            // the block. `whole` is a positive multiple of the lanes and
            // every column holds at least that many rows.
            unsafe { Target::call_batch(self.batch, columns, &mut out[..whole]) };
        }
        let rest = out.len() - whole;
        if rest > 0 {
            // The last row repeated fills the lanes past the end.
            let padded: Vec<Vec<f64>> = columns
                .iter()
                .map(|c| (0..lanes).map(|i| c[whole + i.min(rest - 1)]).collect())
                .collect();
            let padded: Vec<&[f64]> = padded.iter().map(Vec::as_slice).collect();
            let mut tail = vec![0.0; lanes];
            // SAFETY: as above, with `lanes` rows in every column.
            unsafe { Target::call_batch(self.batch, &padded, &mut tail) };
            out[whole..].copy_from_slice(&tail[..rest]);
        }
        true
    }
}

/// Compiles `funcs` (every function the kernel's expression can reach,
/// bound in `ns`) and the expression `root` into one block, and sets each
/// function's entry to its code. A pure expression gets only its direct
/// entry.
pub(crate) fn compile(
    ns: &Namespace,
    funcs: &[Arc<Function>],
    root: &Arc<Function>,
    nregs: u8,
) -> Result<KernelCode, String> {
    super::available().map_err(|k| k.to_string())?;
    let nregs = super::registers(nregs);
    let direct = Target::direct(&root.body, root.arity(), nregs).map_err(|e| e.to_string())?;
    let all: Vec<&Arc<Function>> = if direct.is_some() {
        Vec::new()
    } else {
        funcs.iter().chain(std::iter::once(root)).collect()
    };
    // Emit every function; lay them out one after the other.
    let mut parts = Vec::with_capacity(all.len());
    let mut sites: Vec<Site> = Vec::new();
    let mut offset = 0;
    for f in &all {
        let self_sym = f
            .sym
            .filter(|&s| matches!(ns.slot(s), runtime::Slot::Func(g) if Arc::ptr_eq(g, f)));
        let mut registrar = Registrar::default();
        let emitted = Target::function(&f.body, f.arity(), f.cost, &mut registrar, nregs, self_sym)
            .map_err(|e| e.to_string())?;
        super::within_charge(&emitted, f)?;
        let first_site = sites.len();
        sites.extend(registrar.into_sites(&f.source).into_vec());
        parts.push((offset, first_site, emitted));
        offset = (offset + parts.last().map_or(0, |p| p.2.code.len())).next_multiple_of(ALIGN);
    }
    let batch = match &direct {
        Some(_) => Target::batch(&root.body, root.arity()).map_err(|e| e.to_string())?,
        None => None,
    };
    let direct_at = offset;
    // The batch loop's constants are read 32 bytes at a time: align it so
    // that none straddles a cache line.
    let batch_at = (direct_at + direct.as_ref().map_or(0, Vec::len)).next_multiple_of(32);
    let total = batch_at + batch.as_ref().map_or(0, Vec::len);
    let block = arena::alloc(total, |_| Target::glue()).map_err(|e| e.to_string())?;
    let base = block.addr();
    let stub = block.region().glue().stub;
    let sites = sites.into_boxed_slice();
    let index: HashMap<u64, usize> = all.iter().zip(&parts).map(|(f, p)| (f.id, p.0)).collect();
    // Fill in the code: site pointers, then calls.
    let mut code = vec![0xCC; total];
    let mut stubs = HashMap::new();
    for (offset, first_site, emitted) in &parts {
        let bytes = &mut code[*offset..*offset + emitted.code.len()];
        bytes.copy_from_slice(&emitted.code);
        let refs: Vec<(usize, u32)> = emitted
            .site_refs
            .iter()
            .map(|&(at, i)| (at, i + *first_site as u32))
            .collect();
        write_site_pointers(bytes, &refs, &sites).ok_or("a site reference outside the code")?;
        for reloc in &emitted.calls {
            let at = base + offset + reloc.at;
            let target = match runtime::resolve(ns, reloc.sym, reloc.argc) {
                Ok(g) => index.get(&g.id).map(|o| base + o),
                Err(_) => None,
            };
            let to = match target {
                Some(to) => to,
                None => {
                    let site = sites
                        .get(first_site + reloc.site as usize)
                        .cloned()
                        .ok_or("a call without its site")?;
                    stubs.insert(at + Target::CALL_LEN, (reloc.argc, site));
                    stub
                }
            };
            let call = Target::call(at, to).ok_or("call out of range")?;
            bytes[reloc.at..reloc.at + call.len()].copy_from_slice(&call);
        }
    }
    if let Some(d) = &direct {
        code[direct_at..direct_at + d.len()].copy_from_slice(d);
    }
    if let Some(b) = &batch {
        code[batch_at..].copy_from_slice(b);
    }
    block
        .write(&code)
        .map_err(|e| format!("cannot write code memory: {e}"))?;
    for (f, p) in all.iter().zip(&parts) {
        f.tier.set_kernel_entry(base + p.0);
    }
    Ok(KernelCode {
        block,
        sites,
        stubs,
        direct: if direct.is_some() {
            base + direct_at
        } else {
            0
        },
        batch: if batch.is_some() { base + batch_at } else { 0 },
        arity: root.arity(),
    })
}

impl Machine for KernelCode {
    fn promote(&self, _: &Runtime<'_>, _: &Arc<Function>) -> Option<usize> {
        // Frozen: what was not compiled with the kernel is interpreted.
        None
    }

    fn enter(
        &self,
        rt: &Runtime<'_>,
        entry: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        let trampoline = self.block.region().glue().trampoline;
        // SAFETY: `trampoline` is the glue of the region holding this
        // kernel's block, which the block keeps mapped; `entry` is the
        // entry of one of the kernel's functions (set by `compile` into
        // the block this code owns), and a kernel's runtime only ever
        // holds the kernel's own functions.
        unsafe { Target::enter(trampoline, rt, entry, args, budget) }
    }

    fn stub_argc(&self, ret: usize) -> Result<usize, Error> {
        self.stubs
            .get(&ret)
            .map(|(argc, _)| *argc)
            .ok_or_else(|| ErrorKind::Internal("unknown call site".into()).into())
    }

    fn call_through_stub(
        &self,
        rt: &Runtime<'_>,
        ret: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        let (_, site) = self
            .stubs
            .get(&ret)
            .ok_or_else(|| Error::from(ErrorKind::Internal("unknown call site".into())))?;
        let sym = match site.kind {
            super::SiteKind::Call { sym, .. } => sym,
            _ => return Err(ErrorKind::Internal("site is not a call".into()).into()),
        };
        // The frozen namespace decides, as the interpreter would.
        let f = runtime::resolve(rt.ns, sym, args.len()).map_err(|k| site.error(k))?;
        (rt.interpret)(rt, f, args, budget).map_err(|e| match e.span {
            None => site.error(e.kind),
            Some(_) => e,
        })
    }
}
