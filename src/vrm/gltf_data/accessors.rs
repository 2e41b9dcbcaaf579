//! Accessors: buffer views and accessor data read as floats with bounds-checked arithmetic.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use gltf::json;
use gltf::json::accessor::{ComponentType, Type};
use gltf::json::validation::Checked;

use crate::vrm::{Result, VrmError, limits};

/// Running totals against the model-wide limits.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) vertices: usize,
    pub(super) indices: usize,
    pub(super) morph_vertices: usize,
    /// POSITION accessors already counted (primitives may share one).
    pub(super) vertex_accessors: HashSet<usize>,
}

impl Tally {
    pub(super) fn add(total: &mut usize, n: usize, max: usize, what: &str) -> Result<()> {
        *total = total.saturating_add(n);
        if *total > max {
            return Err(VrmError::Limit(format!(
                "{what}: more than {max} in the whole model"
            )));
        }
        Ok(())
    }
}

pub(super) struct Data<'a> {
    pub(super) root: &'a json::Root,
    pub(super) buffers: &'a [Cow<'a, [u8]>],
    /// Bytes of accessor data decoded so far, against `decode_limit` (the budget's).
    pub(super) decoded: Cell<u64>,
    pub(super) decode_limit: u64,
}

impl<'a> Data<'a> {
    pub(super) fn new(
        root: &'a json::Root,
        buffers: &'a [Cow<'a, [u8]>],
        budget: &crate::vrm::Budget,
    ) -> Data<'a> {
        Data {
            root,
            buffers,
            decoded: Default::default(),
            decode_limit: budget.decode_bytes,
        }
    }

    /// The bytes of a buffer view, checked against its buffer.
    pub(super) fn view(&self, index: usize, what: &str) -> Result<(&[u8], Option<usize>)> {
        let view = self
            .root
            .buffer_views
            .get(index)
            .ok_or_else(|| VrmError::Invalid(format!("{what}: no buffer view {index}")))?;
        let buffer = self.buffers.get(view.buffer.value()).ok_or_else(|| {
            VrmError::Invalid(format!("{what}: no buffer {}", view.buffer.value()))
        })?;
        let start = view.byte_offset.map_or(0, |o| o.0);
        let end = start.checked_add(view.byte_length.0);
        let slice = end
            .and_then(|end| buffer.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?))
            .ok_or_else(|| {
                VrmError::Invalid(format!(
                    "{what}: buffer view {index} (bytes {start}+{}) lies outside buffer {} ({} bytes)",
                    view.byte_length.0,
                    view.buffer.value(),
                    buffer.len()
                ))
            })?;
        Ok((slice, view.byte_stride.map(|s| s.0)))
    }

    /// Reads an accessor as floats (normalized integers mapped per the glTF spec), flattened,
    /// `components` per element. Every offset is checked before anything is allocated.
    pub(super) fn read(
        &self,
        index: usize,
        types: &[Type],
        max_count: usize,
        what: &str,
    ) -> Result<(Vec<f32>, usize)> {
        let what = &format!("{what} (accessor {index})");
        let acc = self
            .root
            .accessors
            .get(index)
            .ok_or_else(|| VrmError::Invalid(format!("{what}: no such accessor")))?;
        let (Checked::Valid(ty), Checked::Valid(ct)) = (&acc.type_, &acc.component_type) else {
            return Err(VrmError::Invalid(format!("{what}: unknown type")));
        };
        if !types.contains(ty) {
            return Err(VrmError::Invalid(format!(
                "{what}: type {ty:?} where {types:?} is expected"
            )));
        }
        let (ty, ct) = (*ty, ct.0);
        let count = usize::try_from(acc.count.0).unwrap_or(usize::MAX);
        if count > max_count {
            return Err(VrmError::Limit(format!(
                "{what}: {count} elements (at most {max_count})"
            )));
        }
        let comps = ty.multiplicity();
        let elem = comps * ct.size();
        let mut decoded = self.decoded.get();
        crate::vrm::Budget::charge(
            &mut decoded,
            (count * comps * 4) as u64,
            self.decode_limit,
            "decoded vertex data",
        )?;
        self.decoded.set(decoded);
        let mut out = vec![0f32; count * comps];
        if let Some(view_index) = acc.buffer_view {
            let (bytes, stride) = self.view(view_index.value(), what)?;
            let stride = stride.unwrap_or(elem);
            if stride < elem {
                return Err(VrmError::Invalid(format!(
                    "{what}: byte stride {stride} is smaller than an element ({elem} bytes)"
                )));
            }
            let offset = usize::try_from(acc.byte_offset.map_or(0, |o| o.0)).unwrap_or(usize::MAX);
            if count > 0 {
                let last_end = (count - 1)
                    .checked_mul(stride)
                    .and_then(|v| v.checked_add(offset))
                    .and_then(|v| v.checked_add(elem));
                if last_end.is_none_or(|end| end > bytes.len()) {
                    return Err(VrmError::Invalid(format!(
                        "{what}: {count} elements of {elem} bytes (stride {stride}, offset {offset}) do not fit in its buffer view of {} bytes",
                        bytes.len()
                    )));
                }
            }
            for (e, dst) in out.chunks_exact_mut(comps.max(1)).enumerate() {
                let at = offset + e * stride;
                decode_element(&bytes[at..at + elem], ct, acc.normalized, dst);
            }
        }
        if let Some(sparse) = &acc.sparse {
            let n = usize::try_from(sparse.count.0).unwrap_or(usize::MAX);
            if n > count {
                return Err(VrmError::Invalid(format!(
                    "{what}: {n} sparse values for {count} elements"
                )));
            }
            let (ibytes, _) = self.view(sparse.indices.buffer_view.value(), what)?;
            let (vbytes, _) = self.view(sparse.values.buffer_view.value(), what)?;
            let Checked::Valid(ict) = &sparse.indices.component_type else {
                return Err(VrmError::Invalid(format!(
                    "{what}: unknown sparse index type"
                )));
            };
            let isize_ = ict.0.size();
            let ioff = usize::try_from(sparse.indices.byte_offset.0).unwrap_or(usize::MAX);
            let voff = usize::try_from(sparse.values.byte_offset.0).unwrap_or(usize::MAX);
            let fits = |off: usize, per: usize, len: usize| {
                n.checked_mul(per)
                    .and_then(|v| v.checked_add(off))
                    .is_some_and(|end| end <= len)
            };
            if !fits(ioff, isize_, ibytes.len()) || !fits(voff, elem, vbytes.len()) {
                return Err(VrmError::Invalid(format!(
                    "{what}: sparse data does not fit in its buffer views"
                )));
            }
            let mut target = [0f32; 1];
            for k in 0..n {
                let at = ioff + k * isize_;
                decode_element(&ibytes[at..at + isize_], ict.0, false, &mut target);
                let e = target[0] as usize;
                if e >= count {
                    return Err(VrmError::Invalid(format!(
                        "{what}: sparse index {e} is beyond {count} elements"
                    )));
                }
                let at = voff + k * elem;
                decode_element(
                    &vbytes[at..at + elem],
                    ct,
                    acc.normalized,
                    &mut out[e * comps..(e + 1) * comps],
                );
            }
        }
        Ok((out, count))
    }

    /// A vertex attribute, decoded once per accessor (primitives of one mesh often share them).
    pub(super) fn attribute(
        &self,
        cache: &mut HashMap<(usize, usize), Rc<Vec<f32>>>,
        index: usize,
        ty: Type,
        what: &str,
    ) -> Result<Rc<Vec<f32>>> {
        let key = (index, ty.multiplicity());
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let max = limits::MAX_VERTICES_PER_PRIMITIVE;
        let (v, _) = self.read(index, &[ty], max, what)?;
        let v = Rc::new(v);
        cache.insert(key, v.clone());
        Ok(v)
    }
}

/// Decodes one element of `dst.len()` components (little endian; normalized per glTF 3.11).
fn decode_element(bytes: &[u8], ct: ComponentType, normalized: bool, dst: &mut [f32]) {
    let size = ct.size();
    for (c, out) in dst.iter_mut().enumerate() {
        let b = &bytes[c * size..(c + 1) * size];
        *out = match ct {
            ComponentType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            ComponentType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            ComponentType::U16 => {
                let v = u16::from_le_bytes([b[0], b[1]]) as f32;
                if normalized { v / 65535.0 } else { v }
            }
            ComponentType::I16 => {
                let v = i16::from_le_bytes([b[0], b[1]]) as f32;
                if normalized {
                    (v / 32767.0).max(-1.0)
                } else {
                    v
                }
            }
            ComponentType::U8 => {
                let v = b[0] as f32;
                if normalized { v / 255.0 } else { v }
            }
            ComponentType::I8 => {
                let v = b[0] as i8 as f32;
                if normalized { (v / 127.0).max(-1.0) } else { v }
            }
        };
    }
}

/// Renumbers `indices` to the vertices they use, in first-use order; returns the old index of
/// each new vertex, or None when every one of the `n` vertices is used (nothing to do).
///
/// The cost follows the index count, not `n`, so many small primitives over one large shared
/// vertex set stay cheap.
pub(super) fn compact(indices: &mut [u32], n: usize) -> Option<Vec<u32>> {
    let mut order = Vec::new();
    if indices.len() < n / 8 {
        let mut remap = HashMap::with_capacity(indices.len());
        for i in indices.iter_mut() {
            let next = order.len() as u32;
            let new = *remap.entry(*i).or_insert(next);
            if new == next {
                order.push(*i);
            }
            *i = new;
        }
        return Some(order);
    }
    let mut remap = vec![u32::MAX; n];
    for i in indices.iter_mut() {
        let slot = &mut remap[*i as usize];
        if *slot == u32::MAX {
            *slot = order.len() as u32;
            order.push(*i);
        }
        *i = *slot;
    }
    if order.len() == n && order.iter().enumerate().all(|(k, &o)| k as u32 == o) {
        return None;
    }
    Some(order)
}

/// The elements of a flat `N`-component array at `order` (all of them when None).
pub(super) fn gather<const N: usize>(flat: &[f32], order: Option<&[u32]>) -> Vec<[f32; N]> {
    let at = |e: usize| -> [f32; N] { std::array::from_fn(|c| flat[e * N + c]) };
    match order {
        Some(order) => order.iter().map(|&o| at(o as usize)).collect(),
        None => (0..flat.len() / N).map(at).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_components_follow_the_spec() {
        let mut out = [0f32; 2];
        decode_element(&[255, 0x80], ComponentType::U8, true, &mut out);
        assert_eq!(out[0], 1.0);
        assert!((out[1] - 128.0 / 255.0).abs() < 1e-6);
        decode_element(&[0x80, 0x81], ComponentType::I8, true, &mut out);
        assert_eq!(out, [-1.0, -1.0]);
        let mut one = [0f32; 1];
        decode_element(&7u16.to_le_bytes(), ComponentType::U16, false, &mut one);
        assert_eq!(one[0], 7.0);
    }

    #[test]
    fn compaction_keeps_used_vertices_in_first_use_order() {
        let mut idx = vec![5, 2, 5, 9];
        let order = compact(&mut idx, 10).unwrap();
        assert_eq!(order, vec![5, 2, 9]);
        assert_eq!(idx, vec![0, 1, 0, 2]);
        let mut all = vec![0, 1, 2, 2, 1, 0];
        assert_eq!(compact(&mut all, 3), None);
        assert_eq!(all, vec![0, 1, 2, 2, 1, 0]);
        // The hash path (few indices over many vertices) gives the same result.
        let mut few = vec![900, 3, 900];
        assert_eq!(compact(&mut few, 1000).unwrap(), vec![900, 3]);
        assert_eq!(few, vec![0, 1, 0]);
        let flat = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            gather::<2>(&flat, Some(&[2, 0])),
            vec![[4.0, 5.0], [0.0, 1.0]]
        );
        assert_eq!(
            gather::<3>(&flat, None),
            vec![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        );
    }
}
