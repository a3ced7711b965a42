//! Checks shared by the systems' unit tests.

use crate::Hamiltonian;

/// Asserts that `gradient` matches central differences of `energy` at `x`.
pub(crate) fn assert_gradient_matches_energy(sys: &dyn Hamiltonian, x: &[f64], tol: f64) {
    let mut g = vec![0.0; x.len()];
    sys.gradient(x, &mut g);
    let eps = 1e-6;
    for i in 0..x.len() {
        let (mut a, mut b) = (x.to_vec(), x.to_vec());
        a[i] += eps;
        b[i] -= eps;
        let fd = (sys.energy(&a) - sys.energy(&b)) / (2.0 * eps);
        assert!(
            (fd - g[i]).abs() < tol * (1.0 + g[i].abs()),
            "{} component {i}: {fd} vs {}",
            sys.name(),
            g[i]
        );
    }
}

/// Runs `f` on a rayon pool of `threads` threads.
pub(crate) fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}
