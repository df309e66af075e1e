//! One mesh for many agents: every agent is a small coloured quad in a single vertex buffer rewritten in place each frame.
//!
//! One draw call and no per-agent entities or assets keeps drawing cheap at 10^5 agents; the
//! vectors are reused across frames so steady-state drawing allocates nothing.

use bevy::asset::RenderAssetUsages;
use bevy::camera::visibility::NoFrustumCulling;
use bevy::mesh::{Indices, PrimitiveTopology, VertexAttributeValues};
use bevy::prelude::*;

/// CPU-side buffers of one batch; filled by a world's drawing system, then copied into the mesh.
#[derive(Default, Debug)]
pub struct GlyphBuffers {
    positions: Vec<[f32; 3]>,
    colors: Vec<[f32; 4]>,
    indices: Vec<u32>,
}

impl GlyphBuffers {
    /// Empties the buffers, keeping their capacity.
    pub fn clear(&mut self) {
        self.positions.clear();
        self.colors.clear();
        self.indices.clear();
    }

    /// Number of glyphs currently held.
    pub fn len(&self) -> usize {
        self.positions.len() / 4
    }

    /// Whether no glyph is held.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Adds an oriented rectangle: `length` along `heading` (radians, counter-clockwise from +x), `width` across.
    ///
    /// The front half is drawn slightly narrower so the direction of travel can be seen when zoomed in.
    pub fn push_vehicle(&mut self, centre: Vec2, heading: f32, length: f32, width: f32, color: LinearRgba) {
        let (s, c) = heading.sin_cos();
        let fwd = Vec2::new(c, s);
        let left = Vec2::new(-s, c);
        let hl = length * 0.5;
        let hw = width * 0.5;
        let corners = [
            centre - fwd * hl - left * hw,
            centre + fwd * hl - left * hw * 0.6,
            centre + fwd * hl + left * hw * 0.6,
            centre - fwd * hl + left * hw,
        ];
        self.push_quad(corners, color);
    }

    /// Adds a quadrilateral given by its corners in order (either winding).
    pub fn push_quad(&mut self, corners: [Vec2; 4], color: LinearRgba) {
        let base = self.positions.len() as u32;
        let rgba = color.to_f32_array();
        for p in corners {
            self.positions.push([p.x, p.y, 0.0]);
            self.colors.push(rgba);
        }
        self.indices.extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
    }

    /// Adds an axis-aligned square of side `size` centred at `centre`.
    pub fn push_square(&mut self, centre: Vec2, size: f32, color: LinearRgba) {
        self.push_vehicle(centre, 0.0, size, size, color);
    }

    /// Copies the buffers into `mesh`, reusing the mesh's own vectors so no allocation happens once they are large enough.
    ///
    /// An empty batch is written as one invisible, zero-area triangle: Bevy's mesh allocator
    /// gives a mesh with no vertices no buffer slot and then logs a "use-after-free" error
    /// for every upload of it (once at start for each empty batch, again whenever one empties).
    pub fn write_to(&self, mesh: &mut Mesh) {
        const NOTHING_POS: [[f32; 3]; 3] = [[0.0; 3]; 3];
        const NOTHING_COL: [[f32; 4]; 3] = [[0.0; 4]; 3];
        const NOTHING_IDX: [u32; 3] = [0, 1, 2];
        let empty = self.positions.is_empty();
        let positions: &[[f32; 3]] = if empty { &NOTHING_POS } else { &self.positions };
        let colors: &[[f32; 4]] = if empty { &NOTHING_COL } else { &self.colors };
        let indices: &[u32] = if empty { &NOTHING_IDX } else { &self.indices };
        match mesh.attribute_mut(Mesh::ATTRIBUTE_POSITION) {
            Some(VertexAttributeValues::Float32x3(v)) => {
                v.clear();
                v.extend_from_slice(positions);
            }
            _ => mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, positions.to_vec()),
        }
        match mesh.attribute_mut(Mesh::ATTRIBUTE_COLOR) {
            Some(VertexAttributeValues::Float32x4(v)) => {
                v.clear();
                v.extend_from_slice(colors);
            }
            _ => mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, colors.to_vec()),
        }
        match mesh.indices_mut() {
            Some(Indices::U32(v)) => {
                v.clear();
                v.extend_from_slice(indices);
            }
            _ => mesh.insert_indices(Indices::U32(indices.to_vec())),
        }
    }
}

/// A triangle-list mesh with position and colour attributes that draws nothing, ready for [`GlyphBuffers::write_to`].
pub fn empty_mesh() -> Mesh {
    let mut mesh =
        Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD);
    GlyphBuffers::default().write_to(&mut mesh);
    mesh
}

/// Spawns an entity that draws `mesh` with vertex colours at depth `z`; returns it.
///
/// Frustum culling is off because the mesh's bounds change every frame.
pub fn spawn_batch(
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<ColorMaterial>,
    z: f32,
) -> (Entity, Handle<Mesh>) {
    let mesh = meshes.add(empty_mesh());
    let material = materials.add(vertex_color_material());
    let entity = commands
        .spawn((Mesh2d(mesh.clone()), MeshMaterial2d(material), Transform::from_xyz(0.0, 0.0, z), NoFrustumCulling))
        .id();
    (entity, mesh)
}

/// White material for meshes coloured per vertex, alpha-blended.
///
/// Blending matters twice: translucent overlays (heat map, fault regions, highlights) need it,
/// and blended 2D meshes are drawn back to front by their z, so a batch's z decides what is
/// on top (lights over vehicles over roads) as [`spawn_batch`] promises.
pub fn vertex_color_material() -> ColorMaterial {
    ColorMaterial { color: Color::WHITE, alpha_mode: bevy::sprite_render::AlphaMode2d::Blend, ..default() }
}

/// Maps a speed fraction in [0, 1] to a colour: red (stopped) through amber to green (free flow).
pub fn speed_color(fraction: f32) -> LinearRgba {
    let f = fraction.clamp(0.0, 1.0);
    let c = if f < 0.5 {
        Color::srgb(0.9, 0.15, 0.1).mix(&Color::srgb(0.95, 0.75, 0.1), f * 2.0)
    } else {
        Color::srgb(0.95, 0.75, 0.1).mix(&Color::srgb(0.2, 0.85, 0.3), (f - 0.5) * 2.0)
    };
    c.to_linear()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vehicle_quad_is_oriented() {
        let mut b = GlyphBuffers::default();
        b.push_vehicle(Vec2::new(10.0, 0.0), std::f32::consts::FRAC_PI_2, 4.0, 2.0, LinearRgba::RED);
        assert_eq!(b.len(), 1);
        // Heading +y: the rear corners sit at y = -2 and the front ones at y = +2.
        assert!((b.positions[0][1] + 2.0).abs() < 1e-5);
        assert!((b.positions[1][1] - 2.0).abs() < 1e-5);
        assert_eq!(b.indices.len(), 6);
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn empty_batch_still_has_vertices() {
        let mesh = empty_mesh();
        assert_eq!(mesh.count_vertices(), 3);
        assert_eq!(mesh.indices().map(|i| i.len()), Some(3));
        let mut b = GlyphBuffers::default();
        b.push_square(Vec2::ZERO, 1.0, LinearRgba::RED);
        let mut mesh = empty_mesh();
        b.write_to(&mut mesh);
        assert_eq!(mesh.count_vertices(), 4);
        b.clear();
        b.write_to(&mut mesh);
        assert_eq!(mesh.count_vertices(), 3);
    }

    #[test]
    fn speed_colours_run_red_to_green() {
        let slow = speed_color(0.0);
        let fast = speed_color(1.0);
        assert!(slow.red > slow.green);
        assert!(fast.green > fast.red);
    }
}
