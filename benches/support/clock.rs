//! The measurement both tier benchmarks use: wall-clock time, or with
//! `EXPRJIT_BENCH_CPU=1` the CPU time of the benchmarking thread, so that
//! time spent descheduled behind other jobs on a shared machine is not
//! counted. Included by `eval.rs` and `peers.rs` with `#[path]`.

use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// Wall-clock time, or with `EXPRJIT_BENCH_CPU=1` the thread's CPU time.
pub struct Clock {
    cpu: bool,
    epoch: Instant,
}

impl Clock {
    pub fn from_env() -> Clock {
        Clock {
            cpu: std::env::var_os("EXPRJIT_BENCH_CPU").is_some_and(|v| v != "0"),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> Duration {
        if !self.cpu {
            return self.epoch.elapsed();
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a
        // constant the kernel knows.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

impl Measurement for Clock {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        self.now()
    }
    fn end(&self, start: Duration) -> Duration {
        self.now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}
