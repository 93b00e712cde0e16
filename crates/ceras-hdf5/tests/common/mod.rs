//! Shared test helpers: a minimal JSON parser/writer (no extra dependencies)
//! and conversions between the fixture manifest format (see
//! `tools/h5_fixtures.py`) and `ceras_hdf5` trees.

#![allow(dead_code)]

use ceras_hdf5::{Attr, Dataset, Dtype, Group, Node};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Number, kept as its source text.
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Obj(v) => v.iter().find(|(a, _)| a == k).map(|(_, b)| b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    pub fn as_arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }
    pub fn as_obj(&self) -> &[(String, Json)] {
        match self {
            Json::Obj(v) => v,
            other => panic!("not an object: {other:?}"),
        }
    }
    pub fn num(&self) -> &str {
        match self {
            Json::Num(s) => s,
            other => panic!("not a number: {other:?}"),
        }
    }
}

pub fn parse_json(s: &str) -> Json {
    let b = s.as_bytes();
    let mut p = 0;
    let v = value(b, &mut p);
    ws(b, &mut p);
    assert_eq!(p, b.len(), "trailing JSON");
    v
}

fn ws(b: &[u8], p: &mut usize) {
    while *p < b.len() && b[*p].is_ascii_whitespace() {
        *p += 1;
    }
}

fn value(b: &[u8], p: &mut usize) -> Json {
    ws(b, p);
    match b[*p] {
        b'{' => {
            *p += 1;
            let mut v = Vec::new();
            ws(b, p);
            if b[*p] == b'}' {
                *p += 1;
                return Json::Obj(v);
            }
            loop {
                ws(b, p);
                let Json::Str(k) = value(b, p) else {
                    panic!("key")
                };
                ws(b, p);
                assert_eq!(b[*p], b':');
                *p += 1;
                v.push((k, value(b, p)));
                ws(b, p);
                *p += 1;
                if b[*p - 1] == b'}' {
                    return Json::Obj(v);
                }
            }
        }
        b'[' => {
            *p += 1;
            let mut v = Vec::new();
            ws(b, p);
            if b[*p] == b']' {
                *p += 1;
                return Json::Arr(v);
            }
            loop {
                v.push(value(b, p));
                ws(b, p);
                *p += 1;
                if b[*p - 1] == b']' {
                    return Json::Arr(v);
                }
            }
        }
        b'"' => {
            *p += 1;
            let mut out: Vec<u16> = Vec::new();
            let mut s = String::new();
            loop {
                let c = b[*p];
                if c == b'"' {
                    *p += 1;
                    break;
                }
                if c == b'\\' {
                    let e = b[*p + 1];
                    *p += 2;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let h = std::str::from_utf8(&b[*p..*p + 4]).unwrap();
                            *p += 4;
                            out.push(u16::from_str_radix(h, 16).unwrap());
                            continue;
                        }
                        other => other as char,
                    };
                    flush(&mut out, &mut s);
                    s.push(ch);
                } else {
                    flush(&mut out, &mut s);
                    let len = match c {
                        0..=0x7f => 1,
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    s.push_str(std::str::from_utf8(&b[*p..*p + len]).unwrap());
                    *p += len;
                }
            }
            flush(&mut out, &mut s);
            Json::Str(s)
        }
        b't' => {
            *p += 4;
            Json::Bool(true)
        }
        b'f' => {
            *p += 5;
            Json::Bool(false)
        }
        b'n' => {
            *p += 4;
            Json::Null
        }
        _ => {
            let st = *p;
            while *p < b.len()
                && matches!(
                    b[*p],
                    b'0'..=b'9'
                        | b'-'
                        | b'+'
                        | b'.'
                        | b'e'
                        | b'E'
                        | b'I'
                        | b'n'
                        | b'f'
                        | b'i'
                        | b't'
                        | b'y'
                        | b'N'
                        | b'a'
                )
            {
                *p += 1;
            }
            Json::Num(std::str::from_utf8(&b[st..*p]).unwrap().to_string())
        }
    }
}

fn flush(units: &mut Vec<u16>, s: &mut String) {
    if !units.is_empty() {
        s.push_str(&String::from_utf16(units).unwrap());
        units.clear();
    }
}

pub fn write_json(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => out.push_str(n),
        Json::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Json::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        Json::Obj(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                write_json(&Json::Str(k.clone()), out);
                out.push(':');
                write_json(x, out);
            }
            out.push('}');
        }
    }
}

pub fn dtype_from_code(c: &str) -> Dtype {
    match c {
        "f2" => Dtype::F16,
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "i1" => Dtype::I8,
        "i2" => Dtype::I16,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        "u1" => Dtype::U8,
        "u2" => Dtype::U16,
        "u4" => Dtype::U32,
        "u8" => Dtype::U64,
        s if s.starts_with('S') => Dtype::FixedString(s[1..].parse().unwrap()),
        s if s.starts_with('V') => Dtype::Opaque(s[1..].parse().unwrap()),
        s => panic!("dtype code {s}"),
    }
}

pub fn dtype_code(d: &Dtype) -> String {
    match d {
        Dtype::F16 => "f2".into(),
        Dtype::F32 => "f4".into(),
        Dtype::F64 => "f8".into(),
        Dtype::I8 => "i1".into(),
        Dtype::I16 => "i2".into(),
        Dtype::I32 => "i4".into(),
        Dtype::I64 => "i8".into(),
        Dtype::U8 => "u1".into(),
        Dtype::U16 => "u2".into(),
        Dtype::U32 => "u4".into(),
        Dtype::U64 => "u8".into(),
        Dtype::FixedString(n) => format!("S{n}"),
        Dtype::Opaque(n) => format!("V{n}"),
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attrs_from_json(j: &Json) -> Vec<(String, Attr)> {
    j.as_obj()
        .iter()
        .map(|(k, v)| {
            let val = v.get("v").unwrap();
            let a = match v.get("t").unwrap().as_str() {
                "str" => Attr::Str(val.as_str().to_string()),
                "strlist" => Attr::StrList(
                    val.as_arr()
                        .iter()
                        .map(|x| x.as_str().to_string())
                        .collect(),
                ),
                "f64" => Attr::F64(
                    val.as_arr()
                        .iter()
                        .map(|x| x.num().parse().unwrap())
                        .collect(),
                ),
                "i64" => Attr::I64(
                    val.as_arr()
                        .iter()
                        .map(|x| x.num().parse().unwrap())
                        .collect(),
                ),
                t => panic!("attr type {t}"),
            };
            (k.clone(), a)
        })
        .collect()
}

fn attrs_to_json(attrs: &[(String, Attr)]) -> Json {
    Json::Obj(
        attrs
            .iter()
            .map(|(k, a)| {
                let (t, v) = match a {
                    Attr::Str(s) => ("str", Json::Str(s.clone())),
                    Attr::StrList(v) => (
                        "strlist",
                        Json::Arr(v.iter().map(|s| Json::Str(s.clone())).collect()),
                    ),
                    Attr::F64(v) => (
                        "f64",
                        Json::Arr(v.iter().map(|x| Json::Num(format!("{x:?}"))).collect()),
                    ),
                    Attr::I64(v) => (
                        "i64",
                        Json::Arr(v.iter().map(|x| Json::Num(x.to_string())).collect()),
                    ),
                };
                (
                    k.clone(),
                    Json::Obj(vec![("t".into(), Json::Str(t.into())), ("v".into(), v)]),
                )
            })
            .collect(),
    )
}

/// Builds the tree a manifest entry describes.
pub fn tree_from_manifest(entry: &Json) -> Group {
    let mut root = Group::default();
    let mut groups: Vec<&(String, Json)> = entry.get("groups").unwrap().as_obj().iter().collect();
    groups.sort_by_key(|(p, _)| p.matches('/').count());
    for (p, g) in groups {
        let grp = root.group_mut_or_create(p).unwrap();
        grp.attrs = attrs_from_json(g.get("attrs").unwrap());
    }
    for (p, d) in entry.get("datasets").unwrap().as_obj() {
        let ds = Dataset {
            dtype: dtype_from_code(d.get("dtype").unwrap().as_str()),
            shape: d
                .get("shape")
                .unwrap()
                .as_arr()
                .iter()
                .map(|x| x.num().parse().unwrap())
                .collect(),
            data: hex_decode(d.get("hex").unwrap().as_str()),
            attrs: attrs_from_json(d.get("attrs").unwrap()),
        };
        root.insert_dataset(p, ds).unwrap();
    }
    normalize(&root)
}

/// Describes a tree as a manifest entry (for `tools/h5_fixtures.py --check`).
pub fn manifest_from_tree(root: &Group) -> Json {
    let mut groups = Vec::new();
    let mut datasets = Vec::new();
    fn walk(
        g: &Group,
        path: &str,
        groups: &mut Vec<(String, Json)>,
        datasets: &mut Vec<(String, Json)>,
    ) {
        groups.push((
            if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
            Json::Obj(vec![("attrs".into(), attrs_to_json(&g.attrs))]),
        ));
        for (k, m) in &g.members {
            let p = format!("{path}/{k}");
            match m {
                Node::Group(s) => walk(s, &p, groups, datasets),
                Node::Dataset(d) => datasets.push((
                    p,
                    Json::Obj(vec![
                        ("dtype".into(), Json::Str(dtype_code(&d.dtype))),
                        (
                            "shape".into(),
                            Json::Arr(d.shape.iter().map(|x| Json::Num(x.to_string())).collect()),
                        ),
                        ("hex".into(), Json::Str(hex_encode(&d.data))),
                        ("attrs".into(), attrs_to_json(&d.attrs)),
                    ]),
                )),
            }
        }
    }
    walk(root, "", &mut groups, &mut datasets);
    Json::Obj(vec![
        ("error".into(), Json::Null),
        ("groups".into(), Json::Obj(groups)),
        ("datasets".into(), Json::Obj(datasets)),
    ])
}

/// Sorts members and attributes by name, recursively.
pub fn normalize(g: &Group) -> Group {
    let mut attrs = g.attrs.clone();
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut members: Vec<(String, Node)> = g
        .members
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Node::Group(s) => Node::Group(normalize(s)),
                Node::Dataset(d) => {
                    let mut d = d.clone();
                    d.attrs.sort_by(|a, b| a.0.cmp(&b.0));
                    Node::Dataset(d)
                }
            };
            (k.clone(), v)
        })
        .collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    Group { attrs, members }
}

/// Directory of the committed h5py fixtures.
pub fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
