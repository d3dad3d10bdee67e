//! libFuzzer target for `limiter_fuzz::jsonl`; see that function for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| limiter_fuzz::jsonl(data));
