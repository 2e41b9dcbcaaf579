//! Borrowed views of camera images in the pixel layouts the tracker reads.

use anyhow::{Result, bail};

/// Byte layout of one pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb8,
    Rgba8,
    Bgra8,
    Gray8,
}

impl PixelFormat {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 => 3,
            PixelFormat::Rgba8 | PixelFormat::Bgra8 => 4,
            PixelFormat::Gray8 => 1,
        }
    }
}

/// An image the tracker reads without copying: rows `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub format: PixelFormat,
    pub data: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// Checks that the buffer holds the whole image, so sampling can never read past it.
    pub fn new(
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
        data: &'a [u8],
    ) -> Result<Self> {
        if width == 0 || height == 0 {
            bail!("empty image ({width}x{height})");
        }
        let row = width as usize * format.bytes_per_pixel();
        if stride < row {
            bail!("row stride {stride} is shorter than a row of {row} bytes");
        }
        let need = stride * (height as usize - 1) + row;
        if data.len() < need {
            bail!(
                "image buffer holds {} bytes, a {width}x{height} image needs {need}",
                data.len()
            );
        }
        Ok(ImageView {
            width,
            height,
            stride,
            format,
            data,
        })
    }

    /// A tightly packed RGB image.
    pub fn rgb(width: u32, height: u32, data: &'a [u8]) -> Result<Self> {
        Self::new(width, height, width as usize * 3, PixelFormat::Rgb8, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_images_that_do_not_fit_their_buffer() {
        assert!(ImageView::rgb(0, 4, &[]).is_err());
        assert!(ImageView::rgb(2, 2, &[0; 11]).is_err());
        assert!(ImageView::new(2, 2, 5, PixelFormat::Rgb8, &[0; 12]).is_err());
        assert!(ImageView::rgb(2, 2, &[0; 12]).is_ok());
        // Padded rows: the last row needs no padding after it.
        assert!(ImageView::new(2, 2, 8, PixelFormat::Bgra8, &[0; 16]).is_ok());
        assert!(ImageView::new(2, 2, 8, PixelFormat::Bgra8, &[0; 15]).is_err());
    }
}
