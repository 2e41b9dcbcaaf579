//! A minimal glTF 2.0 binary writer: one buffer, one buffer view per accessor, the GLB container.

use glam::{Mat4, Vec2, Vec3};
use serde_json::{Value, json};

const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const UNSIGNED_BYTE: u32 = 5121;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;
const FLOAT: u32 = 5126;

/// A JSON number with the shortest decimal form of the value as an `f32` (so `0.1`, not
/// `0.10000000149011612`).
pub fn num(x: f64) -> Value {
    let shortest: f64 = (x as f32)
        .to_string()
        .parse()
        .expect("an f32 prints as a number");
    json!(shortest)
}

/// The binary chunk with its buffer views and accessors.
#[derive(Default)]
pub struct BinWriter {
    pub bin: Vec<u8>,
    pub views: Vec<Value>,
    pub accessors: Vec<Value>,
}

impl BinWriter {
    fn view(&mut self, bytes: &[u8], target: Option<u32>) -> usize {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        let mut view = json!({
            "buffer": 0,
            "byteOffset": self.bin.len(),
            "byteLength": bytes.len(),
        });
        if let Some(target) = target {
            view["target"] = json!(target);
        }
        self.bin.extend_from_slice(bytes);
        self.views.push(view);
        self.views.len() - 1
    }

    fn accessor(&mut self, view: usize, component: u32, count: usize, kind: &str) -> usize {
        self.accessors.push(json!({
            "bufferView": view,
            "componentType": component,
            "count": count,
            "type": kind,
        }));
        self.accessors.len() - 1
    }

    /// A VEC3 vertex attribute; `bounds` adds `min`/`max` (required for POSITION).
    pub fn vec3(&mut self, data: &[Vec3], bounds: bool) -> usize {
        let bytes: Vec<u8> = data
            .iter()
            .flat_map(|v| v.to_array())
            .flat_map(f32::to_le_bytes)
            .collect();
        let view = self.view(&bytes, Some(ARRAY_BUFFER));
        let index = self.accessor(view, FLOAT, data.len(), "VEC3");
        if bounds {
            let min = data.iter().fold(Vec3::INFINITY, |a, &b| a.min(b));
            let max = data.iter().fold(Vec3::NEG_INFINITY, |a, &b| a.max(b));
            let exact = |v: Vec3| json!(v.to_array().map(|c| json!(c)));
            self.accessors[index]["min"] = exact(min);
            self.accessors[index]["max"] = exact(max);
        }
        index
    }

    pub fn vec2(&mut self, data: &[Vec2]) -> usize {
        let bytes: Vec<u8> = data
            .iter()
            .flat_map(|v| v.to_array())
            .flat_map(f32::to_le_bytes)
            .collect();
        let view = self.view(&bytes, Some(ARRAY_BUFFER));
        self.accessor(view, FLOAT, data.len(), "VEC2")
    }

    /// JOINTS_0 as four unsigned bytes per vertex.
    pub fn joints(&mut self, data: &[[u8; 4]]) -> usize {
        let bytes: Vec<u8> = data.iter().flatten().copied().collect();
        let view = self.view(&bytes, Some(ARRAY_BUFFER));
        self.accessor(view, UNSIGNED_BYTE, data.len(), "VEC4")
    }

    /// WEIGHTS_0 as four floats per vertex.
    pub fn weights(&mut self, data: &[[f32; 4]]) -> usize {
        let bytes: Vec<u8> = data
            .iter()
            .flatten()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let view = self.view(&bytes, Some(ARRAY_BUFFER));
        self.accessor(view, FLOAT, data.len(), "VEC4")
    }

    /// Triangle indices, 16-bit when they fit.
    pub fn indices(&mut self, data: &[u32]) -> usize {
        let max = data.iter().copied().max().unwrap_or(0);
        let (bytes, component): (Vec<u8>, u32) = if max <= u32::from(u16::MAX) {
            let short = data.iter().flat_map(|&i| (i as u16).to_le_bytes());
            (short.collect(), UNSIGNED_SHORT)
        } else {
            let long = data.iter().flat_map(|&i| i.to_le_bytes());
            (long.collect(), UNSIGNED_INT)
        };
        let view = self.view(&bytes, Some(ELEMENT_ARRAY_BUFFER));
        self.accessor(view, component, data.len(), "SCALAR")
    }

    /// Column-major 4x4 matrices (inverse bind matrices; no buffer view target).
    pub fn mat4(&mut self, data: &[Mat4]) -> usize {
        let bytes: Vec<u8> = data
            .iter()
            .flat_map(|m| m.to_cols_array())
            .flat_map(f32::to_le_bytes)
            .collect();
        let view = self.view(&bytes, None);
        self.accessor(view, FLOAT, data.len(), "MAT4")
    }
}

/// The GLB container: header, JSON chunk padded with spaces, BIN chunk padded with zeros.
pub fn glb(json: &Value, bin: &[u8]) -> Vec<u8> {
    let mut json_bytes = serde_json::to_vec(json).expect("JSON values serialize");
    while !json_bytes.len().is_multiple_of(4) {
        json_bytes.push(b' ');
    }
    let mut bin_bytes = bin.to_vec();
    while !bin_bytes.len().is_multiple_of(4) {
        bin_bytes.push(0);
    }
    let total = 12 + 8 + json_bytes.len() + 8 + bin_bytes.len();
    let mut out = Vec::with_capacity(total);
    let word = |out: &mut Vec<u8>, w: usize| {
        out.extend_from_slice(&u32::try_from(w).expect("GLB under 4 GiB").to_le_bytes())
    };
    out.extend_from_slice(b"glTF");
    word(&mut out, 2);
    word(&mut out, total);
    word(&mut out, json_bytes.len());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json_bytes);
    word(&mut out, bin_bytes.len());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin_bytes);
    out
}
