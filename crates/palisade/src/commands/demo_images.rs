//! Product pictures for the demo, drawn at display resolution (800 × 800) when the demo is seeded: a soft diagonal
//! backdrop, a shaded object with a drop shadow, a label band and a highlight, its colours and shape from the
//! product's seed. No photos ship with the binary, and every product still looks like a different thing.
//!
//! Speed matters more than finesse here (a few hundred pictures must take well under a second in release and stay
//! bearable in the debug builds tests use), so every row is assembled from slices copied out of a few
//! precomputed "paint" rows: a diagonal gradient is one long row read at an offset of `y`. Per pixel nothing is
//! computed; per row and shape, two edge pixels are blended for smooth outlines.

/// Width and height of every demo picture, in pixels.
pub const SIDE: u32 = 800;
const W: usize = SIDE as usize;
const PX: usize = 3;

/// A tiny deterministic generator (SplitMix64): the demo must draw the same data on every run and every
/// platform, which a general-purpose RNG does not promise across versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A number in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

type Rgb = [f32; 3];

/// A colour from hue (degrees), saturation and lightness (0..1).
fn hsl(h: f32, s: f32, l: f32) -> Rgb {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn push(out: &mut Vec<u8>, c: Rgb) {
    out.extend(c.iter().map(|v| v.clamp(0.0, 255.0) as u8));
}

/// What a shape is filled with: one row read at an offset of `y` (a diagonal gradient, length `2W`), or the
/// same row for every `y` (a solid colour or a horizontal gradient, length `W`).
struct Paint {
    row: Vec<u8>,
    diagonal: bool,
}

impl Paint {
    fn diagonal(from: Rgb, to: Rgb) -> Self {
        let mut row = Vec::with_capacity(2 * W * PX);
        for i in 0..2 * W {
            push(&mut row, mix(from, to, i as f32 / (2 * W) as f32));
        }
        Self { row, diagonal: true }
    }

    fn solid(c: Rgb) -> Self {
        let mut row = Vec::with_capacity(W * PX);
        push(&mut row, c);
        while row.len() < W * PX {
            let n = row.len().min(W * PX - row.len());
            row.extend_from_within(..n);
        }
        Self { row, diagonal: false }
    }

    /// Row `y` of this paint, `W` pixels wide.
    fn at(&self, y: usize) -> &[u8] {
        let start = if self.diagonal { y.min(W) * PX } else { 0 };
        self.row.get(start..start + W * PX).unwrap_or(&[])
    }
}

/// A filled outline: for a row, the horizontal extent it covers.
#[derive(Clone, Copy)]
enum Shape {
    Ellipse {
        cx: f32,
        cy: f32,
        rx: f32,
        ry: f32,
    },
    /// A rectangle with rounded corners.
    Rounded {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        r: f32,
    },
}

impl Shape {
    fn rows(self) -> (usize, usize) {
        let (top, bottom) = match self {
            Shape::Ellipse { cy, ry, .. } => (cy - ry, cy + ry),
            Shape::Rounded { y, h, .. } => (y, y + h),
        };
        (top.max(0.0) as usize, (bottom.ceil().max(0.0) as usize).min(W))
    }

    fn span(self, y: usize) -> Option<(f32, f32)> {
        let py = y as f32 + 0.5;
        match self {
            Shape::Ellipse { cx, cy, rx, ry } => {
                let d = (py - cy) / ry;
                (d.abs() < 1.0).then(|| {
                    let half = rx * (1.0 - d * d).sqrt();
                    (cx - half, cx + half)
                })
            }
            Shape::Rounded { x, y: top, w, h, r } => {
                if py < top || py > top + h {
                    return None;
                }
                let from_edge = (py - top).min(top + h - py);
                let inset = if from_edge < r { r - (r * r - (r - from_edge).powi(2)).max(0.0).sqrt() } else { 0.0 };
                Some((x + inset, x + w - inset))
            }
        }
    }
}

/// The picture being drawn, RGB rows top to bottom.
struct Canvas {
    buf: Vec<u8>,
}

impl Canvas {
    fn new(background: &Paint) -> Self {
        let mut buf = Vec::with_capacity(W * W * PX);
        for y in 0..W {
            buf.extend_from_slice(background.at(y));
        }
        Self { buf }
    }

    fn fill(&mut self, shape: Shape, paint: &Paint) {
        let (top, bottom) = shape.rows();
        for y in top..bottom {
            if let Some((x0, x1)) = shape.span(y) {
                self.span(y, x0, x1, paint.at(y));
            }
        }
    }

    /// Copies `src` over `[x0, x1)` of row `y`, blending the two partly covered edge pixels.
    fn span(&mut self, y: usize, x0: f32, x1: f32, src: &[u8]) {
        let (x0, x1) = (x0.clamp(0.0, W as f32), x1.clamp(0.0, W as f32));
        if x1 <= x0 {
            return;
        }
        let (first, last) = (x0.ceil() as usize, x1.floor() as usize);
        let row = y * W * PX;
        if first < last
            && let (Some(dst), Some(from)) =
                (self.buf.get_mut(row + first * PX..row + last * PX), src.get(first * PX..last * PX))
        {
            dst.copy_from_slice(from);
        }
        self.blend(row, src, first.saturating_sub(1), first as f32 - x0);
        self.blend(row, src, last, x1 - last as f32);
    }

    fn blend(&mut self, row: usize, src: &[u8], x: usize, cover: f32) {
        if cover <= 0.0 || x >= W {
            return;
        }
        for c in 0..PX {
            let (Some(d), Some(s)) = (self.buf.get_mut(row + x * PX + c), src.get(x * PX + c)) else { return };
            *d = (f32::from(*d) * (1.0 - cover) + f32::from(*s) * cover) as u8;
        }
    }
}

/// The object's silhouette: a few families so a catalog does not look like one shape in many colours.
fn object(rng: &mut Rng, cx: f32, cy: f32) -> (Vec<Shape>, Shape) {
    let s = W as f32;
    match rng.below(4) {
        // A round tin or plate.
        0 => {
            let r = rng.range(0.24, 0.32) * s;
            let body = Shape::Ellipse { cx, cy, rx: r, ry: r };
            (vec![body], Shape::Rounded { x: cx - r, y: cy - r * 0.18, w: 2.0 * r, h: r * 0.36, r: 0.0 })
        }
        // A jar with a lid.
        1 => {
            let (w, h) = (rng.range(0.34, 0.44) * s, rng.range(0.42, 0.52) * s);
            let body = Shape::Rounded { x: cx - w / 2.0, y: cy - h / 2.0 + 0.06 * s, w, h, r: 0.07 * s };
            let lid =
                Shape::Rounded { x: cx - w * 0.42, y: cy - h / 2.0 - 0.02 * s, w: w * 0.84, h: 0.1 * s, r: 0.03 * s };
            (vec![lid, body], Shape::Rounded { x: cx - w / 2.0, y: cy + 0.02 * s, w, h: h * 0.3, r: 0.0 })
        }
        // A box or book, upright.
        2 => {
            let (w, h) = (rng.range(0.36, 0.46) * s, rng.range(0.5, 0.58) * s);
            let body = Shape::Rounded { x: cx - w / 2.0, y: cy - h / 2.0, w, h, r: 0.018 * s };
            (vec![body], Shape::Rounded { x: cx - w / 2.0, y: cy - h * 0.12, w, h: h * 0.22, r: 0.0 })
        }
        // A bottle or pouch: a wide body under a narrow neck.
        _ => {
            let (w, h) = (rng.range(0.3, 0.38) * s, rng.range(0.44, 0.5) * s);
            let neck =
                Shape::Rounded { x: cx - w * 0.2, y: cy - h / 2.0 - 0.1 * s, w: w * 0.4, h: 0.16 * s, r: 0.025 * s };
            let body = Shape::Rounded { x: cx - w / 2.0, y: cy - h / 2.0, w, h, r: w * 0.3 };
            (vec![neck, body], Shape::Rounded { x: cx - w / 2.0, y: cy, w, h: h * 0.24, r: 0.0 })
        }
    }
}

/// The RGB pixels of picture `seed` (`SIDE × SIDE × 3` bytes).
fn draw(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let s = W as f32;
    let hue = rng.range(0.0, 360.0);
    let warm = hue + rng.range(25.0, 60.0);
    let backdrop = Paint::diagonal(hsl(hue, 0.45, 0.9), hsl(warm, 0.5, 0.78));
    let shadow = Paint::diagonal(hsl(hue, 0.3, 0.74), hsl(warm, 0.32, 0.64));
    let mut canvas = Canvas::new(&backdrop);
    // Confetti: a few soft dots in the background.
    let dots = Paint::diagonal(hsl(hue, 0.5, 0.84), hsl(warm, 0.55, 0.72));
    for _ in 0..3 + rng.below(4) {
        let r = rng.range(0.02, 0.07) * s;
        let (cx, cy) = (rng.range(0.05, 0.95) * s, rng.range(0.05, 0.95) * s);
        canvas.fill(Shape::Ellipse { cx, cy, rx: r, ry: r }, &dots);
    }
    let (cx, cy) = (s / 2.0 + rng.range(-0.04, 0.04) * s, s * 0.47);
    let body_hue = hue + 180.0 + rng.range(-50.0, 50.0);
    let (parts, band) = object(&mut rng, cx, cy);
    // The shadow sits just under the object's lowest point, as wide as the object.
    let (bottom, width) = parts.iter().fold((0usize, 0.0f32), |(b, w), p| {
        let (_, pb) = p.rows();
        let pw = p.span(p.rows().0.midpoint(pb)).map_or(0.0, |(x0, x1)| x1 - x0);
        (b.max(pb), w.max(pw))
    });
    let floor = Shape::Ellipse { cx: cx + 0.02 * s, cy: bottom as f32, rx: width * 0.6, ry: 0.04 * s };
    canvas.fill(floor, &shadow);
    let body = Paint::diagonal(hsl(body_hue, 0.55, 0.62), hsl(body_hue + 15.0, 0.6, 0.36));
    for part in &parts {
        canvas.fill(*part, &body);
    }
    // The label: a band across the object, clipped to it by drawing only where the body is.
    let label = Paint::solid(hsl(hue + rng.range(-20.0, 20.0), 0.35, 0.93));
    if let Some(main) = parts.last() {
        let (top, bottom) = band.rows();
        for y in top..bottom {
            if let (Some((a0, a1)), Some((b0, b1))) = (main.span(y), band.span(y)) {
                canvas.span(y, a0.max(b0) + 0.02 * s, a1.min(b1) - 0.02 * s, label.at(y));
            }
        }
    }
    let gloss = Paint::solid(hsl(body_hue, 0.5, 0.8));
    let (top, _) = parts.last().map_or((0, 0), |p| p.rows());
    canvas.fill(Shape::Ellipse { cx: cx - 0.09 * s, cy: top as f32 + 0.07 * s, rx: 0.035 * s, ry: 0.02 * s }, &gloss);
    canvas.buf
}

/// Bytewise wrapping `a - b` of eight bytes at once (no borrow crosses a byte: each byte of `a | H` is at least
/// 0x80 and each of `b & !H` at most 0x7f).
fn sub_bytes(a: u64, b: u64) -> u64 {
    const H: u64 = 0x8080_8080_8080_8080;
    ((a | H) - (b & !H)) ^ ((a ^ !b) & H)
}

/// The pixel rows with PNG's "Up" filter (each byte minus the byte above), ready for deflate: mostly zeros, which
/// compress to almost nothing. Computed eight bytes at a time so that debug builds stay quick.
fn filtered(pixels: &[u8]) -> Vec<u8> {
    let stride = W * PX;
    let mut raw = Vec::with_capacity(W * (stride + 1));
    let mut above: Option<&[u8]> = None;
    for row in pixels.chunks(stride) {
        match above {
            None => {
                raw.push(0);
                raw.extend_from_slice(row);
            }
            Some(prev) => {
                raw.push(2);
                for (a, b) in row.chunks_exact(8).zip(prev.chunks_exact(8)) {
                    let (Ok(a), Ok(b)) = (<[u8; 8]>::try_from(a), <[u8; 8]>::try_from(b)) else { continue };
                    raw.extend_from_slice(&sub_bytes(u64::from_le_bytes(a), u64::from_le_bytes(b)).to_le_bytes());
                }
            }
        }
        above = Some(row);
    }
    raw
}

/// A PNG picture of `SIDE × SIDE` pixels for the product with this seed; the same seed gives the same bytes.
///
/// Filtered here and compressed with `fdeflate::compress_to_vec`, which is compiled (and optimised, see the
/// workspace profile) inside fdeflate: `png`'s own writer is generic over its output, so in a debug build it ran
/// unoptimised in this crate, about 80 ms a picture.
pub fn product_image(seed: u64) -> anyhow::Result<Vec<u8>> {
    const { assert!((W * PX).is_multiple_of(8), "rows are filtered in whole 8-byte words") };
    let idat = fdeflate::compress_to_vec(&filtered(&draw(seed)));
    let mut out = Vec::with_capacity(idat.len() + 128);
    {
        let mut enc = png::Encoder::new(&mut out, SIDE, SIDE);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_chunk(png::chunk::IDAT, &idat)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_display_sized_deterministic_and_distinct() {
        let a = product_image(1).unwrap();
        assert_eq!(a, product_image(1).unwrap(), "same seed, same bytes");
        assert_ne!(a, product_image(2).unwrap());
        let size = imagesize_of(&a);
        assert_eq!(size, (800, 800));
        assert!(a.len() < 200 * 1024, "{} bytes", a.len());
        // It decodes to the picture that was drawn.
        let mut reader = png::Decoder::new(std::io::Cursor::new(&a)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert_eq!(buf, draw(1));
    }

    fn imagesize_of(png: &[u8]) -> (u32, u32) {
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        (w, h)
    }

    /// Not noise: most neighbouring pixels are equal or nearly so (a flat or gently graded picture).
    #[test]
    fn pictures_are_smooth_not_noise() {
        let px = draw(7);
        let rough = px
            .chunks(3)
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0].iter().zip(w[1]).any(|(a, b)| a.abs_diff(*b) > 12))
            .count();
        assert!(rough < px.len() / 3 / 50, "{rough} sharp steps");
    }
}
