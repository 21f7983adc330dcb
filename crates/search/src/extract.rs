//! The text of an uploaded file, by the type its bytes show: plain text, Markdown and CSV
//! as they are, JSON pretty-printed, HTML through `html2text`, PDF page by page through
//! `pdf_oxide` (and `pdf-extract` where that finds nothing). Anything else is refused with
//! a reason, never guessed at.

/// Pages of text (one page for every type but PDF).
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub pages: Vec<String>,
    /// Whether page numbers mean something (PDF), for citations.
    pub paged: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("{0} files have no text this build can read")]
    Unsupported(String),
    #[error("the PDF is encrypted; upload it without a password")]
    Encrypted,
    #[error("the PDF is unreadable: {0}")]
    BrokenPdf(String),
    #[error(
        "the PDF's compressed streams expand past {limit} MiB: refused as a possible decompression bomb",
        limit = .0 / (1024 * 1024)
    )]
    Bomb(u64),
    #[error("the file holds no text")]
    NoText,
}

/// The most a PDF's compressed streams may expand to, in all.
pub const MAX_EXPANDED_BYTES: u64 = 256 * 1024 * 1024;
/// HTML is rendered at this width (lines wrap there; search does not care).
const HTML_WIDTH: usize = 100;

/// The text of a file whose sniffed type is `content_type`.
pub fn extract(content_type: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let single = |text: String| -> Result<Extracted, ExtractError> {
        if text.trim().is_empty() {
            return Err(ExtractError::NoText);
        }
        Ok(Extracted {
            pages: vec![text],
            paged: false,
        })
    };
    match content_type {
        "text/plain" => single(String::from_utf8_lossy(bytes).into_owned()),
        "application/json" => {
            let text = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|value| serde_json::to_string_pretty(&value).ok())
                .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
            single(text)
        }
        "text/html" => {
            let text = html2text::from_read(bytes, HTML_WIDTH)
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
            single(text)
        }
        "application/pdf" => pdf(bytes),
        other => Err(ExtractError::Unsupported(other.to_string())),
    }
}

fn pdf(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    check_expansion(bytes, MAX_EXPANDED_BYTES)?;
    let has_text = |pages: &[String]| pages.iter().any(|page| !page.trim().is_empty());
    // A parser that panics on a hostile file is a file it could not read.
    if let Ok(Ok(pages)) = std::panic::catch_unwind(|| oxide_pages(bytes)) {
        if has_text(&pages) {
            return Ok(Extracted { pages, paged: true });
        }
    }
    let encrypted = lopdf::Document::load_mem(bytes)
        .map_err(|err| ExtractError::BrokenPdf(err.to_string()))?
        .is_encrypted();
    // One encrypted with an empty user password (only "protected") is read; one that
    // needs a password is not.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| ExtractError::BrokenPdf("its text could not be read".into()))?
        .map_err(|err| {
            if encrypted {
                ExtractError::Encrypted
            } else {
                ExtractError::BrokenPdf(err.to_string())
            }
        })?;
    if !has_text(&pages) {
        return Err(ExtractError::NoText);
    }
    Ok(Extracted { pages, paged: true })
}

/// Every page's text, by `pdf_oxide` (a page it cannot read is empty).
fn oxide_pages(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut document =
        pdf_oxide::document::PdfDocument::from_bytes(bytes.to_vec()).map_err(|e| e.to_string())?;
    let count = document.page_count().map_err(|e| e.to_string())?;
    Ok((0..count)
        .map(|page| document.extract_text(page).unwrap_or_default())
        .collect())
}

/// Refuses a PDF whose deflated streams would expand past `limit` bytes in all, before a
/// parser inflates them: each `stream` body that starts like zlib is inflated through a
/// bounded reader (the bytes are counted and dropped).
pub fn check_expansion(bytes: &[u8], limit: u64) -> Result<(), ExtractError> {
    use std::io::Read;
    let mut total: u64 = 0;
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], b"stream") {
        let keyword = at + found;
        at = keyword + b"stream".len();
        // `endstream` contains `stream`: skip it.
        if keyword >= 3 && &bytes[keyword - 3..keyword] == b"end" {
            continue;
        }
        let mut body = at;
        if bytes.get(body) == Some(&b'\r') {
            body += 1;
        }
        if bytes.get(body) == Some(&b'\n') {
            body += 1;
        }
        // zlib's first byte is 0x78 for the window sizes PDF writers use.
        if bytes.get(body) != Some(&0x78) {
            continue;
        }
        let end = find(&bytes[body..], b"endstream").map_or(bytes.len(), |e| body + e);
        let budget = limit.saturating_sub(total);
        let mut decoder = flate2::read::ZlibDecoder::new(&bytes[body..end]).take(budget + 1);
        let expanded = std::io::copy(&mut decoder, &mut std::io::sink()).unwrap_or(0);
        total += expanded;
        if total > limit {
            return Err(ExtractError::Bomb(limit));
        }
        at = end;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types_are_read_and_others_refused() {
        let plain = extract("text/plain", b"one two\nthree").unwrap();
        assert_eq!(plain.pages, vec!["one two\nthree".to_string()]);
        assert!(!plain.paged);
        let json = extract("application/json", br#"{"clause":"liability"}"#).unwrap();
        assert!(json.pages[0].contains("\"clause\": \"liability\""));
        let html = extract(
            "text/html",
            b"<html><head><script>var x=1;</script></head><body><h1>Terms</h1><p>Liability is capped.</p></body></html>",
        )
        .unwrap();
        assert!(html.pages[0].contains("Liability is capped."), "{html:?}");
        assert!(!html.pages[0].contains("var x"), "scripts are not text");
        assert_eq!(
            extract("image/png", b"\x89PNG"),
            Err(ExtractError::Unsupported("image/png".into()))
        );
        assert_eq!(extract("text/plain", b"  \n "), Err(ExtractError::NoText));
    }

    #[test]
    fn broken_pdfs_are_errors_not_panics() {
        assert!(matches!(
            extract("application/pdf", b"%PDF-1.7\nnot really a pdf"),
            Err(ExtractError::BrokenPdf(_))
        ));
        assert!(matches!(
            extract("application/pdf", b"%PDF-"),
            Err(ExtractError::BrokenPdf(_))
        ));
    }

    #[test]
    fn a_deflate_bomb_is_refused_before_parsing() {
        use std::io::Write;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..8 {
            encoder.write_all(&zeros).unwrap();
        }
        let body = encoder.finish().unwrap();
        let mut pdf = b"%PDF-1.7\n1 0 obj\n<< /Length 1 /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        assert_eq!(
            check_expansion(&pdf, 4 * 1024 * 1024),
            Err(ExtractError::Bomb(4 * 1024 * 1024))
        );
        assert_eq!(check_expansion(&pdf, 16 * 1024 * 1024), Ok(()));
    }
}
