//! [`Kernel`]: one compiled expression, frozen, for any number of threads.
//!
//! [`crate::Engine::kernel`] copies out of the engine everything the
//! expression can reach — every user and native function it may call, the
//! value of every global it reads — into a program of its own ([`freeze`]),
//! and compiles that program into one block of machine code. Nothing in a
//! kernel changes afterwards, so it is `Send + Sync`, outlives its engine,
//! and evaluates concurrently with `&self`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::analysis::BUDGET;
use crate::error::{Error, ErrorKind};
use crate::interp;
use crate::jit::{self, kernel::KernelCode};
use crate::lower::{Globals, Node, Sym};
use crate::pool;
use crate::runtime::{self, Function, Interrupter, Machine, Namespace, Runtime, Slot, StopState};
use crate::stack::{with_eval_stack, StackGuard};

/// Rows a batch computes between two looks at the stop flag (and at
/// whether a lower row failed on another thread).
const CHUNK: usize = 4096;

/// Batches of fewer rows stay on the calling thread: handing work to the
/// pool costs more than it saves (docs/performance.md).
const PARALLEL_MIN: usize = 16 * CHUNK;

/// One compiled formula, frozen, usable from every thread at once.
///
/// Made by [`crate::Engine::kernel`] from an expression handle. It holds a
/// snapshot of the expression and of every user function, native function
/// and global variable it can reach, as they were when it was made: later
/// changes to the engine do not affect it, and it outlives the engine. Its
/// values and errors are those [`crate::Engine::eval_handle`] would have
/// given at that moment, whatever thread evaluates it. It runs in the
/// engine's mode: [`crate::Mode::Interp`] interprets, the others run
/// machine code from the first evaluation.
///
/// Cloning is cheap (a reference count); clones share the code.
///
/// ```
/// use exprjit::Engine;
/// let mut engine = Engine::new();
/// engine.eval("k = 2; sq(x) = x * x")?;
/// let h = engine.compile_expr("k * sq(x) + y", &["x", "y"])?;
/// let kernel = engine.kernel(&h)?;
/// drop(engine);
/// let threads: Vec<_> = (0..4)
///     .map(|i| {
///         let k = kernel.clone();
///         std::thread::spawn(move || k.eval(&[i as f64, 1.0]))
///     })
///     .collect();
/// let values: Vec<f64> = threads
///     .into_iter()
///     .map(|t| t.join().unwrap())
///     .collect::<Result<_, _>>()?;
/// assert_eq!(values, [1.0, 3.0, 9.0, 19.0]);
/// # Ok::<(), exprjit::Error>(())
/// ```
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<Inner>,
}

struct Inner {
    /// The frozen program: every name the expression can reach.
    ns: Namespace,
    /// The expression, a function of the kernel's variables.
    func: Arc<Function>,
    /// Its machine code (none in interp mode, or if it could not be
    /// compiled: then it is interpreted).
    code: Option<KernelCode>,
    stop: Arc<StopState>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("vars", &self.inner.func.params)
            .field("machine_code", &self.inner.code.is_some())
            .finish()
    }
}

// A kernel is shared between threads: the compiler checks it stays so.
const _: () = {
    const fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Kernel>()
};

impl Kernel {
    /// Freezes `func` (an expression handle's function) over `ns` and,
    /// when `compile`, compiles it with `registers` value registers.
    pub(crate) fn new(
        ns: &Namespace,
        func: &Function,
        compile: bool,
        registers: u8,
    ) -> Result<Kernel, Error> {
        with_eval_stack(|| {
            let (kns, funcs, root) = freeze(ns, func)?;
            let code = compile
                .then(|| jit::kernel::compile(&kns, &funcs, &root, registers).ok())
                .flatten();
            Ok(Kernel {
                inner: Arc::new(Inner {
                    ns: kns,
                    func: root,
                    code,
                    stop: Arc::default(),
                }),
            })
        })
    }

    /// The variables, in the order [`Kernel::eval`] takes their values.
    pub fn vars(&self) -> &[String] {
        &self.inner.func.params
    }

    /// Where its machine code is placed and how many bytes it takes.
    pub(crate) fn placed(&self) -> Option<(usize, usize)> {
        self.inner.code.as_ref().map(KernelCode::placed)
    }

    /// Whether `eval_batch` runs a loop of machine code over the rows.
    pub(crate) fn has_batch_loop(&self) -> bool {
        self.inner.code.as_ref().is_some_and(KernelCode::has_batch)
    }

    /// Whether it runs as machine code.
    pub fn is_compiled(&self) -> bool {
        self.inner.code.is_some()
    }

    /// Evaluates the formula with one value per variable.
    ///
    /// A pure formula (no calls of user or native functions, no globals
    /// that failed to resolve) in a machine-code mode is one direct call;
    /// anything else runs on a stack big enough for the recursion limits
    /// (see the crate docs).
    #[inline]
    pub fn eval(&self, values: &[f64]) -> Result<f64, Error> {
        let inner = &*self.inner;
        if let Some(v) = inner.code.as_ref().and_then(|c| c.run_direct(values)) {
            return Ok(v);
        }
        self.eval_slow(values)
    }

    #[inline(never)]
    fn eval_slow(&self, values: &[f64]) -> Result<f64, Error> {
        let inner = &*self.inner;
        if values.len() != inner.func.arity() {
            return Err(ErrorKind::Arity {
                name: "kernel".into(),
                expected: inner.func.arity(),
                got: values.len(),
            }
            .into());
        }
        let rt = Runtime {
            ns: &inner.ns,
            machine: inner.code.as_ref().map(|c| c as &dyn Machine),
            interpret: interp::run,
            stop: &inner.stop,
            epoch: inner.stop.epoch(),
            hot_at: u64::MAX,
            pending: Default::default(),
        };
        rt.call(&inner.func, values, BUDGET)
    }

    /// Evaluates the formula for every row: `columns` holds one column per
    /// variable (in [`Kernel::vars`] order), all as long as `out`, and
    /// `out[i]` receives exactly the bits [`Kernel::eval`] gives for row
    /// `i`. A kernel of no variables takes no columns and fills `out`.
    ///
    /// Columns of another count or length are an error
    /// ([`ErrorKind::BatchShape`]). If rows fail, the error is the lowest
    /// failing row's, with [`Error::row`] set to it; `out` before that row
    /// is written, the rest is unspecified. A stop from
    /// [`Kernel::interrupter`] ends it with [`ErrorKind::Interrupted`].
    ///
    /// A pure formula (no user or native calls, no globals that fail)
    /// compiled to machine code runs as a loop over the rows, four at a
    /// time in AVX2 registers; anything else is evaluated row by row. A
    /// batch of 65,536 rows or more is split among `EXPRJIT_THREADS`
    /// threads (default: one per core; 1: the calling thread only), the
    /// calling thread and a pool of exprjit's own; neither the values nor
    /// the error depend on how many.
    ///
    /// ```
    /// let mut engine = exprjit::Engine::new();
    /// let h = engine.compile_expr("x * y + 1", &["x", "y"])?;
    /// let kernel = engine.kernel(&h)?;
    /// let (x, y) = ([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]);
    /// let mut out = [0.0; 3];
    /// kernel.eval_batch(&[&x, &y], &mut out)?;
    /// assert_eq!(out, [11.0, 41.0, 91.0]);
    /// # Ok::<(), exprjit::Error>(())
    /// ```
    pub fn eval_batch(&self, columns: &[&[f64]], out: &mut [f64]) -> Result<(), Error> {
        self.eval_batch_split(columns, out, pool::threads())
    }

    /// [`Kernel::eval_batch`] with a large batch split into `threads`
    /// parts (computed by the pool, whatever its size).
    pub(crate) fn eval_batch_split(
        &self,
        columns: &[&[f64]],
        out: &mut [f64],
        threads: usize,
    ) -> Result<(), Error> {
        let arity = self.inner.func.arity();
        if columns.len() != arity {
            return Err(ErrorKind::BatchShape(format!(
                "the kernel has {arity} variable{}, got {} column{}",
                if arity == 1 { "" } else { "s" },
                columns.len(),
                if columns.len() == 1 { "" } else { "s" }
            ))
            .into());
        }
        if let Some((i, c)) = columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.len() != out.len())
        {
            return Err(ErrorKind::BatchShape(format!(
                "column {i} has {} rows, the output {}",
                c.len(),
                out.len()
            ))
            .into());
        }
        let epoch = self.inner.stop.epoch();
        let lowest = AtomicUsize::new(usize::MAX);
        let rows = out.len();
        let pool = match threads > 1 && rows >= PARALLEL_MIN {
            true => pool::get(),
            false => None,
        };
        let Some(pool) = pool else {
            return self.batch_part(columns, out, 0, epoch, &lowest);
        };
        // Contiguous parts, one per thread, the calling thread taking the
        // first; each stops early once a lower row has failed.
        let per = rows.div_ceil(threads).next_multiple_of(CHUNK);
        let mut parts: Vec<(usize, &mut [f64])> = Vec::with_capacity(threads);
        let mut rest = out;
        let mut start = 0;
        while !rest.is_empty() {
            let (part, tail) = rest.split_at_mut(per.min(rest.len()));
            parts.push((start, part));
            start += per;
            rest = tail;
        }
        let mut results: Vec<Result<(), Error>> = Vec::with_capacity(parts.len());
        results.resize_with(parts.len(), || Ok(()));
        let (first, others) = parts.split_first_mut().expect("at least one part");
        let (first_result, other_results) = results.split_first_mut().expect("as many");
        let lowest = &lowest;
        pool.in_place_scope(|scope| {
            for ((start, part), result) in others.iter_mut().zip(other_results) {
                let columns: Vec<&[f64]> = columns
                    .iter()
                    .map(|c| &c[*start..*start + part.len()])
                    .collect();
                let start = *start;
                scope.spawn(move |_| {
                    *result = self.batch_part(&columns, part, start, epoch, lowest);
                });
            }
            let columns: Vec<&[f64]> = columns.iter().map(|c| &c[..first.1.len()]).collect();
            *first_result = self.batch_part(&columns, first.1, 0, epoch, lowest);
        });
        // A stop ends the whole batch; otherwise the lowest failing row.
        let errors = results.into_iter().filter_map(Result::err);
        let (stops, failures): (Vec<Error>, Vec<Error>) =
            errors.partition(|e| e.kind == ErrorKind::Interrupted && e.row.is_none());
        match stops.into_iter().next() {
            Some(stop) => Err(stop),
            None => failures
                .into_iter()
                .min_by_key(|e| e.row)
                .map_or(Ok(()), Err),
        }
    }

    /// Rows `first..first + out.len()` of a batch (`columns` cut to them),
    /// chunk by chunk: by the batch loop when the kernel has one, else row
    /// by row. Stops at the first failing row (recording it in `lowest`),
    /// when a lower row has failed elsewhere, or when the kernel is stopped.
    fn batch_part(
        &self,
        columns: &[&[f64]],
        out: &mut [f64],
        first: usize,
        epoch: u64,
        lowest: &AtomicUsize,
    ) -> Result<(), Error> {
        let inner = &*self.inner;
        let stopped = || inner.stop.epoch() != epoch;
        let mut row = vec![0.0; columns.len()];
        for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
            let start = c * CHUNK;
            if stopped() {
                return Err(ErrorKind::Interrupted.into());
            }
            if lowest.load(Ordering::Relaxed) < first + start {
                return Ok(());
            }
            let cols: Vec<&[f64]> = columns
                .iter()
                .map(|col| &col[start..start + chunk.len()])
                .collect();
            if inner
                .code
                .as_ref()
                .is_some_and(|code| code.run_batch(&cols, chunk))
            {
                continue;
            }
            for (i, o) in chunk.iter_mut().enumerate() {
                for (x, col) in row.iter_mut().zip(&cols) {
                    *x = col[i];
                }
                match self.eval(&row) {
                    Ok(v) => *o = v,
                    Err(e) => {
                        if e.kind != ErrorKind::Interrupted {
                            lowest.fetch_min(first + start + i, Ordering::Relaxed);
                            return Err(e.in_row(first + start + i));
                        }
                        return Err(e);
                    }
                }
                if stopped() {
                    return Err(ErrorKind::Interrupted.into());
                }
            }
        }
        Ok(())
    }

    /// A handle that stops this kernel's running evaluations, on every
    /// thread (see [`Interrupter::stop`]).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.inner.stop.clone())
    }
}

/// A kernel's namespace, the functions bound in it, and its expression.
type Frozen = (Namespace, Vec<Arc<Function>>, Arc<Function>);

/// The frozen program of a kernel: the kernel's own namespace (names
/// renumbered from 0), a copy of every function `root` can reach bound in
/// it, and `root` itself. A global variable the program reads becomes its
/// value; any other global read becomes the error reading it raises (the
/// namespace will never change, so it is known now). Calls stay calls,
/// resolved in the frozen namespace like any call.
fn freeze(ns: &Namespace, root: &Function) -> Result<Frozen, Error> {
    let mut f = Freezer {
        ns,
        kns: Namespace::default(),
        seen: HashMap::new(),
        queue: Vec::new(),
        guard: StackGuard::here(),
    };
    let body = f.node(&root.body)?;
    let root = Function::new(
        root.name.clone(),
        root.params.clone(),
        body,
        root.source.clone(),
        None,
        true,
    )?;
    let mut funcs = Vec::new();
    while let Some((g, ksym)) = f.queue.pop() {
        let body = f.node(&g.body)?;
        let copy = Function::new(
            g.name.clone(),
            g.params.clone(),
            body,
            g.source.clone(),
            Some(ksym),
            false,
        )?;
        f.kns.bind(ksym, Slot::Func(copy.clone()));
        funcs.push(copy);
    }
    Ok((f.kns, funcs, root))
}

struct Freezer<'a> {
    ns: &'a Namespace,
    kns: Namespace,
    /// Engine names already given a kernel name.
    seen: HashMap<Sym, Sym>,
    /// Functions still to copy, with their kernel name.
    queue: Vec<(Arc<Function>, Sym)>,
    guard: StackGuard,
}

impl Freezer<'_> {
    /// The kernel's name for the engine's `sym`, binding variables and
    /// queueing functions the first time.
    fn sym(&mut self, sym: Sym) -> Sym {
        if let Some(&k) = self.seen.get(&sym) {
            return k;
        }
        let k = self.kns.intern(self.ns.name(sym));
        self.seen.insert(sym, k);
        match self.ns.slot(sym) {
            Slot::Var(x) => {
                self.kns.bind(k, Slot::Var(*x));
            }
            Slot::Func(g) => self.queue.push((g.clone(), k)),
            Slot::Empty => {}
        }
        k
    }

    fn node(&mut self, node: &Node) -> Result<Node, Error> {
        self.guard.check()?;
        let b = |f: &mut Self, n: &Node| f.node(n).map(Box::new);
        Ok(match node {
            Node::Num(_) | Node::Param(_) | Node::Fail(..) | Node::Native(_) => node.clone(),
            Node::Global(sym, span) => match runtime::global(self.ns, *sym) {
                Ok(x) => Node::Num(x),
                Err(kind) => Node::Fail(kind, *span),
            },
            Node::Neg(a) => Node::Neg(b(self, a)?),
            Node::Not(a) => Node::Not(b(self, a)?),
            Node::Chain(a, links) => Node::Chain(
                b(self, a)?,
                links
                    .iter()
                    .map(|(l, n)| Ok((*l, self.node(n)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Node::Cmp(op, x, y) => Node::Cmp(*op, b(self, x)?, b(self, y)?),
            Node::And(items) => Node::And(self.nodes(items)?),
            Node::Or(items) => Node::Or(self.nodes(items)?),
            Node::Cond(c, x, y) => Node::Cond(b(self, c)?, b(self, x)?, b(self, y)?),
            Node::Call1(f, a) => Node::Call1(*f, b(self, a)?),
            Node::Call2(f, x, y) => Node::Call2(*f, b(self, x)?, b(self, y)?),
            Node::Call(sym, args, span) => {
                let args = self.nodes(args)?;
                Node::Call(self.sym(*sym), args, *span)
            }
        })
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<Vec<Node>, Error> {
        nodes.iter().map(|n| self.node(n)).collect()
    }
}
