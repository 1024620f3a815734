//! Reading the screenshots headless Chromium takes: 8-bit RGB or RGBA, not interlaced
//! (what it writes), inflated with miniz_oxide and unfiltered here, so that a test can
//! look at the pixels rather than trust a file size.

/// An image's pixels as RGB.
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<[u8; 3]>,
}

impl Image {
    /// The share of pixels that are not (near) white, 0.0 to 1.0.
    pub fn inked(&self) -> f64 {
        let n = self
            .rgb
            .iter()
            .filter(|p| p.iter().any(|&c| c < 235))
            .count();
        n as f64 / self.rgb.len().max(1) as f64
    }

    /// How many pixels are close to `colour` (each channel within 40).
    pub fn near(&self, colour: [u8; 3]) -> usize {
        self.rgb
            .iter()
            .filter(|p| p.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 40))
            .count()
    }
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Decodes `png`; an error says what is not as expected.
pub fn decode(png: &[u8]) -> Result<Image, String> {
    const SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    if png.len() < 8 || png[..8] != SIG {
        return Err("not a PNG".into());
    }
    let (mut at, mut ihdr, mut idat) = (8, None, Vec::new());
    while at + 12 <= png.len() {
        let len = be32(&png[at..]);
        let kind = &png[at + 4..at + 8];
        let data = png
            .get(at + 8..at + 8 + len)
            .ok_or("a chunk runs past the end")?;
        match kind {
            b"IHDR" => ihdr = Some(data.to_vec()),
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let h = ihdr.ok_or("no IHDR")?;
    let (width, height, depth, colour, interlace) = (be32(&h), be32(&h[4..]), h[8], h[9], h[12]);
    let channels = match colour {
        2 => 3,
        6 => 4,
        c => return Err(format!("colour type {c}")),
    };
    if depth != 8 || interlace != 0 {
        return Err(format!("depth {depth}, interlace {interlace}"));
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat)
        .map_err(|e| format!("inflate: {e:?}"))?;
    let stride = width * channels;
    if raw.len() != height * (stride + 1) {
        return Err(format!("{} bytes for {width}x{height}", raw.len()));
    }
    let mut prev = vec![0u8; stride];
    let mut rgb = Vec::with_capacity(width * height);
    for y in 0..height {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let (filter, line) = (line[0], &line[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => return Err(format!("filter {f}")),
            };
            cur[i] = line[i].wrapping_add(pred);
        }
        for px in cur.chunks(channels) {
            rgb.push([px[0], px[1], px[2]]);
        }
        prev = cur;
    }
    Ok(Image { width, height, rgb })
}
