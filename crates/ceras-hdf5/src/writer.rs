//! HDF5 writer: the h5py-default (`libver="earliest"`) subset.
//!
//! Layout of the output: superblock v0 at offset 0 (96 bytes), then the
//! global heap collections holding every variable-length string attribute,
//! then all objects depth-first (children before their parent, so every
//! address is known when a header is written). The root object header
//! address and the end-of-file address are patched into the superblock at
//! the end.

use crate::{Attr, Dataset, Dtype, Error, Group, Node};

const UNDEF: u64 = u64::MAX;
/// Group leaf node K: a symbol node holds up to `2 * LEAF_K` entries.
const LEAF_K: usize = 4;
/// Group internal node K: a B-tree node has up to `2 * INTERNAL_K` children.
const INTERNAL_K: usize = 16;
const SNOD_ENTRY_SIZE: usize = 40;
const SNOD_SIZE: usize = 8 + 2 * LEAF_K * SNOD_ENTRY_SIZE;
const BTREE_SIZE: usize = 24 + (2 * INTERNAL_K + 1) * 8 + 2 * INTERNAL_K * 8;
const SUPERBLOCK_SIZE: usize = 96;
/// Objects per global heap collection (the object index is 16 bits).
const MAX_GCOL_OBJECTS: usize = 60_000;
const MIN_GCOL_SIZE: usize = 4096;

/// A group member being linked: (name, object header address, cached
/// (B-tree, local heap) addresses for sub-groups).
type Entry<'a> = (&'a str, u64, Option<(u64, u64)>);

struct Writer {
    buf: Vec<u8>,
    /// (collection address, object index) of each vlen string, in the order
    /// the writer consumes them.
    strings: Vec<(u64, u16)>,
    next_string: usize,
}

fn inv(msg: String) -> Error {
    Error::Invalid(format!("HDF5 write: {msg}"))
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

fn check_name(path: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name.contains('/') || name.contains('\0') {
        return Err(inv(format!(
            "invalid member name {name:?} in group '{path}' (must be non-empty, without '/' or NUL)"
        )));
    }
    Ok(())
}

fn child_path(path: &str, name: &str) -> String {
    if path == "/" {
        format!("/{name}")
    } else {
        format!("{path}/{name}")
    }
}

/// Visits the `Attr::Str` values in exactly the order the writer emits them:
/// for a group, all members first (depth first, in member order), then the
/// group's own attributes; for a dataset its attributes.
fn collect_strings<'a>(g: &'a Group, out: &mut Vec<&'a str>) {
    for (_, node) in &g.members {
        match node {
            Node::Group(sub) => collect_strings(sub, out),
            Node::Dataset(d) => collect_attr_strings(&d.attrs, out),
        }
    }
    collect_attr_strings(&g.attrs, out);
}

fn collect_attr_strings<'a>(attrs: &'a [(String, Attr)], out: &mut Vec<&'a str>) {
    for (_, a) in attrs {
        if let Attr::Str(s) = a {
            out.push(s);
        }
    }
}

pub(crate) fn write_file(root: &Group) -> Result<Vec<u8>, Error> {
    let mut w = Writer {
        buf: vec![0u8; SUPERBLOCK_SIZE],
        strings: Vec::new(),
        next_string: 0,
    };
    let mut strs = Vec::new();
    collect_strings(root, &mut strs);
    w.write_global_heaps(&strs)?;
    let (hdr, btree, heap) = w.write_group("/", root)?;
    let eof = w.buf.len() as u64;

    let mut sb = Vec::with_capacity(SUPERBLOCK_SIZE);
    sb.extend_from_slice(b"\x89HDF\r\n\x1a\n");
    // superblock v0, free-space v0, root group symbol table entry v0,
    // reserved, shared header message format v0, sizeof offsets, sizeof
    // lengths, reserved
    sb.extend_from_slice(&[0, 0, 0, 0, 0, 8, 8, 0]);
    sb.extend_from_slice(&(LEAF_K as u16).to_le_bytes());
    sb.extend_from_slice(&(INTERNAL_K as u16).to_le_bytes());
    sb.extend_from_slice(&0u32.to_le_bytes()); // file consistency flags
    sb.extend_from_slice(&0u64.to_le_bytes()); // base address
    sb.extend_from_slice(&UNDEF.to_le_bytes()); // free-space info
    sb.extend_from_slice(&eof.to_le_bytes()); // end of file address
    sb.extend_from_slice(&UNDEF.to_le_bytes()); // driver info block
    symbol_entry(&mut sb, 0, hdr, Some((btree, heap)));
    debug_assert_eq!(sb.len(), SUPERBLOCK_SIZE);
    w.buf[..SUPERBLOCK_SIZE].copy_from_slice(&sb);
    Ok(w.buf)
}

fn symbol_entry(out: &mut Vec<u8>, name_off: u64, hdr: u64, stab: Option<(u64, u64)>) {
    out.extend_from_slice(&name_off.to_le_bytes());
    out.extend_from_slice(&hdr.to_le_bytes());
    match stab {
        Some((btree, heap)) => {
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&btree.to_le_bytes());
            out.extend_from_slice(&heap.to_le_bytes());
        }
        None => out.extend_from_slice(&[0u8; 24]),
    }
}

impl Writer {
    fn pos(&self) -> u64 {
        self.buf.len() as u64
    }

    fn write_global_heaps(&mut self, strs: &[&str]) -> Result<(), Error> {
        for chunk in strs.chunks(MAX_GCOL_OBJECTS) {
            let addr = self.pos();
            let mut objs = Vec::new();
            for (i, s) in chunk.iter().enumerate() {
                if s.contains('\0') {
                    return Err(inv(format!("string attribute value {s:?} contains NUL")));
                }
                let idx = (i + 1) as u16;
                objs.extend_from_slice(&idx.to_le_bytes());
                objs.extend_from_slice(&0u16.to_le_bytes()); // reference count
                objs.extend_from_slice(&0u32.to_le_bytes()); // reserved
                objs.extend_from_slice(&(s.len() as u64).to_le_bytes());
                objs.extend_from_slice(s.as_bytes());
                objs.resize(pad8(objs.len()), 0);
                self.strings.push((addr, idx));
            }
            let size = (16 + objs.len() + 16).max(MIN_GCOL_SIZE);
            self.buf.extend_from_slice(b"GCOL");
            self.buf.extend_from_slice(&[1, 0, 0, 0]);
            self.buf.extend_from_slice(&(size as u64).to_le_bytes());
            self.buf.extend_from_slice(&objs);
            // free-space object (index 0); its size includes its header
            let free = (size - 16 - objs.len()) as u64;
            self.buf.extend_from_slice(&[0u8; 8]);
            self.buf.extend_from_slice(&free.to_le_bytes());
            self.buf.resize(addr as usize + size, 0);
        }
        Ok(())
    }

    fn take_string(&mut self) -> Result<(u64, u16), Error> {
        let r = self
            .strings
            .get(self.next_string)
            .copied()
            .ok_or_else(|| inv("internal error: string table out of sync".into()))?;
        self.next_string += 1;
        Ok(r)
    }

    /// Writes a group and returns (object header, B-tree, local heap) addresses.
    fn write_group(&mut self, path: &str, g: &Group) -> Result<(u64, u64, u64), Error> {
        let mut entries: Vec<Entry> = Vec::with_capacity(g.members.len());
        for (name, node) in &g.members {
            check_name(path, name)?;
            let cp = child_path(path, name);
            match node {
                Node::Group(sub) => {
                    let (h, b, hp) = self.write_group(&cp, sub)?;
                    entries.push((name, h, Some((b, hp))));
                }
                Node::Dataset(d) => {
                    let h = self.write_dataset(&cp, d)?;
                    entries.push((name, h, None));
                }
            }
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(inv(format!(
                "duplicate member name {:?} in group '{path}'",
                w[0].0
            )));
        }

        // Local heap: "" at offset 0, then the names, each NUL-terminated
        // and padded to 8 bytes.
        let mut heap_data = vec![0u8; 8];
        let mut name_offs = Vec::with_capacity(entries.len());
        for (name, _, _) in &entries {
            name_offs.push(heap_data.len() as u64);
            heap_data.extend_from_slice(name.as_bytes());
            heap_data.push(0);
            heap_data.resize(pad8(heap_data.len()), 0);
        }
        let heap_addr = self.pos();
        self.buf.extend_from_slice(b"HEAP");
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf
            .extend_from_slice(&(heap_data.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(&1u64.to_le_bytes()); // free list: none
        self.buf.extend_from_slice(&(heap_addr + 32).to_le_bytes());
        self.buf.extend_from_slice(&heap_data);

        // Symbol nodes, 2*LEAF_K entries each; remember (address, last name
        // offset) of every node.
        let cap = 2 * LEAF_K;
        let mut level: Vec<(u64, u64)> = Vec::new();
        for (ci, chunk) in entries.chunks(cap).enumerate() {
            let addr = self.pos();
            let start = self.buf.len();
            self.buf.extend_from_slice(b"SNOD");
            self.buf.extend_from_slice(&[1, 0]);
            self.buf
                .extend_from_slice(&(chunk.len() as u16).to_le_bytes());
            for (i, (_, hdr, stab)) in chunk.iter().enumerate() {
                let off = name_offs[ci * cap + i];
                symbol_entry(&mut self.buf, off, *hdr, *stab);
            }
            self.buf.resize(start + SNOD_SIZE, 0);
            level.push((addr, name_offs[ci * cap + chunk.len() - 1]));
        }

        // B-tree levels, bottom-up, until a single root node remains.
        let mut node_level = 0u8;
        let btree_root = loop {
            let per = 2 * INTERNAL_K;
            let n_nodes = level.len().div_ceil(per).max(1);
            let base = self.pos();
            let mut next = Vec::with_capacity(n_nodes);
            let mut left_key = 0u64;
            for ni in 0..n_nodes {
                let kids = level
                    .get(ni * per..((ni + 1) * per).min(level.len()))
                    .unwrap_or(&[]);
                let addr = base + (ni * BTREE_SIZE) as u64;
                let start = self.buf.len();
                self.buf.extend_from_slice(b"TREE");
                self.buf.push(0); // node type: group
                self.buf.push(node_level);
                self.buf
                    .extend_from_slice(&(kids.len() as u16).to_le_bytes());
                let left = if ni == 0 {
                    UNDEF
                } else {
                    addr - BTREE_SIZE as u64
                };
                let right = if ni + 1 == n_nodes {
                    UNDEF
                } else {
                    addr + BTREE_SIZE as u64
                };
                self.buf.extend_from_slice(&left.to_le_bytes());
                self.buf.extend_from_slice(&right.to_le_bytes());
                self.buf.extend_from_slice(&left_key.to_le_bytes());
                for (child, last) in kids {
                    self.buf.extend_from_slice(&child.to_le_bytes());
                    self.buf.extend_from_slice(&last.to_le_bytes());
                }
                self.buf.resize(start + BTREE_SIZE, 0);
                let last = kids.last().map_or(left_key, |k| k.1);
                next.push((addr, last));
                left_key = last;
            }
            if next.len() == 1 {
                break next[0].0;
            }
            level = next;
            node_level = node_level
                .checked_add(1)
                .ok_or_else(|| inv(format!("group '{path}' is too large")))?;
        };

        let mut msgs = Vec::new();
        let mut stab = Vec::with_capacity(16);
        stab.extend_from_slice(&btree_root.to_le_bytes());
        stab.extend_from_slice(&heap_addr.to_le_bytes());
        msgs.push((0x11u16, 0u8, stab));
        self.attr_messages(path, &g.attrs, &mut msgs)?;
        let hdr = self.object_header(&msgs)?;
        Ok((hdr, btree_root, heap_addr))
    }

    fn write_dataset(&mut self, path: &str, d: &Dataset) -> Result<u64, Error> {
        let esize = d.dtype.size();
        if esize == 0 || u32::try_from(esize).is_err() {
            return Err(inv(format!(
                "dataset '{path}': invalid element size {esize} for {:?}",
                d.dtype
            )));
        }
        let expected = d.shape.iter().try_fold(esize, |a, &b| a.checked_mul(b));
        if expected != Some(d.data.len()) {
            return Err(inv(format!(
                "dataset '{path}': data has {} bytes but shape {:?} of {:?} needs {}",
                d.data.len(),
                d.shape,
                d.dtype,
                expected.map_or_else(|| "an overflowing size".to_string(), |e| e.to_string())
            )));
        }
        if d.shape.len() > 32 {
            return Err(inv(format!(
                "dataset '{path}': rank {} > 32",
                d.shape.len()
            )));
        }
        let addr = if d.data.is_empty() {
            UNDEF
        } else {
            let a = self.pos();
            self.buf.extend_from_slice(&d.data);
            a
        };
        let mut msgs = Vec::new();
        let dims: Vec<u64> = d.shape.iter().map(|&x| x as u64).collect();
        msgs.push((0x01u16, 0u8, dataspace(&dims)));
        msgs.push((0x03, 1, datatype(&d.dtype)));
        // fill value v2: allocation late, write if set, defined, default (0)
        msgs.push((0x05, 1, vec![2, 2, 2, 1, 0, 0, 0, 0]));
        let mut layout = vec![3u8, 1];
        layout.extend_from_slice(&addr.to_le_bytes());
        layout.extend_from_slice(&(d.data.len() as u64).to_le_bytes());
        msgs.push((0x08, 0, layout));
        self.attr_messages(path, &d.attrs, &mut msgs)?;
        self.object_header(&msgs)
    }

    fn attr_messages(
        &mut self,
        path: &str,
        attrs: &[(String, Attr)],
        msgs: &mut Vec<(u16, u8, Vec<u8>)>,
    ) -> Result<(), Error> {
        for (i, (name, a)) in attrs.iter().enumerate() {
            if name.is_empty() || name.contains('\0') {
                return Err(inv(format!(
                    "object '{path}': invalid attribute name {name:?}"
                )));
            }
            if attrs[..i].iter().any(|(n, _)| n == name) {
                return Err(inv(format!(
                    "object '{path}': duplicate attribute {name:?}"
                )));
            }
            let (dt, ds, data) = match a {
                Attr::Str(_) => {
                    let (gcol, idx) = self.take_string()?;
                    let len = match a {
                        Attr::Str(s) => s.len(),
                        _ => 0,
                    };
                    let len = u32::try_from(len).map_err(|_| {
                        inv(format!("object '{path}': attribute {name:?} too long"))
                    })?;
                    // vlen string, null-terminated padding, UTF-8; base u8
                    let dt = vec![
                        0x19, 0x01, 0x01, 0x00, 16, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0,
                    ];
                    let mut data = Vec::with_capacity(16);
                    data.extend_from_slice(&len.to_le_bytes());
                    data.extend_from_slice(&gcol.to_le_bytes());
                    data.extend_from_slice(&u32::from(idx).to_le_bytes());
                    (dt, dataspace_scalar(), data)
                }
                Attr::StrList(v) => {
                    let width = v.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
                    if let Some(s) = v.iter().find(|s| s.contains('\0')) {
                        return Err(inv(format!(
                            "object '{path}': attribute {name:?}: string {s:?} contains NUL"
                        )));
                    }
                    let width32 = u32::try_from(width).map_err(|_| {
                        inv(format!("object '{path}': attribute {name:?} too long"))
                    })?;
                    let cset = if v.iter().all(|s| s.is_ascii()) {
                        0u8
                    } else {
                        1u8
                    };
                    // fixed string, null padding
                    let mut dt = vec![0x13, 0x01 | (cset << 4), 0, 0];
                    dt.extend_from_slice(&width32.to_le_bytes());
                    let mut data = Vec::with_capacity(width * v.len());
                    for s in v {
                        data.extend_from_slice(s.as_bytes());
                        data.resize(data.len() + width - s.len(), 0);
                    }
                    (dt, dataspace(&[v.len() as u64]), data)
                }
                Attr::F64(v) => {
                    let ds = if v.len() == 1 {
                        dataspace_scalar()
                    } else {
                        dataspace(&[v.len() as u64])
                    };
                    (
                        datatype(&Dtype::F64),
                        ds,
                        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    )
                }
                Attr::I64(v) => {
                    let ds = if v.len() == 1 {
                        dataspace_scalar()
                    } else {
                        dataspace(&[v.len() as u64])
                    };
                    (
                        datatype(&Dtype::I64),
                        ds,
                        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    )
                }
            };
            let name_len = name.len() + 1;
            let mut m = vec![1u8, 0];
            for n in [name_len, dt.len(), ds.len()] {
                let n = u16::try_from(n).map_err(|_| {
                    inv(format!(
                        "object '{path}': attribute {name:?} header too large"
                    ))
                })?;
                m.extend_from_slice(&n.to_le_bytes());
            }
            m.extend_from_slice(name.as_bytes());
            m.push(0);
            m.resize(pad8(m.len()), 0);
            m.extend_from_slice(&dt);
            m.resize(pad8(m.len()), 0);
            m.extend_from_slice(&ds);
            m.resize(pad8(m.len()), 0);
            m.extend_from_slice(&data);
            msgs.push((0x0C, 0, m));
        }
        Ok(())
    }

    /// Writes a version-1 object header. Messages that do not fit a 16-bit
    /// size (large attributes) are rejected.
    fn object_header(&mut self, msgs: &[(u16, u8, Vec<u8>)]) -> Result<u64, Error> {
        let mut body = Vec::new();
        for (ty, flags, data) in msgs {
            let size = pad8(data.len());
            let size16 = u16::try_from(size).map_err(|_| {
                inv(format!("object header message of {} bytes exceeds the 64 KiB limit (attribute too large)", data.len()))
            })?;
            body.extend_from_slice(&ty.to_le_bytes());
            body.extend_from_slice(&size16.to_le_bytes());
            body.extend_from_slice(&[*flags, 0, 0, 0]);
            body.extend_from_slice(data);
            body.resize(pad8(body.len()), 0);
        }
        let nmsgs = u16::try_from(msgs.len())
            .map_err(|_| inv("too many attributes on one object".into()))?;
        let size = u32::try_from(body.len()).map_err(|_| inv("object header too large".into()))?;
        let addr = self.pos();
        self.buf.extend_from_slice(&[1, 0]);
        self.buf.extend_from_slice(&nmsgs.to_le_bytes());
        self.buf.extend_from_slice(&1u32.to_le_bytes()); // reference count
        self.buf.extend_from_slice(&size.to_le_bytes());
        self.buf.extend_from_slice(&[0u8; 4]);
        self.buf.extend_from_slice(&body);
        Ok(addr)
    }
}

fn dataspace_scalar() -> Vec<u8> {
    vec![1, 0, 0, 0, 0, 0, 0, 0]
}

/// Dataspace message version 1 (rank 0 = scalar).
fn dataspace(dims: &[u64]) -> Vec<u8> {
    let mut v = vec![1u8, dims.len() as u8, 0, 0, 0, 0, 0, 0];
    for d in dims {
        v.extend_from_slice(&d.to_le_bytes());
    }
    v
}

/// Datatype message version 1.
fn datatype(dt: &Dtype) -> Vec<u8> {
    let size = dt.size() as u32;
    let mut v = Vec::with_capacity(20);
    let float =
        |v: &mut Vec<u8>, sign: u8, prec: u16, eloc: u8, esize: u8, msize: u8, bias: u32| {
            v.extend_from_slice(&[0x11, 0x20, sign, 0]);
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&prec.to_le_bytes());
            v.extend_from_slice(&[eloc, esize, 0, msize]);
            v.extend_from_slice(&bias.to_le_bytes());
        };
    let int = |v: &mut Vec<u8>, signed: bool| {
        v.extend_from_slice(&[0x10, if signed { 0x08 } else { 0 }, 0, 0]);
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&((size * 8) as u16).to_le_bytes());
    };
    match dt {
        Dtype::F16 => float(&mut v, 15, 16, 10, 5, 10, 15),
        Dtype::F32 => float(&mut v, 31, 32, 23, 8, 23, 127),
        Dtype::F64 => float(&mut v, 63, 64, 52, 11, 52, 1023),
        Dtype::I8 | Dtype::I16 | Dtype::I32 | Dtype::I64 => int(&mut v, true),
        Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64 => int(&mut v, false),
        Dtype::FixedString(_) => {
            // null-padded ASCII, like numpy |S n
            v.extend_from_slice(&[0x13, 0x01, 0, 0]);
            v.extend_from_slice(&size.to_le_bytes());
        }
        Dtype::Opaque(_) => {
            // empty tag
            v.extend_from_slice(&[0x15, 0, 0, 0]);
            v.extend_from_slice(&size.to_le_bytes());
        }
    }
    v
}
