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
//! Measured cost (`cargo bench --bench jit -- patch`, this machine): one
//! patch of a 4-byte `rel32` — two `mprotect` calls around the copy — takes
//! about 1.3 µs (median); see ARCHITECTURE.md for the figures.

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
        // SAFETY: a fresh anonymous private mapping at an address the kernel
        // chooses; it aliases nothing. PROT_NONE + MAP_NORESERVE reserves
        // address space only.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                REGION_SIZE,
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
        addr >= self.base && addr < self.base + REGION_SIZE
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
        if self.top + len > self.base + REGION_SIZE {
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
            libc::munmap(self.base as *mut libc::c_void, REGION_SIZE);
        }
    }
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
    fn written_code_is_never_writable_and_executable() {
        let mut mem = CodeMemory::new().unwrap();
        let a = mem.alloc(4).unwrap();
        mem.write(a, &[0xC3]).unwrap();
        let wx = writable_and_executable_mappings().unwrap();
        assert!(wx.is_empty(), "{wx:?}");
    }
}
