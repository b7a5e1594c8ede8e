//! Documented differences, as data: which checks a program is expected to fail, per
//! flavor, and why. A check listed here that passes is an unexpected result (`xpass`),
//! so a program that silently changes behaviour is caught either way.

use crate::programs::Flavor;

/// (program, flavor, check, why). Empty for families whose two eras behave the same.
pub const EXPECTED_FAILURES: &[(&str, Flavor, &str, &str)] = &[];

/// Why `check` is documented to fail for `program` in `flavor`, if it is.
pub fn failure(program: &str, flavor: Flavor, check: &str) -> Option<&'static str> {
    EXPECTED_FAILURES
        .iter()
        .find(|(p, f, c, _)| *p == program && *f == flavor && *c == check)
        .map(|(_, _, _, why)| *why)
}
