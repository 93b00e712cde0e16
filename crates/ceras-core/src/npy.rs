//! NumPy `.npy` and `.npz` files: [`save`] / [`load`] one tensor, [`to_bytes`] /
//! [`from_bytes`] in memory, and [`npz`] for archives of named tensors.
//!
//! * **Format versions** 1.0, 2.0 and 3.0 are read; writing uses 1.0 (2.0 when the
//!   header does not fit in 64 KiB), with NumPy's 64-byte header alignment, so the
//!   bytes equal `numpy.save`'s.
//! * **Dtypes**: `|b1`, `|i1`, `|u1`, `<i2` … `<i8`, `<u2` … `<u8`, `<f2`, `<f4`,
//!   `<f8`. Big-endian (`>`) data is read and converted; files are written
//!   little-endian. `bfloat16` has no NumPy dtype: saving it is an error that says
//!   to cast to `float32` first.
//! * **Order**: files are written in C order; Fortran-order files are read and
//!   reordered into C order.
//! * **Robustness**: truncated data, a bad magic string, a malformed header, an
//!   unsupported dtype, or a declared shape whose byte size exceeds the data are
//!   errors ([`Error::Io`]); nothing is allocated before the size is checked.
//! * **Atomic writes**: files are written to a temporary file in the same
//!   directory and renamed over the target.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::HostData;
use crate::tensor::Tensor;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
const ALIGN: usize = 64;

fn err(msg: impl std::fmt::Display) -> Error {
    Error::Io(format!("npy: {msg}"))
}

/// The NumPy dtype string of a ceras dtype (little-endian).
pub fn descr(dtype: DType) -> Result<&'static str> {
    Ok(match dtype {
        DType::Bool => "|b1",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::BF16 => {
            return Err(err(
                "bfloat16 has no NumPy dtype and cannot be saved to .npy; \
                 cast it to float32 first (ops::cast(&x, DType::F32))",
            ))
        }
    })
}

/// Parses a NumPy dtype string: the dtype and whether the data is big-endian.
fn parse_descr(s: &str) -> Result<(DType, bool)> {
    let bad = || {
        err(format!(
            "unsupported dtype {s:?}; supported are bool, int8..int64, uint8..uint64, \
             float16, float32 and float64"
        ))
    };
    let mut chars = s.chars();
    let (order, rest) = match chars.next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, chars.as_str()),
        _ => ('=', s),
    };
    let (kind, size) = rest.split_at(rest.len().min(1));
    let size: usize = size.parse().map_err(|_| bad())?;
    let dtype = match (kind, size) {
        ("b", 1) | ("?", 1) => DType::Bool,
        ("i", 1) => DType::I8,
        ("i", 2) => DType::I16,
        ("i", 4) => DType::I32,
        ("i", 8) => DType::I64,
        ("u", 1) => DType::U8,
        ("u", 2) => DType::U16,
        ("u", 4) => DType::U32,
        ("u", 8) => DType::U64,
        ("f", 2) => DType::F16,
        ("f", 4) => DType::F32,
        ("f", 8) => DType::F64,
        _ => return Err(bad()),
    };
    Ok((dtype, order == '>' && size > 1))
}

fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The `.npy` header (magic, version, length, dict, padding) for a C-order array.
fn header(dtype: DType, shape: &[usize]) -> Result<Vec<u8>> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        descr(dtype)?,
        shape_repr(shape)
    );
    let hlen = dict.len() + 1; // + '\n'
    let padded = |len_bytes: usize| {
        let pad = (ALIGN - (MAGIC.len() + 2 + len_bytes + hlen) % ALIGN) % ALIGN;
        (pad, hlen + pad)
    };
    let (major, len_bytes, (pad, total)) = match padded(2) {
        p if p.1 <= u16::MAX as usize => (1u8, 2, p),
        _ => (2u8, 4, padded(4)),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + len_bytes + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    if len_bytes == 2 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    Ok(out)
}

/// Serialises a tensor as the bytes of a `.npy` file.
pub fn to_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let mut out = header(t.dtype(), t.shape())?;
    out.extend_from_slice(&t.to_host()?.to_le_bytes());
    Ok(out)
}

// --- header parsing: the Python literal NumPy writes --------------------------

#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.fail(&format!("expected {:?}", c as char)))
        }
    }
    fn fail(&self, what: &str) -> Error {
        err(format!(
            "malformed header: {what} at byte {} of {:?}",
            self.i,
            String::from_utf8_lossy(self.s)
        ))
    }
    /// Items up to `close`, separated by commas (a trailing comma is allowed).
    fn seq(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(());
            }
            item(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.fail("expected ',' or a closing bracket")),
            }
        }
    }
    fn value(&mut self) -> Result<Lit> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(self.fail("nesting too deep"));
        }
        let v = match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        return Err(self.fail("escapes in strings are not supported"));
                    }
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err(self.fail("unterminated string"));
                }
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Lit::Str(s)
            }
            Some(b'(') => {
                self.i += 1;
                let mut v = Vec::new();
                self.seq(b')', |p| {
                    v.push(p.value()?);
                    Ok(())
                })?;
                Lit::Tuple(v)
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.seq(b']', |p| {
                    v.push(p.value()?);
                    Ok(())
                })?;
                Lit::List(v)
            }
            Some(b'{') => {
                self.i += 1;
                let mut v = Vec::new();
                self.seq(b'}', |p| {
                    let k = p.value()?;
                    p.expect(b':')?;
                    v.push((k, p.value()?));
                    Ok(())
                })?;
                Lit::Dict(v)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                // Python 2 era files may write `3L`.
                let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ascii digits");
                if self.s.get(self.i) == Some(&b'L') {
                    self.i += 1;
                }
                Lit::Int(
                    digits
                        .parse()
                        .map_err(|_| self.fail("integer out of range"))?,
                )
            }
            Some(_) if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Lit::Bool(true)
            }
            Some(_) if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Lit::Bool(false)
            }
            _ => return Err(self.fail("unexpected token")),
        };
        self.depth -= 1;
        Ok(v)
    }
}

struct Header {
    dtype: DType,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
}

fn parse_header(text: &[u8]) -> Result<Header> {
    let mut p = Parser {
        s: text,
        i: 0,
        depth: 0,
    };
    let dict = match p.value()? {
        Lit::Dict(d) => d,
        _ => return Err(err("malformed header: not a dictionary")),
    };
    if p.peek().is_some() {
        return Err(p.fail("trailing characters"));
    }
    let get = |name: &str| {
        dict.iter()
            .find(|(k, _)| *k == Lit::Str(name.into()))
            .map(|(_, v)| v)
            .ok_or_else(|| err(format!("malformed header: missing key '{name}'")))
    };
    let (dtype, big_endian) = match get("descr")? {
        Lit::Str(s) => parse_descr(s)?,
        _ => return Err(err("structured dtypes (a list 'descr') are not supported")),
    };
    let fortran = match get("fortran_order")? {
        Lit::Bool(b) => *b,
        _ => {
            return Err(err(
                "malformed header: 'fortran_order' must be True or False",
            ))
        }
    };
    let shape = match get("shape")? {
        Lit::Tuple(v) => v
            .iter()
            .map(|d| match d {
                Lit::Int(n) => usize::try_from(*n).map_err(|_| err("dimension too large")),
                _ => Err(err("malformed header: 'shape' must be a tuple of integers")),
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(err("malformed header: 'shape' must be a tuple")),
    };
    if dict.len() != 3 {
        return Err(err(
            "malformed header: expected exactly the keys 'descr', 'fortran_order', 'shape'",
        ));
    }
    Ok(Header {
        dtype,
        big_endian,
        fortran,
        shape,
    })
}

/// Reorders Fortran-order element bytes into C order.
fn fortran_to_c(data: &[u8], shape: &[usize], item: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(data.len());
    if n == 0 {
        return out;
    }
    let r = shape.len();
    let mut fstride = vec![1usize; r];
    for k in 1..r {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut idx = vec![0usize; r];
    let mut off = 0usize; // Fortran offset of idx, in elements
    for _ in 0..n {
        out.extend_from_slice(&data[off * item..(off + 1) * item]);
        // Increment the C-order multi-index (last axis fastest).
        for k in (0..r).rev() {
            idx[k] += 1;
            off += fstride[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= fstride[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

/// Decodes the bytes of a `.npy` file (as written by NumPy or [`to_bytes`]).
pub fn from_bytes(bytes: &[u8]) -> Result<Tensor> {
    let (data, shape) = decode(bytes)?;
    Tensor::from_host(data, shape)
}

fn decode(bytes: &[u8]) -> Result<(HostData, Vec<usize>)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err("not a .npy file (missing the \\x93NUMPY magic string)"));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (hlen, start): (usize, usize) = match (major, minor) {
        (1, 0) => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        (2, 0) | (3, 0) => {
            if bytes.len() < 12 {
                return Err(err("truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        _ => {
            return Err(err(format!(
                "unsupported format version {major}.{minor} (1.0, 2.0 and 3.0 are supported)"
            )))
        }
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            err(format!(
                "truncated header: declares {hlen} bytes, the file has {}",
                bytes.len() - start
            ))
        })?;
    let text = &bytes[start..end];
    if major < 3 && !text.is_ascii() {
        // Latin-1 is allowed by the spec but never needed for the keys we read.
        return Err(err("malformed header: non-ASCII characters"));
    }
    let h = parse_header(text)?;
    let item = h.dtype.size_of();
    let n = h
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(format!("shape {:?} is too large", h.shape)))?;
    let nbytes = n
        .checked_mul(item)
        .ok_or_else(|| err(format!("shape {:?} is too large", h.shape)))?;
    let body = &bytes[end..];
    if body.len() < nbytes {
        return Err(err(format!(
            "truncated data: shape {:?} of {} needs {nbytes} bytes, the file has {}",
            h.shape,
            h.dtype,
            body.len()
        )));
    }
    let body = &body[..nbytes];
    let mut raw: Vec<u8> = if h.fortran && h.shape.len() > 1 {
        fortran_to_c(body, &h.shape, item)
    } else {
        body.to_vec()
    };
    if h.big_endian {
        for c in raw.chunks_exact_mut(item) {
            c.reverse();
        }
    }
    Ok((HostData::from_le_bytes(h.dtype, &raw)?, h.shape))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory,
/// then a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(format!("{} is not a file path", path.display())))?;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io(format!("writing {}: {e}", path.display())));
    }
    Ok(())
}

/// Saves one tensor as a `.npy` file (`numpy.save`).
pub fn save(path: impl AsRef<Path>, t: &Tensor) -> Result<()> {
    write_atomic(path.as_ref(), &to_bytes(t)?)
}

/// Loads a `.npy` file (`numpy.load`).
pub fn load(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|e| Error::Io(format!("reading {}: {e}", path.display())))?;
    from_bytes(&bytes).map_err(|e| match e {
        Error::Io(m) => Error::Io(format!("{m} (in {})", path.display())),
        e => e,
    })
}

/// `.npz` archives: zip files of `.npy` members, one per named tensor
/// (`numpy.savez` / `numpy.savez_compressed` / `numpy.load`).
pub mod npz {
    use super::*;
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    fn write(path: &Path, arrays: &[(&str, &Tensor)], method: CompressionMethod) -> Result<()> {
        let zerr = |e: zip::result::ZipError| err(format!("writing {}: {e}", path.display()));
        let mut seen = std::collections::HashSet::new();
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            for (name, t) in arrays {
                if !seen.insert(*name) {
                    return Err(err(format!("duplicate array name {name:?} in npz")));
                }
                let bytes = to_bytes(t)?;
                let opts = SimpleFileOptions::default()
                    .compression_method(method)
                    .large_file(bytes.len() as u64 >= u32::MAX as u64);
                z.start_file(format!("{name}.npy"), opts).map_err(zerr)?;
                z.write_all(&bytes)?;
            }
            z.finish().map_err(zerr)?;
        }
        write_atomic(path, &buf.into_inner())
    }

    /// Saves named tensors as an uncompressed `.npz` (`numpy.savez`).
    pub fn save(path: impl AsRef<Path>, arrays: &[(&str, &Tensor)]) -> Result<()> {
        write(path.as_ref(), arrays, CompressionMethod::Stored)
    }

    /// Saves named tensors as a deflate-compressed `.npz` (`numpy.savez_compressed`).
    pub fn save_compressed(path: impl AsRef<Path>, arrays: &[(&str, &Tensor)]) -> Result<()> {
        write(path.as_ref(), arrays, CompressionMethod::Deflated)
    }

    /// Loads every array of an `.npz` archive, in archive order, named without the
    /// `.npy` suffix.
    pub fn load(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
        let path = path.as_ref();
        let f = std::fs::File::open(path)
            .map_err(|e| Error::Io(format!("reading {}: {e}", path.display())))?;
        from_reader(f).map_err(|e| match e {
            Error::Io(m) => Error::Io(format!("{m} (in {})", path.display())),
            e => e,
        })
    }

    /// Loads every array of an `.npz` archive held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
        from_reader(std::io::Cursor::new(bytes))
    }

    fn from_reader<R: Read + std::io::Seek>(r: R) -> Result<Vec<(String, Tensor)>> {
        let zerr = |e: zip::result::ZipError| err(format!("not a valid .npz archive: {e}"));
        let mut z = zip::ZipArchive::new(r).map_err(zerr)?;
        let mut out = Vec::with_capacity(z.len().min(1 << 16));
        for i in 0..z.len() {
            let mut f = z.by_index(i).map_err(zerr)?;
            if f.is_dir() {
                continue;
            }
            let name = f.name().to_string();
            let declared = f.size();
            let mut bytes = Vec::new();
            // Never read more than the entry declares (guards against zip bombs).
            (&mut f)
                .take(declared.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| err(format!("reading member {name:?}: {e}")))?;
            if bytes.len() as u64 > declared {
                return Err(err(format!(
                    "member {name:?} is larger than its declared size"
                )));
            }
            let t = super::from_bytes(&bytes).map_err(|e| match e {
                Error::Io(m) => Error::Io(format!("{m} (member {name:?})")),
                e => e,
            })?;
            let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
            out.push((key, t));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_numpy_layout() {
        let h = header(DType::F32, &[2, 3]).unwrap();
        assert_eq!(h.len() % ALIGN, 0);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(text.ends_with(" \n"));
        assert_eq!(shape_repr(&[]), "()");
        assert_eq!(shape_repr(&[5]), "(5,)");
    }

    #[test]
    fn parses_headers() {
        let h =
            parse_header(b"{'descr': '>i2', 'fortran_order': True, 'shape': (3, 4), }").unwrap();
        assert_eq!(h.dtype, DType::I16);
        assert!(h.big_endian && h.fortran);
        assert_eq!(h.shape, vec![3, 4]);
        let h =
            parse_header(b"{\"shape\": (), \"fortran_order\": False, \"descr\": \"|b1\"}").unwrap();
        assert_eq!(h.dtype, DType::Bool);
        assert!(h.shape.is_empty());
        for bad in [
            &b"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"[..],
            b"{'descr': '<f4', 'fortran_order': False, }",
            b"{'descr': '<f4', 'fortran_order': 1, 'shape': (2,), }",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ",
            b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
            b"((((((((((((((((((((((((((((((((((((((((((((((((((",
            b"",
        ] {
            assert!(
                parse_header(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rejects_bad_bytes_without_a_backend() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\x93NUMPZ\x01\x00\x00\x00").is_err());
        assert!(decode(b"\x93NUMPY\x09\x00\x00\x00").is_err());
        // Header length beyond the end.
        assert!(decode(b"\x93NUMPY\x01\x00\xff\x00{}").is_err());
        // A huge declared shape with no data must not allocate.
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let dict =
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000000000), }\n";
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict);
        let e = decode(&b).unwrap_err().to_string();
        assert!(e.contains("too large") || e.contains("truncated"), "{e}");
    }

    #[test]
    fn fortran_reorder() {
        // 2x3 array [[0,1,2],[3,4,5]] in Fortran order is 0,3,1,4,2,5.
        let f: Vec<u8> = vec![0, 3, 1, 4, 2, 5];
        assert_eq!(fortran_to_c(&f, &[2, 3], 1), vec![0, 1, 2, 3, 4, 5]);
    }
}
