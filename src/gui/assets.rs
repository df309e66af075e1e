//! The app's art, embedded in the binary so `cargo run --release` works from any folder:
//! the window icon and a glyph per agent kind for the legend, drawn by
//! scripts/make_assets.py into assets/ and decoded here (PNG, RGBA).

use bevy::ecs::system::NonSendMarker;
use bevy::prelude::*;

/// The window icon (64 × 64).
pub const ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

/// Glyphs by name (32 × 32): an agent kind's, and `crashed` for any crashed agent.
pub const GLYPHS: [(&str, &[u8]); 4] = [
    ("vehicle", include_bytes!("../../assets/glyphs/vehicle.png")),
    ("controller", include_bytes!("../../assets/glyphs/controller.png")),
    ("traffic_light", include_bytes!("../../assets/glyphs/traffic_light.png")),
    ("crashed", include_bytes!("../../assets/glyphs/crashed.png")),
];

/// The glyph drawn for `name`, if there is one.
pub fn glyph(name: &str) -> Option<&'static [u8]> {
    GLYPHS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// A PNG as RGBA bytes, width and height (`None` if it does not decode).
pub fn decode_rgba(png_bytes: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        _ => return None,
    };
    Some((rgba, info.width, info.height))
}

/// Sets the window icon once the window exists.
pub fn plugin(app: &mut App) {
    app.add_systems(Update, set_window_icon);
}

fn set_window_icon(mut done: Local<bool>, _main_thread: NonSendMarker) {
    if *done {
        return;
    }
    let Some((rgba, w, h)) = decode_rgba(ICON_PNG) else {
        *done = true;
        return;
    };
    bevy::winit::WINIT_WINDOWS.with_borrow(|windows| {
        if windows.windows.is_empty() {
            return;
        }
        if let Ok(icon) = winit::window::Icon::from_rgba(rgba, w, h) {
            for window in windows.windows.values() {
                window.set_window_icon(Some(icon.clone()));
            }
        }
        *done = true;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_picture_decodes() {
        let (rgba, w, h) = decode_rgba(ICON_PNG).expect("icon decodes");
        assert_eq!((w, h, rgba.len()), (64, 64, 64 * 64 * 4));
        for (name, bytes) in GLYPHS {
            let (rgba, w, h) = decode_rgba(bytes).unwrap_or_else(|| panic!("{name} decodes"));
            assert_eq!((w, h), (32, 32), "{name}");
            assert!(rgba.chunks(4).any(|p| p[3] > 200), "{name} is not blank");
        }
    }
}
