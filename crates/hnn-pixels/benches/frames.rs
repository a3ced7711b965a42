//! The renderer's stages and the whole official dataset (200 trials x 103 frames).

use criterion::{Criterion, criterion_group, criterion_main};
use hnn_pixels::render::downsample;
use hnn_pixels::{Camera, PixelDataConfig};

fn bench(c: &mut Criterion) {
    let cam = Camera::default();
    let theta = std::f64::consts::PI + 0.3;
    c.bench_function("crop 340x340 (rasterise the rod)", |b| {
        b.iter(|| cam.crop(std::hint::black_box(theta)))
    });
    let crop = cam.crop(theta);
    c.bench_function("downsample 340 -> 28", |b| {
        b.iter(|| downsample(std::hint::black_box(&crop), 28))
    });
    c.bench_function("frame (crop + downsample)", |b| {
        b.iter(|| cam.frame(std::hint::black_box(theta)))
    });
    let cfg = PixelDataConfig::default();
    c.bench_function("dataset: 200 trials x 103 frames", |b| {
        b.iter(|| hnn_pixels::dataset::generate(&cfg, 0).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
