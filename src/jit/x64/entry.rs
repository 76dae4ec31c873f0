//! The boundary between Rust and generated code on x86-64: the trampoline
//! that enters machine code, the stub that leaves it for the runtime, and
//! the runtime helpers generated code calls. Everything here that touches
//! a raw pointer is `unsafe` with a `// SAFETY:` note; helpers never let a
//! panic cross the `extern "sysv64"` boundary (a panic there would abort):
//! they catch it and return an error status instead.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};

use super::emit::{CTX_STOP, STATUS_ERROR, STATUS_OK, STATUS_STACK};
use super::vector::LANES;
use crate::error::{Error, ErrorKind};
use crate::jit::{Site, SiteKind};
use crate::native::Native;
use crate::runtime::{self, Runtime};
use crate::stack::{approx_sp, with_eval_stack, StackGuard};

/// What the trampoline, the stub and value-returning helpers return:
/// `status` in `rax` and `value` in `xmm0` (a `#[repr(C)]` pair of one
/// INTEGER and one SSE eightbyte is returned that way by the sysv64 ABI).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtResult {
    pub status: u64,
    pub value: f64,
}

impl RtResult {
    fn ok(value: f64) -> RtResult {
        RtResult {
            status: u64::from(STATUS_OK),
            value,
        }
    }

    fn error() -> RtResult {
        RtResult {
            status: u64::from(STATUS_ERROR),
            value: 0.0,
        }
    }
}

/// The runtime context generated code keeps in `r12`, one per entry into
/// machine code, on the entering thread's stack.
#[repr(C)]
pub(crate) struct Ctx {
    /// `[r12 + CTX_STOP]`: the stop flag of this evaluation's epoch
    /// ([`runtime::StopState`]), which another thread may set.
    pub stop: *const AtomicUsize,
    /// The `Runtime` of the evaluation in progress.
    pub rt: *const c_void,
}

const _: () = assert!(std::mem::offset_of!(Ctx, stop) == CTX_STOP as usize);

/// `extern "sysv64" fn(ctx, entry, args, argc, budget) -> RtResult`
type Trampoline = extern "sysv64" fn(*const Ctx, usize, *const f64, usize, u64) -> RtResult;

/// Machine code for the trampoline and the stub, assembled at offset 0;
/// returns `(bytes, stub offset)`. Position independent: it calls the
/// stub handler through an absolute address.
pub(crate) fn glue() -> (Vec<u8>, usize) {
    let call_stub = rt_call_stub as *const () as i64;
    let mut ops: VecAssembler<X64Relocation> = VecAssembler::new(0);
    // Trampoline: fn(ctx: rdi, entry: rsi, args: rdx, argc: rcx, budget: r8) -> RtResult
    //   push rbp ; mov rbp, rsp ; push r12 ; push r13   (rsp is 16-aligned)
    //   mov r12, rdi ; mov r13, r8                      (CTX, BUDGET)
    //   lea rax, [rcx*8 + 15] ; and rax, -16 ; sub rsp, rax
    //   copy args[0..argc] to [rsp], [rsp+8], ...
    //   call rsi ; jc failed ; xor eax, eax ; failed:   (CF=1: status in eax)
    //   lea rsp, [rbp - 16] ; pop r13 ; pop r12 ; pop rbp ; ret
    dynasm!(ops
        ; .arch x64
        ; push rbp
        ; mov rbp, rsp
        ; push r12
        ; push r13
        ; mov r12, rdi
        ; mov r13, r8
        ; lea rax, [rcx * 8 + 15]
        ; and rax, -16
        ; sub rsp, rax
        ; test rcx, rcx
        ; jz >go
        ; copy_arg:
        ; mov rax, [rdx + rcx * 8 - 8]
        ; mov [rsp + rcx * 8 - 8], rax
        ; dec rcx
        ; jnz <copy_arg
        ; go:
        ; call rsi
        ; jc >failed
        ; xor eax, eax
        ; failed:
        ; mov eax, eax
        ; lea rsp, [rbp - 16]
        ; pop r13
        ; pop r12
        ; pop rbp
        ; ret
        ; .align 16, 0xCC
    );
    let stub = ops.offset().0;
    // Stub: the target of every call site whose callee has no machine code
    // (or whose binding must be checked). Entered by `call rel32`, so
    // [rsp] is the return address (it identifies the site) and the
    // arguments are above it.
    //   push rbp ; mov rbp, rsp
    //   mov rdi, r12 ; mov rsi, [rbp + 8] ; lea rdx, [rbp + 16] ; mov rcx, r13
    //   call rt_call_stub ; cmp eax, 1 ; cmc   (CF=1 iff the status is not 0)
    //   pop rbp ; ret                          (status in eax, value in xmm0)
    dynasm!(ops
        ; .arch x64
        ; push rbp
        ; mov rbp, rsp
        ; mov rdi, r12
        ; mov rsi, [rbp + 8]
        ; lea rdx, [rbp + 16]
        ; mov rcx, r13
        ; mov rax, QWORD call_stub
        ; call rax
        ; cmp eax, 1
        ; cmc
        ; pop rbp
        ; ret
    );
    // Glue assembles from constants: a failure here is a bug in this file
    // that every test would show.
    let code = ops.finalize().unwrap_or_default();
    (code, stub)
}

/// Helper addresses for the code generator.
pub(crate) fn helpers() -> super::emit::Helpers {
    super::emit::Helpers {
        global: rt_global as *const () as usize,
        fail: rt_fail as *const () as usize,
        call_failed: rt_call_failed as *const () as usize,
        native: rt_native as *const () as usize,
    }
}

/// Runs generated code at `entry` with `args` through the trampoline at
/// `trampoline`; `budget` is the stack budget left (the entered function's
/// prologue charges its own cost). Machine code always starts with a full
/// evaluation stack ([`with_eval_stack`]): its frames never exceed what
/// they are charged, so the budget runs out before the stack can.
///
/// # Safety
///
/// `trampoline` is the glue of a region that stays mapped for the call,
/// and `entry` the entry of a function of `args.len()` parameters whose
/// code stays placed for the call (its owner — a [`crate::runtime::Tier`]
/// or a kernel — is alive and not changed while machine code runs), made
/// for the runtime `rt` describes (an engine's code for its engine, a
/// kernel's for its kernel).
pub(crate) unsafe fn enter(
    trampoline: usize,
    rt: &Runtime<'_>,
    entry: usize,
    args: &[f64],
    budget: u64,
) -> Result<f64, Error> {
    let result = with_eval_stack(|| {
        // The trampoline copies the arguments below the stack pointer
        // before any code of ours runs: make sure they fit.
        let room = approx_sp().saturating_sub(StackGuard::here().floor());
        if args.len().saturating_mul(8).saturating_add(64 << 10) > room {
            return None;
        }
        let ctx = Ctx {
            stop: rt.stop.flag(rt.epoch),
            rt: rt as *const Runtime<'_> as *const c_void,
        };
        // SAFETY: per the contract above, `trampoline` is placed,
        // executable glue following the signature of `Trampoline`; it runs
        // `entry`, which reads `args.len()` values through the pointer and
        // reaches this runtime only through `ctx`, which outlives the call.
        let trampoline: Trampoline =
            unsafe { std::mem::transmute::<usize, Trampoline>(trampoline) };
        Some(trampoline(&ctx, entry, args.as_ptr(), args.len(), budget))
    });
    let Some(result) = result else {
        return Err(ErrorKind::RecursionTooDeep.into());
    };
    match result.status as u32 {
        STATUS_OK => Ok(result.value),
        STATUS_STACK if rt.stopped() => Err(ErrorKind::Interrupted.into()),
        STATUS_STACK => Err(ErrorKind::RecursionTooDeep.into()),
        _ => Err(rt
            .take_pending()
            .unwrap_or_else(|| ErrorKind::Internal("machine code lost its error".into()).into())),
    }
}

/// `extern "sysv64" fn(args) -> f64`: a pure function's direct entry.
type Direct = extern "sysv64" fn(*const f64) -> f64;

/// Calls the direct entry of a pure function with `args`.
///
/// # Safety
///
/// `entry` is a direct entry made by `emit::direct_function` for a body of
/// exactly `args.len()` parameters, whose code stays placed for the call
/// (its owner is alive and unchanged while it runs).
#[inline]
pub(crate) unsafe fn call_direct(entry: usize, args: &[f64]) -> f64 {
    // SAFETY: per the contract above, `entry` is placed, executable code
    // with the `Direct` signature that reads `args.len()` values from the
    // pointer and touches nothing else; a pure body cannot fail, call the
    // runtime or recurse, and its frame is small (see `direct_function`).
    let f: Direct = unsafe { std::mem::transmute::<usize, Direct>(entry) };
    f(args.as_ptr())
}

/// `extern "sysv64" fn(columns, out, rows)`: a pure body's batch loop.
type Batch = extern "sysv64" fn(*const *const f64, *mut f64, usize);

/// Runs the batch loop at `entry` (made by `vector::batch_function`) over
/// every row of `out`: `out[i]` gets the body's value for row `i` of
/// `columns`.
///
/// # Safety
///
/// `entry` is a batch loop made for a body of exactly `columns.len()`
/// parameters, whose code stays placed for the call (its kernel is alive).
/// The lengths the loop relies on are checked here.
pub(crate) unsafe fn call_batch(entry: usize, columns: &[&[f64]], out: &mut [f64]) {
    let rows = out.len();
    assert!(
        rows > 0 && rows.is_multiple_of(LANES) && columns.iter().all(|c| c.len() >= rows),
        "a batch of {rows} rows"
    );
    let pointers: Vec<*const f64> = columns.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: per the contract above `entry` is placed, executable code
    // with the `Batch` signature, made for `columns.len()` columns. It
    // reads rows `0..rows` of each column through `pointers` and writes
    // rows `0..rows` of `out`, all in bounds (checked above: `rows` is a
    // positive multiple of the lanes, as the loop needs), and touches
    // nothing else: a pure body cannot fail, call the runtime or recurse,
    // and built-ins are plain functions.
    let f: Batch = unsafe { std::mem::transmute::<usize, Batch>(entry) };
    f(pointers.as_ptr(), out.as_mut_ptr(), rows);
}

/// Recovers the runtime from the context generated code passes back.
///
/// # Safety
/// `ctx` must be the pointer `enter` passed to the trampoline, still live
/// (generated code only calls helpers while `enter` is on the stack).
unsafe fn runtime<'a>(ctx: *const Ctx) -> &'a Runtime<'a> {
    // SAFETY: per the contract above, `ctx` points to the `Ctx` on
    // `enter`'s frame, whose `rt` is a shared reference to a live Runtime.
    unsafe { &*((*ctx).rt as *const Runtime<'a>) }
}

/// Recovers a site from the pointer generated code passes.
///
/// # Safety
/// `site` must be a pointer the linker wrote into the calling code: it
/// points into that code's site table, which lives as long as the code.
unsafe fn site<'a>(site: *const Site) -> &'a Site {
    // SAFETY: per the contract above.
    unsafe { &*site }
}

/// Runs a helper body, turning an error or a panic into a status (the
/// error is left in the runtime for `enter` to return).
fn guarded(rt: &Runtime<'_>, body: impl FnOnce() -> Result<f64, Error>) -> RtResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(x)) => RtResult::ok(x),
        Ok(Err(e)) => {
            rt.set_pending(e);
            RtResult::error()
        }
        Err(_) => {
            rt.set_pending(ErrorKind::Internal("a panic in the JIT runtime".into()).into());
            RtResult::error()
        }
    }
}

/// Reads the global variable named at `site` (late binding).
extern "sysv64" fn rt_global(ctx: *const Ctx, site: *const Site) -> RtResult {
    // SAFETY: called only by generated code, with the CTX it was entered
    // with and a site pointer its linker wrote.
    let (rt, s) = unsafe { (runtime(ctx), self::site(site)) };
    guarded(rt, || match s.kind {
        SiteKind::Global(sym) => runtime::global(rt.ns, sym).map_err(|k| s.error(k)),
        _ => Err(ErrorKind::Internal("site is not a global".into()).into()),
    })
}

/// Raises the error recorded at `site`.
extern "sysv64" fn rt_fail(ctx: *const Ctx, site: *const Site) -> RtResult {
    // SAFETY: called only by generated code, with the CTX it was entered
    // with and a site pointer its linker wrote.
    let (rt, s) = unsafe { (runtime(ctx), self::site(site)) };
    guarded(rt, || match &s.kind {
        SiteKind::Fail(kind) => Err(s.error(kind.clone())),
        _ => Err(ErrorKind::Internal("site is not a failure".into()).into()),
    })
}

/// A call at `site` returned `status`; an error without a position (the
/// budget ran out in the callee) is reported at this call, as the
/// interpreter does.
extern "sysv64" fn rt_call_failed(ctx: *const Ctx, site: *const Site, status: u32) -> u64 {
    // SAFETY: called only by generated code, with the CTX it was entered
    // with and a site pointer its linker wrote.
    let (rt, s) = unsafe { (runtime(ctx), self::site(site)) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if status == STATUS_STACK {
            // Out of budget, out of stack, or stopped.
            let kind = if rt.stopped() {
                ErrorKind::Interrupted
            } else {
                ErrorKind::RecursionTooDeep
            };
            rt.set_pending(s.error(kind));
        } else {
            let mut pending = rt.pending.borrow_mut();
            if let Some(e) = pending.as_mut() {
                if e.span.is_none() {
                    e.span = Some(s.span);
                    e.source = Some(s.source.clone());
                }
            }
        }
    }));
    u64::from(STATUS_ERROR)
}

/// Calls the native function `native` with the arguments at `args` (the
/// body of a native's machine code).
extern "sysv64" fn rt_native(ctx: *const Ctx, native: *const Native, args: *const f64) -> RtResult {
    // SAFETY: called only by generated code, with the CTX it was entered
    // with. `native` is the pointer the code generator took from the body
    // it compiled, which holds the `Arc<Native>` as long as the code lives.
    let (rt, native) = unsafe { (runtime(ctx), &*native) };
    // SAFETY: the caller stored `arity` arguments at [rsp], [rsp+8], ...
    // above its return address and passes their address; they stay there
    // until this call returns.
    let args = unsafe { std::slice::from_raw_parts(args, native.arity) };
    // `Native::call` catches the closure's panic itself.
    guarded(rt, || native.call(args).map_err(Error::from))
}

/// Entered from the stub: the call whose return address is `ret` has no
/// direct target. Resolves the callee now (late binding), runs it in the
/// right tier, and patches the call site when the callee has machine code.
extern "sysv64" fn rt_call_stub(
    ctx: *const Ctx,
    ret: usize,
    args: *const f64,
    budget: u64,
) -> RtResult {
    // SAFETY: called only by the stub, with the CTX it was entered with.
    let rt = unsafe { runtime(ctx) };
    guarded(rt, || {
        let machine = rt
            .machine
            .ok_or_else(|| Error::from(ErrorKind::Internal("machine code without a JIT".into())))?;
        let argc = machine.stub_argc(ret)?;
        // SAFETY: the caller stored `argc` arguments at [rsp], [rsp+8], ...
        // before its `call`; the stub passes the address just above the
        // return address, which is where they are, and they stay there
        // until this call returns.
        let args = unsafe { std::slice::from_raw_parts(args, argc) };
        machine.call_through_stub(rt, ret, args, budget)
    })
}
