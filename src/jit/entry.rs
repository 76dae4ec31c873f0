//! The boundary between Rust and generated code: the trampoline that enters
//! machine code, the stub that leaves it for the runtime, and the runtime
//! helpers generated code calls. Everything here that touches a raw pointer
//! is `unsafe` with a `// SAFETY:` note; helpers never panic across the
//! `extern "sysv64"` boundary (a panic there would abort): they catch it and
//! return an error status instead.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, VecAssembler};

use super::emit::{CTX_LIMIT, STATUS_ERROR, STATUS_OK, STATUS_STACK};
use crate::engine::Runtime;
use crate::error::{Error, ErrorKind};

/// What the trampoline, the stub and value-returning helpers return:
/// `status` in `rax` and `value` in `xmm0` (a `#[repr(C)]` pair of one
/// INTEGER and one SSE eightbyte is returned that way by the sysv64 ABI).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RtResult {
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

/// The runtime context generated code keeps in `r12`.
#[repr(C)]
pub struct Ctx {
    /// Where the lowest address the stack may reach is kept (`[r12 +
    /// CTX_LIMIT]`): the engine's `limit`, which an `Interrupter` raises
    /// above every stack to stop the evaluation.
    pub limit: *const AtomicUsize,
    /// The `Runtime` of the evaluation in progress.
    pub rt: *const c_void,
}

const _: () = assert!(std::mem::offset_of!(Ctx, limit) == CTX_LIMIT as usize);

/// `extern "sysv64" fn(ctx, entry, args, argc, budget) -> RtResult`
type Trampoline = extern "sysv64" fn(*const Ctx, usize, *const f64, usize, u64) -> RtResult;

/// Machine code for the trampoline and the stub, assembled at offset 0;
/// returns `(bytes, stub offset)`.
pub fn glue(call_stub: usize) -> (Vec<u8>, usize) {
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
        ; mov rax, QWORD call_stub as i64
        ; call rax
        ; cmp eax, 1
        ; cmc
        ; pop rbp
        ; ret
    );
    let code = ops.finalize().expect("glue assembles");
    (code, stub)
}

/// The address of the runtime's stub handler, for [`glue`].
pub fn call_stub_handler() -> usize {
    rt_call_stub as *const () as usize
}

/// Helper addresses for the code generator.
pub fn helpers() -> super::emit::Helpers {
    super::emit::Helpers {
        global: rt_global as *const () as usize,
        fail: rt_fail as *const () as usize,
        call_failed: rt_call_failed as *const () as usize,
    }
}

/// Runs generated code at `entry` with `args` through the trampoline;
/// `budget` is how many more calls may nest (the entered function's own
/// prologue takes one).
pub(crate) fn enter(
    rt: &Runtime<'_>,
    trampoline: usize,
    entry: usize,
    args: &[f64],
    budget: u64,
) -> Result<f64, Error> {
    let ctx = Ctx {
        limit: rt.limit as *const AtomicUsize,
        rt: rt as *const Runtime<'_> as *const c_void,
    };
    // SAFETY: `trampoline` is the address of the glue assembled by `glue`
    // and placed in executable code memory that lives as long as the Jit,
    // which `rt` borrows; its code follows the signature of `Trampoline`.
    let trampoline: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(trampoline) };
    let result = trampoline(&ctx, entry, args.as_ptr(), args.len(), budget);
    match result.status as u32 {
        STATUS_OK => Ok(result.value),
        STATUS_STACK if rt.stopped() => Err(ErrorKind::Interrupted.into()),
        STATUS_STACK => Err(ErrorKind::RecursionTooDeep.into()),
        _ => Err(rt
            .jit()
            .take_pending()
            .unwrap_or_else(|| ErrorKind::Unsupported("internal error: lost error".into()).into())),
    }
}

/// `extern "sysv64" fn(args) -> f64`: a pure function's direct entry.
type Direct = extern "sysv64" fn(*const f64) -> f64;

/// Calls the direct entry of a pure function with `args`.
///
/// The caller passes an entry made by `emit::direct_function` for a function of
/// exactly `args.len()` parameters, whose code lives as long as the
/// function's `Tier::direct` holds it (code is freed only after that is
/// reset, between statements).
#[inline]
pub(crate) fn call_direct(entry: usize, args: &[f64]) -> f64 {
    // SAFETY: per the contract above, `entry` is placed, executable code
    // with the `Direct` signature that reads `args.len()` values from the
    // pointer and touches nothing else of ours; a pure body cannot fail or
    // re-enter the runtime.
    let f: Direct = unsafe { std::mem::transmute::<usize, Direct>(entry) };
    f(args.as_ptr())
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

/// Runs a helper body, turning a panic into an internal error.
fn guarded(rt: &Runtime<'_>, body: impl FnOnce() -> Result<f64, Error>) -> RtResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(x)) => RtResult::ok(x),
        Ok(Err(e)) => {
            rt.jit().set_pending(e);
            RtResult::error()
        }
        Err(_) => {
            rt.jit().set_pending(
                ErrorKind::Unsupported("internal error in the JIT runtime".into()).into(),
            );
            RtResult::error()
        }
    }
}

/// Reads the global variable named at `site`.
extern "sysv64" fn rt_global(ctx: *const Ctx, site: u32) -> RtResult {
    // SAFETY: called only by generated code, with the CTX it was entered with.
    let rt = unsafe { runtime(ctx) };
    guarded(rt, || rt.jit().read_global(rt, site))
}

/// Raises the error recorded at `site`.
extern "sysv64" fn rt_fail(ctx: *const Ctx, site: u32) -> RtResult {
    // SAFETY: called only by generated code, with the CTX it was entered with.
    let rt = unsafe { runtime(ctx) };
    guarded(rt, || Err(rt.jit().site_error(site)))
}

/// A call at `site` returned `status`; an error without a position (the
/// stack ran out in the callee) is reported at this call, as the
/// interpreter does.
extern "sysv64" fn rt_call_failed(ctx: *const Ctx, site: u32, status: u32) -> u64 {
    // SAFETY: called only by generated code, with the CTX it was entered with.
    let rt = unsafe { runtime(ctx) };
    let stopped = rt.stopped();
    let _ = catch_unwind(AssertUnwindSafe(|| {
        rt.jit().call_failed(site, status, stopped)
    }));
    u64::from(STATUS_ERROR)
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
        let argc = rt.jit().call_site_argc(ret)?;
        // SAFETY: the caller stored `argc` arguments at [rsp], [rsp+8], ...
        // before its `call`; the stub passes the address just above the
        // return address, which is where they are, and they stay there
        // until this call returns.
        let args = unsafe { std::slice::from_raw_parts(args, argc) };
        rt.jit().call_through_stub(rt, ret, args, budget)
    })
}
