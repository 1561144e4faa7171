//! Exponential backoff with jitter, shared by the workers that retry (mail, federation).

use std::time::Duration;

/// The wait after `failures` failures in a row: `base` doubling per failure to at most `cap`,
/// then shortened by up to `spread` (a fraction of the wait) as `jitter` (`0.0..=1.0`; 1.0
/// gives the full wait) says, so that work that failed together does not retry in lockstep.
/// A `jitter` outside the range is clamped; NaN counts as 0.
pub fn delay(failures: i32, base: Duration, cap: Duration, spread: f64, jitter: f64) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(0)
        .min(31);
    let nominal = base.saturating_mul(1_u32 << doublings).min(cap);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    nominal.mul_f64(1.0 - spread + spread * jitter)
}
