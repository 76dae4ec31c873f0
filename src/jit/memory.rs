//! Code memory: the only module that maps, protects and writes executable
//! memory.
//!
//! # Layout
//!
//! A [`Region`] is address space reserved up front (`PROT_NONE`) and
//! filled from the bottom, so code never moves once placed and every call
//! between two pieces of code in one region fits a `call rel32`. Each
//! region starts with its *glue* (the trampoline into machine code and the
//! stub back out; see the backend's `glue`):
//!
//! ```text
//! base                                                          base + size
//! | glue | block | block | free | block | ...      | untouched (PROT_NONE) |
//!          ^ blocks: 16-byte aligned in an engine's region,
//!            whole pages in the kernel arena; freed blocks reused best-fit
//! ```
//!
//! An engine reserves a region of its own (its functions share pages: one
//! engine runs on one thread at a time). Kernels run on any thread, so
//! theirs come from one process-wide [`arena`] of regions in whole pages:
//! a page holds one kernel's code and nothing else, so writing it can never
//! make code another thread is running briefly unexecutable. Many kernels
//! share each region, so the process keeps a handful of mappings however
//! many kernels it makes (one mapping each would meet `vm.max_map_count`).
//!
//! # Ownership
//!
//! A [`Block`] owns its bytes: dropping it gives them back. Whoever runs
//! code holds its block (a function its code, a kernel its one block), and
//! every block holds its region, so a region stays mapped while any code
//! in it can run. Dropping a block may happen on any thread, so it writes
//! nothing there: an engine's freed blocks are overwritten with `int3` by
//! the engine itself at its next write ([`Region::write`]), a kernel's
//! pages are made inaccessible (they are its own).
//!
//! # W^X
//!
//! No page is ever writable and executable at once. A page is `PROT_NONE`
//! until first written, `PROT_READ | PROT_EXEC` whenever code may run, and
//! `PROT_READ | PROT_WRITE` only for the duration of a [`Region::write`]
//! (placing new code, or patching a `rel32`), which flips just the pages it
//! touches and back (SpiderMonkey's way). The cost of a flip is in
//! docs/performance.md; the .NET way (a second, writable view of the same
//! memory) would avoid the system calls at the price of a writable alias
//! of executable code.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// Address space an engine reserves for its code.
pub(crate) const REGION_SIZE: usize = 64 << 20;

/// Address space of each region of the kernel arena.
const ARENA_REGION_SIZE: usize = 256 << 20;

/// Blocks start on this boundary (the CPU fetches 16-byte lines).
const ALIGN: usize = 16;

/// Filler for gaps and freed code: `int3`, so a stray jump traps.
const FILL: u8 = 0xCC;

/// The glue every region starts with: its trampoline and stub.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glue {
    pub trampoline: usize,
    pub stub: usize,
}

/// Reserved address space, its allocator, and its glue.
#[derive(Debug)]
pub(crate) struct Region {
    base: usize,
    size: usize,
    page: usize,
    /// Blocks are whole pages, never sharing one (the kernel arena).
    pages: bool,
    glue: Glue,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// End of the bump area: everything at or past `top` is unused.
    top: usize,
    free: FreeList,
    /// Bytes in live blocks.
    live: usize,
    /// Freed blocks of an engine's region, to overwrite with `int3` at its
    /// next write (see the module docs).
    scrub: Vec<(usize, usize)>,
}

/// Free blocks by address (to merge neighbours) and by size (best fit):
/// every operation is O(log n) in the number of free blocks.
#[derive(Debug, Default)]
struct FreeList {
    by_addr: BTreeMap<usize, usize>,
    by_size: BTreeSet<(usize, usize)>,
}

impl FreeList {
    fn insert(&mut self, addr: usize, len: usize) {
        self.by_addr.insert(addr, len);
        self.by_size.insert((len, addr));
    }

    fn remove(&mut self, addr: usize, len: usize) {
        self.by_addr.remove(&addr);
        self.by_size.remove(&(len, addr));
    }

    /// Takes `len` bytes from the smallest free block that has them.
    fn take(&mut self, len: usize) -> Option<usize> {
        let &(have, addr) = self.by_size.range((len, 0)..).next()?;
        self.remove(addr, have);
        if have > len {
            self.insert(addr + len, have - len);
        }
        Some(addr)
    }

    /// Returns a block, merged with free neighbours.
    fn give(&mut self, mut addr: usize, mut len: usize) {
        if let Some((&a, &l)) = self.by_addr.range(..addr).next_back() {
            if a + l == addr {
                self.remove(a, l);
                addr = a;
                len += l;
            }
        }
        if let Some(&l) = self.by_addr.get(&(addr + len)) {
            self.remove(addr + len, l);
            len += l;
        }
        self.insert(addr, len);
    }
}

/// A block of code memory, given back when dropped.
#[derive(Debug)]
pub(crate) struct Block {
    region: Arc<Region>,
    addr: usize,
    len: usize,
}

impl Block {
    pub fn addr(&self) -> usize {
        self.addr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn region(&self) -> &Arc<Region> {
        &self.region
    }

    /// Copies `bytes` to the start of the block (see [`Region::write`]).
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > self.len {
            return Err(io::Error::other("code larger than its block"));
        }
        self.region.write(self.addr, bytes)
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.region.free(self.addr, self.len);
    }
}

impl Region {
    /// Reserves `size` bytes (nothing readable, writable or executable
    /// yet) and places the glue `glue(base)` gives, which returns its bytes
    /// and the stub's offset in them.
    pub fn new(
        size: usize,
        pages: bool,
        glue: impl FnOnce(usize) -> (Vec<u8>, usize),
    ) -> io::Result<Arc<Region>> {
        let page = page_size();
        let size = size.next_multiple_of(page);
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
        let base = ptr as usize;
        let mut region = Region {
            base,
            size,
            page,
            pages,
            glue: Glue {
                trampoline: base,
                stub: base,
            },
            state: Mutex::new(State {
                top: base,
                ..State::default()
            }),
        };
        let (bytes, stub) = glue(base);
        let len = region.round(bytes.len());
        if len > size {
            return Err(io::Error::other("code memory too small for the glue"));
        }
        region.lock().top = base + len;
        region.lock().live = len;
        region.write(base, &bytes)?;
        region.glue.stub = base + stub;
        Ok(Arc::new(region))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn round(&self, len: usize) -> usize {
        let unit = if self.pages { self.page } else { ALIGN };
        len.max(1).next_multiple_of(unit)
    }

    pub fn glue(&self) -> Glue {
        self.glue
    }

    #[cfg(test)]
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes held by live blocks (the glue included).
    pub fn live_bytes(&self) -> usize {
        self.lock().live
    }

    /// Bytes of the region ever used (the high-water mark).
    pub fn used_bytes(&self) -> usize {
        self.lock().top - self.base
    }

    /// Finds room for `len` bytes; `None` when the region is full.
    pub fn alloc(self: &Arc<Self>, len: usize) -> Option<Block> {
        let len = self.round(len);
        let mut st = self.lock();
        let addr = match st.free.take(len) {
            Some(addr) => addr,
            None if st.top + len <= self.base + self.size => {
                st.top += len;
                st.top - len
            }
            None => return None,
        };
        st.live += len;
        // Bytes handed out again are no longer waiting to be scrubbed: keep
        // only the parts of pending scrubs outside the new block.
        if !st.scrub.is_empty() {
            let (lo, hi) = (addr, addr + len);
            st.scrub = std::mem::take(&mut st.scrub)
                .into_iter()
                .flat_map(|(a, l)| {
                    let below = (a < lo).then(|| (a, (a + l).min(lo) - a));
                    let above = (a + l > hi).then(|| (a.max(hi), a + l - a.max(hi)));
                    [below, above]
                })
                .flatten()
                .collect();
        }
        drop(st);
        Some(Block {
            region: self.clone(),
            addr,
            len,
        })
    }

    /// Takes a block back (see the module docs on what is written).
    fn free(&self, addr: usize, len: usize) {
        if self.pages {
            // The pages are this block's alone: nothing else runs there.
            // Make them inaccessible and let the kernel have the memory.
            // SAFETY: [addr, addr+len) is a page-aligned block of this
            // region that nothing can run any more (its owner is gone).
            unsafe {
                libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE);
                libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
            }
        }
        let mut st = self.lock();
        st.live -= len;
        st.free.give(addr, len);
        if !self.pages {
            st.scrub.push((addr, len));
        }
    }

    /// Copies `bytes` to `addr` inside the region, keeping W^X: the pages
    /// touched are made read+write (not executable), written, and made
    /// read+execute (not writable) again before returning. In an engine's
    /// region it first overwrites freed blocks with `int3`. Only the thread
    /// that owns the code being written calls this.
    pub fn write(&self, addr: usize, bytes: &[u8]) -> io::Result<()> {
        let scrub = std::mem::take(&mut self.lock().scrub);
        for (a, l) in scrub {
            self.write_now(a, &vec![FILL; l])?;
        }
        self.write_now(addr, bytes)
    }

    fn write_now(&self, addr: usize, bytes: &[u8]) -> io::Result<()> {
        let end = addr + bytes.len();
        if addr < self.base || end > self.lock().top {
            return Err(io::Error::other("write outside allocated code"));
        }
        let first = addr & !(self.page - 1);
        let last = end.next_multiple_of(self.page);
        self.protect(first, last - first, libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: [addr, end) lies inside the region's allocated part
        // (checked above) and its pages are now mapped read+write; `bytes`
        // is a Rust slice, which cannot overlap the region (Rust never
        // allocates there).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len());
        }
        self.protect(first, last - first, libc::PROT_READ | libc::PROT_EXEC)
    }

    /// Reads `len` bytes of placed code (for patch checks and disassembly);
    /// `None` outside the allocated part.
    pub fn read(&self, addr: usize, len: usize) -> Option<Vec<u8>> {
        if addr < self.base || addr + len > self.lock().top {
            return None;
        }
        let mut out = vec![0; len];
        // SAFETY: the range lies below `top`, so every page of it has been
        // written once and is mapped readable (read+exec; read+write only
        // inside `write`, on the same thread), or it is a freed kernel
        // block, which a caller never reads: only live code is read.
        unsafe {
            std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), len);
        }
        Some(out)
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

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `new` mapped. Every block holds
        // the region, so none is left: no code in it can run.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.size);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// The kernel arena: regions of whole-page blocks shared by every kernel
/// of the process.
pub(crate) mod arena {
    use super::*;

    static REGIONS: Mutex<Vec<Arc<Region>>> = Mutex::new(Vec::new());

    fn regions() -> MutexGuard<'static, Vec<Arc<Region>>> {
        REGIONS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A block of at least `len` bytes in whole pages, in a region that
    /// `glue` starts (a new region is reserved when none has room).
    pub(crate) fn alloc(
        len: usize,
        glue: impl FnOnce(usize) -> (Vec<u8>, usize),
    ) -> io::Result<Block> {
        let mut regions = regions();
        for r in regions.iter() {
            if let Some(b) = r.alloc(len) {
                return Ok(b);
            }
        }
        let region = Region::new(ARENA_REGION_SIZE.max(len * 2), true, glue)?;
        let block = region
            .alloc(len)
            .ok_or_else(|| io::Error::other("code too large for a region"))?;
        regions.push(region);
        Ok(block)
    }

    /// Bytes held by live kernel code (the regions' glue included).
    pub(crate) fn live_bytes() -> usize {
        regions().iter().map(|r| r.live_bytes()).sum()
    }
}

#[cfg(target_arch = "x86_64")]
/// What the seed experiment observed (demo steps 1 and 2).
#[derive(Debug, Clone)]
#[allow(missing_docs)] // internals, for the demo
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

#[cfg(target_arch = "x86_64")]
/// `mov eax, imm32 ; ret`
fn mov_eax_ret(imm: i32) -> [u8; 6] {
    let i = imm.to_le_bytes();
    [0xB8, i[0], i[1], i[2], i[3], 0xC3]
}

#[cfg(target_arch = "x86_64")]
/// The experiment exprjit grew from, done the old way on purpose: one page
/// mapped read+write+execute, code written into it, called, rewritten in
/// place and called again through the same pointer. This is the one place
/// in the project that maps a writable and executable page — exactly what
/// a `Region` never does — and it unmaps it before returning.
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

#[cfg(target_arch = "x86_64")]
/// What the W^X version of the experiment observed (demo step 3).
#[derive(Debug, Clone)]
#[allow(missing_docs)] // internals, for the demo
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

#[cfg(target_arch = "x86_64")]
/// The same experiment the way exprjit does it: bytes are written while
/// the page is read+write (not executable) and run while it is
/// read+execute (not writable).
pub fn wx_experiment(first: i32, second: i32) -> io::Result<WxRun> {
    let region = Region::new(REGION_SIZE, false, |_| (vec![FILL; 16], 0))?;
    let block = region
        .alloc(6)
        .ok_or_else(|| io::Error::other("code memory full"))?;
    let addr = block.addr();
    // Make the page writable the way `write` does, to look at it mid-write.
    let page_start = addr & !(region.page - 1);
    region.write(addr, &mov_eax_ret(0))?;
    region.protect(page_start, region.page, libc::PROT_READ | libc::PROT_WRITE)?;
    let maps_while_writing = maps_line_of(addr)?;
    region.protect(page_start, region.page, libc::PROT_READ | libc::PROT_EXEC)?;
    let run = |imm: i32| -> io::Result<(Vec<u8>, i32)> {
        block.write(&mov_eax_ret(imm))?;
        let back = region
            .read(addr, 6)
            .ok_or_else(|| io::Error::other("cannot read back"))?;
        // SAFETY: `write` left the page read+execute holding
        // `mov eax, imm32; ret`, a complete sysv64 `fn() -> i32`; `block`
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

    fn region(size: usize) -> Arc<Region> {
        Region::new(size, false, |_| (vec![0xC3; 20], 16)).unwrap()
    }

    /// The seed experiment maps a writable+executable page for a moment;
    /// the tests that look for such pages must not run beside it.
    pub(crate) static MAPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    pub(crate) fn maps_lock() -> std::sync::MutexGuard<'static, ()> {
        MAPS.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(target_arch = "x86_64")]
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

    #[cfg(target_arch = "x86_64")]
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
        let r = region(REGION_SIZE);
        let a = r.alloc(4).unwrap();
        a.write(&[0xC3]).unwrap();
        let wx = writable_and_executable_mappings().unwrap();
        assert!(wx.is_empty(), "{wx:?}");
    }

    #[test]
    fn blocks_are_aligned_reused_and_accounted() {
        let r = region(REGION_SIZE);
        assert_eq!(r.live_bytes(), 32, "the glue");
        let a = r.alloc(10).unwrap();
        let b = r.alloc(40).unwrap();
        assert_eq!(a.addr(), r.base() + 32);
        assert_eq!(b.addr(), a.addr() + 16);
        a.write(&[0xC3; 10]).unwrap();
        b.write(&[0x90; 40]).unwrap();
        assert_eq!(r.live_bytes(), 32 + 16 + 48);
        let b_at = b.addr();
        drop(b);
        let c = r.alloc(20).unwrap();
        assert_eq!(c.addr(), b_at, "freed block is reused");
        c.write(&[0x90; 20]).unwrap();
        // What was left of the freed block was scrubbed at that write.
        assert_eq!(r.read(b_at + 32, 2).unwrap(), [0xCC, 0xCC]);
        assert_eq!(r.live_bytes(), 32 + 16 + 32);
        assert_eq!(r.glue().stub, r.base() + 16);
    }

    #[test]
    fn neighbours_merge_and_the_best_fit_is_taken() {
        let r = region(REGION_SIZE);
        let blocks: Vec<Block> = (0..6).map(|_| r.alloc(16).unwrap()).collect();
        let addrs: Vec<usize> = blocks.iter().map(Block::addr).collect();
        let mut blocks = blocks.into_iter().map(Some).collect::<Vec<_>>();
        // Free 1, 2, 3 (merged into 48 bytes) and 5 (16 bytes).
        for i in [1, 3, 2, 5] {
            blocks[i] = None;
        }
        assert_eq!(r.alloc(16).unwrap().addr(), addrs[5], "best fit");
        assert_eq!(r.alloc(48).unwrap().addr(), addrs[1], "merged");
    }

    #[test]
    fn region_full_is_a_value_not_a_crash() {
        let r = region(1 << 20);
        let all = r.alloc((1 << 20) - 32);
        assert!(all.is_some());
        assert!(r.alloc(16).is_none());
    }

    #[test]
    fn freeing_many_blocks_takes_time_proportional_to_their_number() {
        let r = region(REGION_SIZE);
        let blocks: Vec<Block> = (0..100_000).map(|_| r.alloc(16).unwrap()).collect();
        drop(blocks);
        assert_eq!(r.live_bytes(), 32);
        assert_eq!(r.alloc(100_000 * 16).unwrap().addr(), r.base() + 32);
    }

    #[test]
    fn arena_blocks_are_whole_pages_and_give_their_memory_back() {
        let before = arena::live_bytes();
        let glue = |_| (vec![0xC3; 32], 16);
        let a = arena::alloc(100, glue).unwrap();
        let b = arena::alloc(5000, glue).unwrap();
        assert_eq!(a.len(), page_size());
        assert_eq!(b.len(), 2 * page_size());
        assert_eq!(a.addr() % page_size(), 0);
        a.write(&[0xC3]).unwrap();
        drop((a, b));
        // Other tests may hold arena code at the same time: only this
        // test's own blocks are known to be gone.
        assert!(arena::live_bytes() <= before + page_size());
    }
}
