//! An image-processing thread pool.
//!
//! The scenario generates real images (gradients with a pattern, so that every image
//! differs), and a `ThreadPool` processes each one: resize, Gaussian blur, PNG encode,
//! with the [`image`] crate. The same batch on one worker gives the speedup of the
//! pool (Python's `ThreadPoolExecutor.map` over files, except that Rust threads run
//! the pixels in parallel: there is no GIL).
//!
//! **The bug** (`nested-wait`): a task submits a follow-up task (the thumbnail) to
//! the *same* pool and waits for its result. With every worker busy in such a wait,
//! the follow-ups sit in the queue behind them and never run: the pool deadlocks
//! (with one worker, at once). Python's docs warn about exactly this for
//! `ThreadPoolExecutor`.
//!
//! **The fix** (`flat`): a task does all of its own work (or the caller submits the
//! follow-up after collecting the first result); no task waits for a task queued in
//! its own pool.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle::pool::{as_completed, ThreadPool};
use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

use crate::{Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check images`.
///
/// ```
/// let s = &heddle_lab::images::SCENARIO;
/// assert_eq!(s.name, "images");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "images",
    title: "image-processing ThreadPool: resize, blur, encode; speedup vs one worker",
    python: &[
        "concurrent.futures.ThreadPoolExecutor",
        "Executor.submit",
        "Future.result",
        "as_completed",
    ],
    variants: &[
        Variant {
            name: "nested-wait",
            broken: true,
            summary: "a task submits its thumbnail to the same pool and waits: no worker is left to run it",
            run: run_nested,
            check: check_nested,
            exploration: Exploration::new(Strategy::Random, 20),
        },
        Variant {
            name: "flat",
            broken: false,
            summary: "each task does all of its own work; the pool runs them all, faster than one worker",
            run: run_flat,
            check: check_flat,
            exploration: Exploration::new(Strategy::Random, 200),
        },
    ],
};

/// One processed image: which, its PNG, and a checksum of the processed pixels.
///
/// ```
/// let p = heddle_lab::images::process(2, 16);
/// assert_eq!(p.index, 2);
/// assert_eq!(p, heddle_lab::images::process(2, 16), "the same on any thread");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The image's index in the batch.
    pub index: usize,
    /// The encoded PNG.
    pub png: Vec<u8>,
    /// Sum of the processed pixels (the same on any worker).
    pub checksum: u64,
}

/// Generate image `index` of `size`×`size` pixels.
///
/// ```
/// let img = heddle_lab::images::generate(3, 16);
/// assert_eq!(img.dimensions(), (16, 16));
/// ```
pub fn generate(index: usize, size: u32) -> RgbImage {
    let k = index as u32 + 1;
    RgbImage::from_fn(size, size, |x, y| {
        let stripes = if ((x / (k % 7 + 2)) + (y / 3)) & 1 == 0 {
            60
        } else {
            0
        };
        Rgb([
            ((x * 255 / size) as u8).wrapping_add(stripes),
            ((y * 255 / size) as u8).wrapping_mul(k as u8 | 1),
            ((x + y + k * 13) % 256) as u8,
        ])
    })
}

/// Process image `index`: generate, resize to half, blur, encode as PNG.
///
/// ```
/// let p = heddle_lab::images::process(0, 32);
/// assert_eq!(&p.png[1..4], b"PNG");
/// ```
pub fn process(index: usize, size: u32) -> Processed {
    let img = generate(index, size);
    let small = imageops::resize(&img, size / 2, size / 2, FilterType::Triangle);
    let blurred = imageops::blur(&small, 1.5);
    let checksum = blurred.as_raw().iter().map(|&b| u64::from(b)).sum();
    let mut png = Vec::new();
    PngEncoder::new(Cursor::new(&mut png))
        .write_image(
            blurred.as_raw(),
            blurred.width(),
            blurred.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encoding to memory cannot fail");
    Processed {
        index,
        png,
        checksum,
    }
}

const IMAGES: usize = 24;
const SIZE: u32 = 224;

/// Process `count` images on a pool of `workers`; the results by index, and the time.
fn batch(workers: usize, count: usize, cfg: &Config) -> Result<(Vec<Processed>, Duration), String> {
    let pool = ThreadPool::builder()
        .workers(workers)
        .name_prefix("image-worker")
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let futures: Vec<_> = (0..count)
        .map(|i| {
            pool.submit(move || process(i, SIZE))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut out: Vec<Option<Processed>> = vec![None; count];
    for f in as_completed(futures, None) {
        let p = f
            .map_err(|e| e.to_string())?
            .result()
            .map_err(|e| e.to_string())?;
        let i = p.index;
        if out[i].replace(p).is_some() {
            return Err(format!("image {i} came back twice"));
        }
        cfg.tick();
    }
    let took = started.elapsed();
    let out: Option<Vec<Processed>> = out.into_iter().collect();
    Ok((out.ok_or("an image never came back")?, took))
}

fn run_flat(cfg: &Config) -> Result<String, String> {
    let count = IMAGES * cfg.scale;
    let (one, t1) = batch(1, count, cfg)?;
    let (mut many, mut tn) = batch(cfg.threads, count, cfg)?;
    let mut rounds = 1;
    while cfg.deadline.is_some() && cfg.more(0, 0) {
        let (again, t) = batch(cfg.threads, count, cfg)?;
        if again != many {
            return Err("the same batch gave different images".into());
        }
        (many, tn, rounds) = (again, tn + t, rounds + 1);
    }
    if one != many {
        return Err("one worker and many gave different images".into());
    }
    let decoded = image::load_from_memory(&many[0].png).map_err(|e| e.to_string())?;
    if (decoded.width(), decoded.height()) != (SIZE / 2, SIZE / 2) {
        return Err(format!(
            "the PNG decodes to {}x{}",
            decoded.width(),
            decoded.height()
        ));
    }
    let bytes: usize = many.iter().map(|p| p.png.len()).sum();
    Ok(format!(
        "{count} images {SIZE}px -> resize, blur, PNG ({} KiB); speedup {:.1}x on {} workers vs 1 \
         ({:.0} ms vs {:.0} ms)",
        bytes / 1024,
        t1.as_secs_f64() / (tn.as_secs_f64() / rounds as f64),
        cfg.threads,
        tn.as_secs_f64() * 1e3 / rounds as f64,
        t1.as_secs_f64() * 1e3,
    ))
}

fn run_nested(_cfg: &Config) -> Result<String, String> {
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(1)
            .name_prefix("image-worker")
            .build()
            .map_err(|e| e.to_string())?,
    );
    let p = Arc::clone(&pool);
    let mut outer = pool
        .submit(move || {
            let full = process(0, SIZE);
            // BUG: waits, on the only worker, for a task queued behind itself.
            let mut thumb = p.submit(move || process(0, SIZE / 4)).expect("pool open");
            thumb
                .result_timeout(Duration::from_secs(1))
                .map(|t| (full, t))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| e.to_string())?;
    let result = outer
        .result_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    pool.shutdown(true, true);
    match result {
        Ok(_) => Ok("the thumbnail ran (a free worker happened to be there)".into()),
        Err(e) => Err(format!(
            "the task waited for a task queued behind it in its own pool: {e}"
        )),
    }
}

fn check_nested() {
    let pool = Arc::new(ThreadPool::builder().workers(1).build().unwrap());
    let p = Arc::clone(&pool);
    let outer = pool
        .submit(move || {
            let full = process(0, 8);
            let thumb = p.submit(move || process(0, 4)).unwrap();
            (full, thumb.result().unwrap())
        })
        .unwrap();
    let (full, thumb) = outer.result().unwrap();
    assert!(full.checksum > 0 && thumb.checksum > 0);
    pool.shutdown(true, false);
}

fn check_flat() {
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    let futures: Vec<_> = (0..3)
        .map(|i| pool.submit(move || process(i, 8)).unwrap())
        .collect();
    let mut seen = [false; 3];
    for f in as_completed(futures, None) {
        let p = f.unwrap().result().unwrap();
        assert!(!std::mem::replace(&mut seen[p.index], true), "image twice");
    }
    assert!(seen.iter().all(|&s| s), "an image never came back");
    pool.shutdown(true, false);
}
