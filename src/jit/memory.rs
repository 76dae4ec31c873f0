//! Code memory: the only module that maps, protects and writes executable
//! memory.
//!
//! # Layout
//!
//! One region of address space is reserved up front (`PROT_NONE`,
//! [`REGION_SIZE`]) and filled from the bottom as code is added, so code
//! never moves once placed and every call between two pieces of generated
//! code fits a `call rel32` (±2 GiB ≫ 64 MiB):
//!
//! ```text
//! base                                                         base + 64 MiB
//! | runtime glue (trampoline, stub) | fn | fn | free | fn | ...  | untouched |
//!                                    ^ blocks, 16-byte aligned;  ^ PROT_NONE
//!                                      freed blocks are reused first-fit
//! ```
//!
//! # W^X
//!
//! No page is ever writable and executable at once. A page is `PROT_NONE`
//! until first written, `PROT_READ | PROT_EXEC` whenever code may run, and
//! `PROT_READ | PROT_WRITE` only for the duration of a [`CodeMemory::write`]
//! (placing new code, or patching a `rel32`). This is SpiderMonkey's way:
//! flip only the pages touched, around each write. The engine is
//! single-threaded, so no other thread can be executing a page while it is
//! briefly not executable; the caller of a patch is always Rust code, never
//! the page being patched.
//!
//! Measured cost (`cargo bench --bench jit -- patch`, on the project's
//! 2-core machine): one patch of a 4-byte `rel32` — two `mprotect` calls
//! around the copy — takes 2.09 µs (criterion median, 95% interval
//! 2.07–2.12 µs). A call site is patched once per compilation of its callee,
//! so this is small beside a compilation (7.3 µs median for a 50-node
//! function, `cargo bench --bench jit -- compile`). The .NET way (a second,
//! writable view of a memory file) would avoid the syscalls, at the price
//! of a writable alias of executable code living for the whole run.

use std::io;

/// Address space reserved for generated code.
pub const REGION_SIZE: usize = 64 << 20;

/// Blocks start on this boundary (the CPU fetches 16-byte lines).
const ALIGN: usize = 16;

/// Filler for gaps: `int3`, so a stray jump traps instead of sliding.
const FILL: u8 = 0xCC;

/// The reserved region and its allocator.
#[derive(Debug)]
pub struct CodeMemory {
    base: usize,
    /// Bytes of address space reserved.
    size: usize,
    page: usize,
    /// End of the bump area: everything at or past `top` is unused.
    top: usize,
    /// Freed blocks `(addr, len)`, reused first-fit.
    free: Vec<(usize, usize)>,
    /// Bytes in live blocks (the arena's own accounting).
    live: usize,
}

impl CodeMemory {
    /// Reserves the region. Nothing is readable, writable or executable yet.
    pub fn new() -> io::Result<CodeMemory> {
        CodeMemory::with_size(REGION_SIZE)
    }

    /// Reserves a region of `size` bytes (tests use small ones to fill).
    pub fn with_size(size: usize) -> io::Result<CodeMemory> {
        // SAFETY: a fresh anonymous private mapping at an address the kernel
        // chooses; it aliases nothing. PROT_NONE + MAP_NORESERVE reserves
        // address space only.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        Ok(CodeMemory {
            base: ptr as usize,
            size,
            page,
            top: ptr as usize,
            free: Vec::new(),
            live: 0,
        })
    }

    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes held by live blocks.
    pub fn live_bytes(&self) -> usize {
        self.live
    }

    /// Bytes of the region ever used (the high-water mark).
    pub fn used_bytes(&self) -> usize {
        self.top - self.base
    }

    /// Does `addr` lie in the region?
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.base && addr < self.base + self.size
    }

    /// Finds room for `len` bytes; `None` when the region is full.
    pub fn alloc(&mut self, len: usize) -> Option<usize> {
        let len = len.max(1).next_multiple_of(ALIGN);
        if let Some(i) = self.free.iter().position(|&(_, l)| l >= len) {
            let (addr, l) = self.free[i];
            if l == len {
                self.free.swap_remove(i);
            } else {
                self.free[i] = (addr + len, l - len);
            }
            self.live += len;
            return Some(addr);
        }
        if self.top + len > self.base + self.size {
            return None;
        }
        let addr = self.top;
        self.top += len;
        self.live += len;
        Some(addr)
    }

    /// Returns a block to the allocator and fills it with `int3`. The caller
    /// guarantees nothing can run it any more: no frame is inside it and no
    /// call site targets it.
    pub fn free(&mut self, addr: usize, len: usize) -> io::Result<()> {
        let len = len.max(1).next_multiple_of(ALIGN);
        debug_assert!(self.contains(addr) && addr + len <= self.top);
        self.write(addr, &vec![FILL; len])?;
        self.live -= len;
        // Merge with a neighbour so the free list stays short.
        if let Some(f) = self.free.iter_mut().find(|(a, l)| *a + *l == addr) {
            f.1 += len;
        } else if let Some(f) = self.free.iter_mut().find(|(a, _)| addr + len == *a) {
            *f = (addr, f.1 + len);
        } else {
            self.free.push((addr, len));
        }
        Ok(())
    }

    /// Copies `bytes` to `addr` inside the region, keeping W^X: the pages
    /// touched are made read+write (not executable), written, and made
    /// read+execute (not writable) again before returning.
    pub fn write(&mut self, addr: usize, bytes: &[u8]) -> io::Result<()> {
        let end = addr + bytes.len();
        assert!(
            addr >= self.base && end <= self.top,
            "write outside allocated code"
        );
        let first = addr & !(self.page - 1);
        let last = end.next_multiple_of(self.page);
        self.protect(first, last - first, libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: [addr, end) lies inside the region (asserted above) and
        // its pages are now mapped read+write; `bytes` is a Rust slice, which
        // cannot overlap the region (Rust never allocates there).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len());
        }
        self.protect(first, last - first, libc::PROT_READ | libc::PROT_EXEC)
    }

    /// Reads `len` bytes of placed code (for patch checks and disassembly).
    pub fn read(&self, addr: usize, len: usize) -> Vec<u8> {
        assert!(
            addr >= self.base && addr + len <= self.top,
            "read outside allocated code"
        );
        let mut out = vec![0; len];
        // SAFETY: the range lies below `top`, so every page of it has been
        // written once and is mapped readable (read+exec, or read+write
        // during `write`, which holds `&mut self` and so cannot overlap).
        unsafe {
            std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), len);
        }
        out
    }

    fn protect(&self, addr: usize, len: usize, prot: libc::c_int) -> io::Result<()> {
        // SAFETY: [addr, addr+len) is page-aligned and inside the region we
        // mapped; changing its protection affects no Rust-owned memory.
        let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `new` mapped. The engine that
        // owns this memory is being dropped, so no code in it is running and
        // no call site outside it points in.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.size);
        }
    }
}

/// What the seed experiment observed (demo steps 1 and 2).
#[derive(Debug, Clone)]
pub struct SeedRun {
    pub addr: usize,
    /// The page's line in /proc/self/maps while it was mapped.
    pub maps_line: String,
    /// The bytes read back after the first write, and what calling them gave.
    pub first_bytes: Vec<u8>,
    pub first_result: i32,
    /// The same after overwriting the immediate in place.
    pub second_bytes: Vec<u8>,
    pub second_result: i32,
}

/// `mov eax, imm32 ; ret`
fn mov_eax_ret(imm: i32) -> [u8; 6] {
    let i = imm.to_le_bytes();
    [0xB8, i[0], i[1], i[2], i[3], 0xC3]
}

/// The experiment exprjit grew from, done the old way on purpose: one page
/// mapped read+write+execute, code written into it, called, rewritten in
/// place and called again through the same pointer. This is the one place
/// in the project that maps a writable and executable page — exactly what
/// [`CodeMemory`] never does — and it unmaps it before returning.
pub fn seed_experiment(first: i32, second: i32) -> io::Result<SeedRun> {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    // SAFETY: a fresh anonymous private mapping; it aliases nothing.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            page,
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let addr = ptr as usize;
    let maps_line = maps_line_of(addr)?;
    let run = |imm: i32| -> (Vec<u8>, i32) {
        let code = mov_eax_ret(imm);
        // SAFETY: the page is ours, mapped writable, and `code` fits in it.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), ptr.cast::<u8>(), code.len()) };
        let mut back = vec![0u8; code.len()];
        // SAFETY: reading back the bytes just written to our readable page.
        unsafe { std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), back.as_mut_ptr(), back.len()) };
        // SAFETY: the page is executable and holds `mov eax, imm32; ret`,
        // a complete function of the sysv64 type `fn() -> i32`.
        let f =
            unsafe { std::mem::transmute::<*mut libc::c_void, extern "sysv64" fn() -> i32>(ptr) };
        (back, f())
    };
    let (first_bytes, first_result) = run(first);
    let (second_bytes, second_result) = run(second);
    // SAFETY: unmapping exactly the page mapped above; nothing refers to it.
    unsafe { libc::munmap(ptr, page) };
    Ok(SeedRun {
        addr,
        maps_line,
        first_bytes,
        first_result,
        second_bytes,
        second_result,
    })
}

/// What the W^X version of the experiment observed (demo step 3).
#[derive(Debug, Clone)]
pub struct WxRun {
    pub addr: usize,
    /// The region's protection while the code was being written, and while
    /// it ran (each read from /proc/self/maps at that moment).
    pub maps_while_writing: String,
    pub maps_while_running: String,
    pub first_bytes: Vec<u8>,
    pub first_result: i32,
    pub second_bytes: Vec<u8>,
    pub second_result: i32,
    /// Every writable-and-executable mapping of the process afterwards.
    pub wx_mappings: Vec<String>,
}

/// The same experiment the way exprjit does it: bytes are written while
/// the page is read+write (not executable) and run while it is
/// read+execute (not writable).
pub fn wx_experiment(first: i32, second: i32) -> io::Result<WxRun> {
    let mut mem = CodeMemory::new()?;
    let addr = mem
        .alloc(6)
        .ok_or_else(|| io::Error::other("code memory full"))?;
    // Make the page writable the way `write` does, to look at it mid-write.
    let page_start = addr & !(mem.page - 1);
    mem.top = mem.top.max(addr + 6);
    mem.protect(page_start, mem.page, libc::PROT_READ | libc::PROT_WRITE)?;
    let maps_while_writing = maps_line_of(addr)?;
    let mut run = |imm: i32| -> io::Result<(Vec<u8>, i32)> {
        mem.write(addr, &mov_eax_ret(imm))?;
        let back = mem.read(addr, 6);
        // SAFETY: `write` left the page read+execute holding
        // `mov eax, imm32; ret`, a complete sysv64 `fn() -> i32`; `mem`
        // outlives the call.
        let f = unsafe { std::mem::transmute::<usize, extern "sysv64" fn() -> i32>(addr) };
        Ok((back, f()))
    };
    let (first_bytes, first_result) = run(first)?;
    let (second_bytes, second_result) = run(second)?;
    let maps_while_running = maps_line_of(addr)?;
    let wx_mappings = writable_and_executable_mappings()?;
    Ok(WxRun {
        addr,
        maps_while_writing,
        maps_while_running,
        first_bytes,
        first_result,
        second_bytes,
        second_result,
        wx_mappings,
    })
}

/// The /proc/self/maps line of the mapping containing `addr`.
pub fn maps_line_of(addr: usize) -> io::Result<String> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = range.split_once('-') {
            let lo = usize::from_str_radix(lo, 16).unwrap_or(usize::MAX);
            let hi = usize::from_str_radix(hi, 16).unwrap_or(0);
            if (lo..hi).contains(&addr) {
                return Ok(line.to_string());
            }
        }
    }
    Ok(format!("{addr:#x}: not mapped"))
}

/// Every mapping of this process that is writable and executable at once,
/// as `/proc/self/maps` lines (for tests and the demo; empty means W^X holds).
pub fn writable_and_executable_mappings() -> io::Result<Vec<String>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(maps
        .lines()
        .filter(|l| {
            let perms = l.split_whitespace().nth(1).unwrap_or("");
            perms.contains('w') && perms.contains('x')
        })
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed experiment maps a writable+executable page for a moment;
    /// the tests that look for such pages must not run beside it.
    static MAPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn maps_lock() -> std::sync::MutexGuard<'static, ()> {
        MAPS.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn blocks_are_aligned_reused_and_accounted() {
        let mut mem = CodeMemory::new().unwrap();
        let a = mem.alloc(10).unwrap();
        let b = mem.alloc(40).unwrap();
        assert_eq!(a, mem.base());
        assert_eq!(b, a + 16);
        mem.write(a, &[0xC3; 10]).unwrap();
        mem.write(b, &[0x90; 40]).unwrap();
        assert_eq!(mem.live_bytes(), 16 + 48);
        mem.free(b, 40).unwrap();
        assert_eq!(mem.read(b, 2), [0xCC, 0xCC]);
        assert_eq!(mem.alloc(20), Some(b), "freed block is reused");
        assert_eq!(mem.live_bytes(), 16 + 32);
    }

    #[test]
    fn region_full_is_a_value_not_a_crash() {
        let mut mem = CodeMemory::new().unwrap();
        assert!(mem.alloc(REGION_SIZE).is_some());
        assert_eq!(mem.alloc(16), None);
    }

    #[test]
    fn the_seed_experiment_runs_rewritten_code_through_the_same_pointer() {
        let _lock = maps_lock();
        let run = seed_experiment(42, 1337).unwrap();
        assert_eq!(run.first_bytes, [0xB8, 0x2A, 0, 0, 0, 0xC3]);
        assert_eq!(run.first_result, 42);
        assert_eq!(run.second_bytes, [0xB8, 0x39, 0x05, 0, 0, 0xC3]);
        assert_eq!(run.second_result, 1337);
        assert!(run.maps_line.contains("rwxp"), "{}", run.maps_line);
    }

    #[test]
    fn the_wx_experiment_never_has_a_writable_executable_page() {
        let _lock = maps_lock();
        let run = wx_experiment(42, 1337).unwrap();
        assert_eq!((run.first_result, run.second_result), (42, 1337));
        assert!(
            run.maps_while_writing.contains("rw-p"),
            "{}",
            run.maps_while_writing
        );
        assert!(
            run.maps_while_running.contains("r-xp"),
            "{}",
            run.maps_while_running
        );
        assert!(run.wx_mappings.is_empty(), "{:?}", run.wx_mappings);
    }

    #[test]
    fn written_code_is_never_writable_and_executable() {
        let _lock = maps_lock();
        let mut mem = CodeMemory::new().unwrap();
        let a = mem.alloc(4).unwrap();
        mem.write(a, &[0xC3]).unwrap();
        let wx = writable_and_executable_mappings().unwrap();
        assert!(wx.is_empty(), "{wx:?}");
    }
}
