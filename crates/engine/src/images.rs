//! Images for models: within what providers take (at most 2048 pixels a side and
//! 3.5 MiB), downscaled once when larger and kept beside the upload for later steps.

use agentdeck_model::FileObject;
use agentdeck_providers::ImageInput;
use agentdeck_store::Store;
use base64::Engine as _;

/// The longest side an image goes to a model with.
pub const MAX_SIDE: u32 = 2048;
/// The most bytes of one image (Anthropic takes 5 MB of base64).
pub const MAX_IMAGE_BYTES: usize = 3_584 * 1024;
/// The most memory a decoder may take for one image.
const DECODE_ALLOC: u64 = 512 * 1024 * 1024;

pub fn is_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// Width and height from an image's header (nothing decoded).
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let size = imagesize::blob_size(bytes).ok()?;
    Some((
        u32::try_from(size.width).ok()?,
        u32::try_from(size.height).ok()?,
    ))
}

/// The image as a model gets it: the upload when it fits, else a downscaled copy
/// (made once, then read from `DATA_DIR/files/ID.model`).
pub fn prepare(store: &Store, file: &FileObject) -> Result<ImageInput, String> {
    let (width, height) = (file.width.unwrap_or(0), file.height.unwrap_or(0));
    let fits = width <= MAX_SIDE && height <= MAX_SIDE && file.bytes as usize <= MAX_IMAGE_BYTES;
    let input = |media_type: &str, bytes: &[u8], width, height| ImageInput {
        name: file.filename.clone(),
        media_type: media_type.to_string(),
        width,
        height,
        base64: base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into(),
    };
    if fits {
        let bytes = store.file_contents(&file.id).map_err(|e| e.to_string())?;
        return Ok(input(&file.content_type, &bytes, width, height));
    }
    let cached = store.derived_path(&file.id, "model");
    if let Ok(bytes) = std::fs::read(&cached) {
        if let Some((w, h)) = dimensions(&bytes) {
            let media_type = if bytes.starts_with(b"\x89PNG") {
                "image/png"
            } else {
                "image/jpeg"
            };
            return Ok(input(media_type, &bytes, w, h));
        }
    }
    let bytes = store.file_contents(&file.id).map_err(|e| e.to_string())?;
    let (media_type, smaller) = downscale(&bytes, &file.content_type)?;
    let (w, h) = dimensions(&smaller).ok_or("the downscaled image is unreadable")?;
    let temporary = cached.with_extension("new");
    std::fs::write(&temporary, &smaller)
        .and_then(|()| std::fs::rename(&temporary, &cached))
        .map_err(|e| e.to_string())?;
    Ok(input(media_type, &smaller, w, h))
}

/// Decodes (with bounded memory), fits into `MAX_SIDE` and `MAX_IMAGE_BYTES`, and encodes
/// as JPEG (photos) or PNG (drawings, with their transparency).
fn downscale(bytes: &[u8], content_type: &str) -> Result<(&'static str, Vec<u8>), String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes));
    reader = reader
        .with_guessed_format()
        .map_err(|e| format!("the image is unreadable: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(DECODE_ALLOC);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| format!("the image is unreadable: {e}"))?;
    let photo = matches!(content_type, "image/jpeg" | "image/webp");
    let mut side = MAX_SIDE;
    loop {
        let fitted = if decoded.width() > side || decoded.height() > side {
            decoded.resize(side, side, image::imageops::FilterType::Triangle)
        } else {
            decoded.clone()
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let media_type = if photo {
            let rgb = image::DynamicImage::ImageRgb8(fitted.to_rgb8());
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            rgb.write_with_encoder(encoder)
                .map_err(|e| format!("the image could not be encoded: {e}"))?;
            "image/jpeg"
        } else {
            fitted
                .write_to(&mut out, image::ImageFormat::Png)
                .map_err(|e| format!("the image could not be encoded: {e}"))?;
            "image/png"
        };
        let out = out.into_inner();
        if out.len() <= MAX_IMAGE_BYTES || side <= 256 {
            return Ok((media_type, out));
        }
        side = side * 3 / 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_large_image_is_downscaled_within_the_limits() {
        let bytes = png(3000, 1000);
        assert_eq!(dimensions(&bytes), Some((3000, 1000)));
        let (media_type, smaller) = downscale(&bytes, "image/png").unwrap();
        assert_eq!(media_type, "image/png");
        let (w, h) = dimensions(&smaller).unwrap();
        assert!(w <= MAX_SIDE && h <= MAX_SIDE, "{w}x{h}");
        assert_eq!(w, MAX_SIDE);
        assert!(smaller.len() <= MAX_IMAGE_BYTES);
        assert!(downscale(b"\x89PNG\r\n\x1a\nbroken", "image/png").is_err());
    }
}
