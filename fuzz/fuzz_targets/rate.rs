//! libFuzzer target for `limiter_fuzz::rate`; see that function for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| limiter_fuzz::rate(data));
